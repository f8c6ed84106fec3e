package ec2

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"

	_ "github.com/flow-telemetry/flow/components/aws/credentials"
)

// TestPipelineRotations is issue 3's "done when": aws.credentials assuming a
// role whose credentials last 3 seconds feeds discovery.aws.ec2 through the
// runtime. Over at least 50 rotations (5 with -short) the fake sees no
// rejected signature and no request signed with superseded credentials,
// every refresh lists all the matching instances, and both components stay
// healthy throughout.
func TestPipelineRotations(t *testing.T) {
	rotations := 50
	if testing.Short() {
		rotations = 5
	}
	f, _, role := awstest.StartWithRole(t, fakeaws.Options{CredentialLifetime: 3 * time.Second, EC2PageSize: 2}, "agent", "EC2Discovery", "flow-demo")
	f.SetInstances(fleet())
	const wantInstances = 3 // running web-* instances: i-1, i-2 (and i-5 is stopped)

	src := fmt.Sprintf(`
aws.credentials "discovery_creds" {
  role_arn    = %q
  external_id = "flow-demo"
}

discovery.aws.ec2 "ec2_targets" {
  region           = aws.credentials.discovery_creds.region
  refresh_interval = "250ms"
  port             = 9100
  credentials {
    access_key_id     = aws.credentials.discovery_creds.access_key_id
    secret_access_key = aws.credentials.discovery_creds.secret_access_key
    token             = aws.credentials.discovery_creds.token
  }
  filters = [
    { name = "tag:Name", values = ["web-*", "db-*"] },
    { name = "instance-state-name", values = ["running"] },
  ]
}
`, role)
	fl := flowtest.Start(t, src)
	const credsID, discID = "aws.credentials.discovery_creds", "discovery.aws.ec2.ec2_targets"
	fl.WaitHealthy(t, credsID, 10*time.Second)
	fl.WaitHealthy(t, discID, 10*time.Second)

	timeout := time.Duration(rotations)*2*time.Second + 30*time.Second
	if _, ok := testwait.Poll(timeout, func() bool {
		for _, id := range []string{credsID, discID} {
			if h := fl.Health(id); h.Health != component.HealthHealthy {
				t.Fatalf("%s became %s: %s", id, h.Health, h.Message)
			}
		}
		if s := f.Stats(); s.Rejected != 0 || s.Stale != 0 {
			t.Fatalf("fake stats %+v", s)
		}
		return f.Stats().ByAction["sts:AssumeRole"] >= int64(rotations)+1
	}); !ok {
		t.Fatalf("only %d AssumeRole calls in %v", f.Stats().ByAction["sts:AssumeRole"], timeout)
	}
	// One more refresh with the last credentials.
	time.Sleep(500 * time.Millisecond)

	s := f.Stats()
	if s.Rejected != 0 || s.Stale != 0 {
		t.Fatalf("rejected %d (%v, last %q), stale %d", s.Rejected, s.RejectedByCode, s.LastRejection, s.Stale)
	}
	calls := f.EC2Calls()
	listings, keys := 0, map[string]bool{}
	for i := 0; i < len(calls); {
		if !calls[i].FirstPage {
			t.Fatalf("call %d continues a listing that never started", i)
		}
		n := calls[i].Returned
		keys[calls[i].AccessKeyID] = true
		j := i + 1
		for ; j < len(calls) && !calls[j].FirstPage; j++ {
			n += calls[j].Returned
			keys[calls[j].AccessKeyID] = true
		}
		if j == len(calls) && calls[j-1].Params.Get("NextToken") != "" && n < wantInstances {
			break // the last listing may still be running
		}
		if n != wantInstances {
			t.Fatalf("listing %d (calls %d..%d) found %d instances, want %d", listings, i, j-1, n, wantInstances)
		}
		listings++
		i = j
	}
	if listings < 2*rotations {
		t.Fatalf("only %d refreshes over %d rotations", listings, rotations)
	}
	// Discovery signed with (nearly) every set the rotation produced.
	if len(keys) < rotations {
		t.Fatalf("discovery used %d credential sets over %d rotations", len(keys), rotations)
	}
	exp := fl.Exports(discID).(Exports)
	if len(exp.Targets) != wantInstances {
		t.Fatalf("exported %d targets", len(exp.Targets))
	}
	t.Logf("%d rotations, %d refreshes, %d DescribeInstances calls with %d credential sets, %d accepted, 0 rejected, 0 stale",
		s.ByAction["sts:AssumeRole"]-1, listings, len(calls), len(keys), s.Accepted)
}

// TestSeedValidates checks the seed pipeline (testdata/ec2-discovery.river,
// copied from the project's seed examples) against flow's validation with
// this components: every error must be an unknown component of the
// Prometheus issue (relabel, scrape, remote write) when those are not
// linked in; nothing may concern aws.credentials or discovery.aws.ec2.
func TestSeedValidates(t *testing.T) {
	awstest.Isolate(t)
	src, err := os.ReadFile("testdata/ec2-discovery.river")
	if err != nil {
		t.Fatal(err)
	}
	rt := runtime.New(runtime.Options{DataPath: t.TempDir()})
	diags := rt.Validate(map[string][]byte{"ec2-discovery.river": src})
	lines := strings.Split(string(src), "\n")
	ours := regexp.MustCompile(`^(aws\.credentials|discovery\.aws\.ec2) "`)
	ourBlock := func(line int) bool {
		for l := line - 1; l >= 0; l-- {
			if m := regexp.MustCompile(`^[a-z_.]+ "`).FindString(lines[l]); m != "" {
				return ours.MatchString(lines[l])
			}
		}
		return false
	}
	for _, d := range diags {
		where := 0
		if d.Subject != nil {
			where = d.Subject.Start.Line
		}
		if where == 0 || ourBlock(where) {
			t.Errorf("diagnostic about this issue's components: %s: %s (line %d)", d.Summary, d.Detail, where)
			continue
		}
		name := strings.Fields(lines[where-1])[0]
		if !strings.Contains(d.Summary+d.Detail, "unknown component") {
			t.Errorf("unexpected diagnostic at line %d: %s: %s", where, d.Summary, d.Detail)
		}
		if _, ok := component.Get(name); ok {
			t.Errorf("%s is registered but reported: %s", name, d.Summary)
		}
	}
	if len(diags) != 3 {
		t.Errorf("%d diagnostics, want the 3 unknown Prometheus components: %v", len(diags), diags)
	}

	// Validation cannot decode discovery.aws.ec2 while aws.credentials'
	// exports are unknown, so also run the seed's AWS part for real
	// against the fake, with its region placeholder filled in and the
	// default chain (environment keys) behind aws.credentials.
	f, _ := awstest.Start(t, fakeaws.Options{})
	f.SetInstances(fleet())
	awstest.SetKeys(t, f.AddUser("seed"))
	awsPart, _, ok := strings.Cut(string(src), "# 3. Relabel")
	if !ok {
		t.Fatal("seed layout changed: no step 3")
	}
	awsPart = strings.ReplaceAll(awsPart, "<YOUR_AWS_REGION>", f.Region())
	fl := flowtest.Start(t, awsPart)
	fl.WaitHealthy(t, "aws.credentials.discovery_creds", 10*time.Second)
	fl.WaitHealthy(t, "discovery.aws.ec2.ec2_targets", 10*time.Second)
	testwait.Eventually(t, 10*time.Second, func() bool {
		e, _ := fl.Exports("discovery.aws.ec2.ec2_targets").(Exports)
		return len(e.Targets) == 6
	}, "the seed's discovery finds the fleet")

	// Its commented-out filters, enabled with an empty value list, are
	// reported at the block.
	broken := strings.Replace(awsPart, "# filters = [", "filters = [{ name = \"tag:Name\", values = [] }]\n# filters = [", 1)
	err = fl.Reload(broken)
	if err == nil || !strings.Contains(err.Error(), "cannot be empty") {
		t.Fatalf("an empty filter in the seed was not reported: %v", err)
	}
	// The seed's filters, enabled.
	enabled := regexp.MustCompile(`(?m)^# (filters = \[|\{|name = |values = |\},|\}|\])`).ReplaceAllString(awsPart, "$1")
	if strings.Contains(enabled, "# name") || !strings.Contains(enabled, "\nfilters = [") {
		t.Fatalf("could not enable the seed's filters:\n%s", enabled)
	}
	// As written, the seed's objects lack the commas between their items,
	// which Alloy refuses too: the error says where and what to add.
	err = fl.Reload(enabled)
	if err == nil || !strings.Contains(err.Error(), `missing ","`) || !strings.Contains(err.Error(), `after the value of "name"`) {
		t.Fatalf("seed filters without commas: %v", err)
	}
	enabled = regexp.MustCompile(`(?m)^(name = .*|\{ *name = .*)$`).ReplaceAllString(enabled, "$1,")
	f.SetInstances(append(fleet(), fakeaws.Instance{ID: "i-00000000000000aa", InstanceType: "t3.small", PrivateIP: "10.9.9.9",
		Tags: []fakeaws.Tag{{Key: "Name", Value: "my-app-server-7"}}}))
	if err := fl.Reload(enabled); err != nil {
		t.Fatalf("seed with its filters enabled and the commas added: %v\n%s", err, enabled)
	}
	testwait.Eventually(t, 10*time.Second, func() bool {
		e, _ := fl.Exports("discovery.aws.ec2.ec2_targets").(Exports)
		return len(e.Targets) == 1 && e.Targets[0]["__meta_ec2_tag_Name"] == "my-app-server-7"
	}, "the seed's filters select my-app-server* only")
}
