package fakeaws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func stsClient(f *AWS, k *Key) *sts.Client {
	return sts.New(sts.Options{
		Region:       f.Region(),
		BaseEndpoint: awssdk.String(f.STS.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, k.SessionToken),
		Retryer:      aws0Retries(),
	})
}

func ec2Client(f *AWS, k *Key, region string) *ec2.Client {
	return ec2.New(ec2.Options{
		Region:       region,
		BaseEndpoint: awssdk.String(f.EC2.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, k.SessionToken),
		Retryer:      aws0Retries(),
	})
}

// aws0Retries makes each call one request, so counters are exact.
func aws0Retries() awssdk.Retryer { return retry.AddWithMaxAttempts(retry.NewStandard(), 1) }

func code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// TestRejections: every way a signature can be wrong gets AWS's code, and
// is counted.
func TestRejections(t *testing.T) {
	f := Start(Options{})
	defer f.Close()
	ctx := context.Background()
	user := f.AddUser("u")

	if _, err := stsClient(f, user).GetCallerIdentity(ctx, nil); err != nil {
		t.Fatalf("valid request rejected: %v", err)
	}
	unknown := &Key{AccessKeyID: "AKIAUNKNOWN000000000", SecretAccessKey: "x"}
	wrongSecret := &Key{AccessKeyID: user.AccessKeyID, SecretAccessKey: "wrong"}
	temp := f.Issue("arn:aws:sts::123456789012:assumed-role/r/s", time.Hour)
	noToken := &Key{AccessKeyID: temp.AccessKeyID, SecretAccessKey: temp.SecretAccessKey}
	expired := f.Issue("arn:aws:sts::123456789012:assumed-role/r/old", 10*time.Millisecond)
	time.Sleep(30 * time.Millisecond)

	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"unknown key", call(stsClient(f, unknown)), "InvalidClientTokenId"},
		{"wrong secret", call(stsClient(f, wrongSecret)), "SignatureDoesNotMatch"},
		{"temporary key without its token", call(stsClient(f, noToken)), "InvalidClientTokenId"},
		{"expired", call(stsClient(f, expired)), "ExpiredToken"},
		{"wrong region", func() error {
			_, err := ec2Client(f, user, "eu-west-1").DescribeInstances(ctx, nil)
			return err
		}(), "SignatureDoesNotMatch"},
	} {
		if got := code(c.err); got != c.want {
			t.Errorf("%s: %v, want %s", c.name, c.err, c.want)
		}
	}

	// Clock skew and an unsigned request, by hand.
	req, _ := http.NewRequest(http.MethodPost, f.STS.URL, strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	signer := v4.NewSigner()
	if err := signer.SignHTTP(ctx, awssdk.Credentials{AccessKeyID: user.AccessKeyID, SecretAccessKey: user.SecretAccessKey}, req,
		sha("Action=GetCallerIdentity&Version=2011-06-15"), "sts", f.Region(), time.Now().Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if body := do(t, req); !strings.Contains(body, "RequestTimeTooSkewed") {
		t.Errorf("skewed: %s", body)
	}
	req, _ = http.NewRequest(http.MethodPost, f.STS.URL, strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
	if body := do(t, req); !strings.Contains(body, "MissingAuthenticationToken") {
		t.Errorf("unsigned: %s", body)
	}

	s := f.Stats()
	if s.Accepted != 1 || s.Rejected != 7 || s.RejectedByCode["InvalidClientTokenId"] != 2 || s.RejectedByCode["SignatureDoesNotMatch"] != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func call(c *sts.Client) error {
	_, err := c.GetCallerIdentity(context.Background(), nil)
	return err
}

func do(t *testing.T, req *http.Request) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Status + " " + string(b)
}

func sha(s string) string { return hashHex([]byte(s)) }

// TestAssumeRoleAndStale: AssumeRole checks the role, its trust policy and
// external ID; each new session supersedes the previous one, and using a
// superseded set after the grace period counts as stale.
func TestAssumeRoleAndStale(t *testing.T) {
	// The fake's clock is the wall clock plus offset, which the test moves
	// past the grace period: with a wall-clock grace, a slow machine could
	// take longer than the grace between issuing the second set and the
	// "within grace" call, and count that call stale.
	var offset atomic.Int64
	const grace = time.Minute // well under MaxSkew (5m), so signatures stay valid
	f := Start(Options{StaleGrace: grace, Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	defer f.Close()
	ctx := context.Background()
	user, other := f.AddUser("u"), f.AddUser("other")
	role := f.RoleARN("r")
	f.AddRole(Role{ARN: role, ExternalID: "ext", TrustedPrincipals: []string{user.Principal}, Deny: []string{"ec2:DescribeAvailabilityZones"}})

	assume := func(k *Key, ext string) (*Key, error) {
		in := &sts.AssumeRoleInput{RoleArn: awssdk.String(role), RoleSessionName: awssdk.String("sess")}
		if ext != "" {
			in.ExternalId = awssdk.String(ext)
		}
		out, err := stsClient(f, k).AssumeRole(ctx, in)
		if err != nil {
			return nil, err
		}
		c := out.Credentials
		return &Key{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}, nil
	}
	if _, err := assume(user, "wrong"); code(err) != "AccessDenied" {
		t.Fatalf("wrong external id: %v", err)
	}
	if _, err := assume(other, "ext"); code(err) != "AccessDenied" {
		t.Fatalf("untrusted principal: %v", err)
	}
	first, err := assume(user, "ext")
	if err != nil {
		t.Fatal(err)
	}
	out, err := stsClient(f, first).GetCallerIdentity(ctx, nil)
	if err != nil || *out.Arn != "arn:aws:sts::123456789012:assumed-role/r/sess" {
		t.Fatalf("caller %v %v", out, err)
	}
	if _, err := ec2Client(f, first, f.Region()).DescribeAvailabilityZones(ctx, nil); code(err) != "UnauthorizedOperation" {
		t.Fatalf("denied action: %v", err)
	}
	second, err := assume(user, "ext")
	if err != nil {
		t.Fatal(err)
	}
	// Within the grace period the old set is not stale yet; after it, it is.
	if err := call(stsClient(f, first)); err != nil {
		t.Fatal(err)
	}
	if s := f.Stats(); s.Stale != 0 {
		t.Fatalf("stale within grace: %+v", s)
	}
	offset.Store(int64(2 * grace))
	if err := call(stsClient(f, first)); err != nil {
		t.Fatal(err)
	}
	if err := call(stsClient(f, second)); err != nil {
		t.Fatal(err)
	}
	if s := f.Stats(); s.Stale != 1 {
		t.Fatalf("stale after grace: %+v", s)
	}
}

// TestEC2PaginationAndFilters: NextToken pages, wildcards, states, bad
// tokens and unknown filters.
func TestEC2PaginationAndFilters(t *testing.T) {
	f := Start(Options{EC2PageSize: 2})
	defer f.Close()
	ctx := context.Background()
	user := f.AddUser("u")
	var in []Instance
	for i, name := range []string{"web-a", "web-b", "web-c", "db-a", "webserver", "web?x"} {
		state := "running"
		if i == 1 {
			state = "stopped"
		}
		in = append(in, Instance{ID: "i-" + name, InstanceType: "t3.micro", State: state, PrivateIP: "10.0.0.1",
			Tags: []Tag{{Key: "Name", Value: name}}})
	}
	f.SetInstances(in)
	list := func(filters ...ec2types.Filter) ([]string, int, error) {
		var ids []string
		pages := 0
		p := ec2.NewDescribeInstancesPaginator(ec2Client(f, user, f.Region()), &ec2.DescribeInstancesInput{Filters: filters})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, pages, err
			}
			pages++
			for _, r := range out.Reservations {
				for _, i := range r.Instances {
					ids = append(ids, *i.InstanceId)
				}
			}
		}
		return ids, pages, nil
	}
	ids, pages, err := list()
	if err != nil || len(ids) != 6 || pages != 3 {
		t.Fatalf("all: %v pages %d err %v", ids, pages, err)
	}
	ids, _, err = list(ec2types.Filter{Name: awssdk.String("tag:Name"), Values: []string{"web-*"}},
		ec2types.Filter{Name: awssdk.String("instance-state-name"), Values: []string{"running"}})
	if err != nil || strings.Join(ids, ",") != "i-web-a,i-web-c" {
		t.Fatalf("filtered: %v %v", ids, err)
	}
	ids, _, _ = list(ec2types.Filter{Name: awssdk.String("tag:Name"), Values: []string{"web??", "db-*"}})
	if strings.Join(ids, ",") != "i-web-a,i-web-b,i-web-c,i-db-a,i-web?x" {
		t.Fatalf("? wildcard: %v", ids)
	}
	if _, _, err := list(ec2types.Filter{Name: awssdk.String("no-such-filter"), Values: []string{"x"}}); code(err) != "InvalidParameterValue" {
		t.Fatalf("unknown filter: %v", err)
	}
	_, err = ec2Client(f, user, f.Region()).DescribeInstances(ctx, &ec2.DescribeInstancesInput{NextToken: awssdk.String("garbage")})
	if code(err) != "InvalidParameterValue" {
		t.Fatalf("bad token: %v", err)
	}
	out, err := ec2Client(f, user, f.Region()).DescribeAvailabilityZones(ctx, nil)
	if err != nil || len(out.AvailabilityZones) != 3 || *out.AvailabilityZones[0].ZoneId != "use1-az1" {
		t.Fatalf("zones %v %v", out, err)
	}
}

// TestIMDSv2: no token, no data; with one, the instance profile's
// credentials, refreshed before they expire, and the region.
func TestIMDSv2(t *testing.T) {
	f := Start(Options{CredentialLifetime: 300 * time.Millisecond})
	defer f.Close()
	ctx := context.Background()
	f.AddRole(Role{ARN: f.RoleARN("ec2-role")})

	resp, err := http.Get(f.IMDS.URL + "/latest/meta-data/iam/security-credentials/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("IMDSv1 request: %d", resp.StatusCode)
	}

	client := imds.New(imds.Options{Endpoint: f.IMDS.URL})
	if _, err := client.GetMetadata(ctx, &imds.GetMetadataInput{Path: "iam/security-credentials/"}); err == nil {
		t.Fatal("a role was listed on an instance without one")
	}
	f.SetInstanceProfile("ec2-role")
	get := func() string {
		out, err := client.GetMetadata(ctx, &imds.GetMetadataInput{Path: "iam/security-credentials/ec2-role"})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(out.Content)
		return string(b)
	}
	a, b := get(), get()
	if a != b || !strings.Contains(a, `"Code":"Success"`) {
		t.Fatalf("credentials changed within their lifetime:\n%s\n%s", a, b)
	}
	time.Sleep(150 * time.Millisecond)
	if c := get(); c == a {
		t.Fatal("credentials not rotated after a third of their lifetime")
	}
	region, err := client.GetRegion(ctx, nil)
	if err != nil || region.Region != "us-east-1" {
		t.Fatalf("region %v %v", region, err)
	}
}

// TestWebIdentity: unsigned AssumeRoleWithWebIdentity with a known token.
func TestWebIdentity(t *testing.T) {
	f := Start(Options{})
	defer f.Close()
	role := f.RoleARN("irsa")
	f.AddRole(Role{ARN: role})
	f.AddWebIdentityToken("good-token", role)
	client := sts.New(sts.Options{Region: f.Region(), BaseEndpoint: awssdk.String(f.STS.URL), Retryer: aws0Retries()})
	in := &sts.AssumeRoleWithWebIdentityInput{RoleArn: awssdk.String(role), RoleSessionName: awssdk.String("pod"), WebIdentityToken: awssdk.String("good-token")}
	out, err := client.AssumeRoleWithWebIdentity(context.Background(), in)
	if err != nil || !strings.HasPrefix(*out.Credentials.AccessKeyId, "ASIA") {
		t.Fatalf("%v %v", out, err)
	}
	in.WebIdentityToken = awssdk.String("bad")
	if _, err := client.AssumeRoleWithWebIdentity(context.Background(), in); code(err) != "InvalidIdentityToken" {
		t.Fatalf("bad token: %v", err)
	}
}

// TestRequireSigV4Standalone: the package-level check with its own key.
func TestRequireSigV4Standalone(t *testing.T) {
	h := RequireSigV4(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}), "aps", "us-west-2")
	srv := newServer(h)
	defer srv.Close()
	body := "remote write payload"
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/write", strings.NewReader(body))
	k := h.Key()
	if err := v4.NewSigner().SignHTTP(context.Background(), awssdk.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey},
		req, sha(body), "aps", "us-west-2", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := do(t, req); got != "200 OK "+body {
		t.Fatalf("got %q", got)
	}
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/api/v1/write", strings.NewReader(body))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+k.AccessKeyID+"/20200101/us-west-2/aps/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	req.Header.Set("X-Amz-Date", FormatAmzDate(time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "SignatureDoesNotMatch" {
		t.Fatalf("forged: %d %v", resp.StatusCode, resp.Header)
	}
	if s := h.Stats(); s.Accepted != 1 || s.Rejected != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func newServer(h http.Handler) *httptest.Server { return httptest.NewServer(h) }
