package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// TestStandalone starts the process's servers, exports what it prints and
// uses the real SDK as a user would: the demo keys, a role of the seeds,
// the demo instances, the instance profile through IMDS.
func TestStandalone(t *testing.T) {
	awstest.Isolate(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"-instances", "4", "-stats-interval", "0"}, pw, io.Discard)
		pw.Close()
	}()

	env := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if kv, ok := strings.CutPrefix(line, "export "); ok && strings.HasPrefix(kv, "AWS_") {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		if strings.HasPrefix(line, "# Assumable role:") {
			break // the last block of output
		}
	}
	go io.Copy(io.Discard, pr)
	for _, k := range []string{"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_EC2", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if env[k] == "" {
			t.Fatalf("%s not printed; got %v", k, env)
		}
		t.Setenv(k, env[k])
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "")

	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || !strings.HasSuffix(awssdk.ToString(id.Arn), ":user/demo") {
		t.Fatalf("caller %v, %v", id, err)
	}
	roleCfg := cfg.Copy()
	roleCfg.Credentials = awssdk.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg),
		"arn:aws:iam::123456789012:role/YourEC2DiscoveryRole"))
	out, err := ec2.NewFromConfig(roleCfg).DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: awssdk.Int32(10)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range out.Reservations {
		n += len(r.Instances)
	}
	if n != 4 {
		t.Fatalf("%d demo instances", n)
	}

	// Without keys, the default chain reaches the instance profile via IMDS.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	imdsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := imdsCfg.Credentials.Retrieve(ctx)
	if err != nil || creds.Source != "EC2RoleProvider" {
		t.Fatalf("IMDS credentials %q, %v", creds.Source, err)
	}

	cancel()
	if code := testwait.Receive(t, 30*time.Second, done, "did not stop"); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
