package ec2

import (
	"context"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	promaws "github.com/prometheus/prometheus/discovery/aws"
	"github.com/prometheus/prometheus/discovery/targetgroup"

	commonaws "github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/internal/build"
	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/rivertest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

func i32(v int32) *int32 { return &v }

// fleet is a set of instances covering every label Prometheus derives.
func fleet() []fakeaws.Instance {
	return []fakeaws.Instance{
		{ID: "i-0000000000000001", ImageID: "ami-1", InstanceType: "t3.micro", PrivateIP: "10.0.0.1",
			PrivateDNS: "ip-10-0-0-1.ec2.internal", PublicIP: "54.0.0.1", PublicDNS: "ec2-54-0-0-1.compute-1.amazonaws.com",
			AvailabilityZone: "us-east-1a", SubnetID: "subnet-a", VPCID: "vpc-1", Architecture: "x86_64",
			Tags: []fakeaws.Tag{{Key: "Name", Value: "web-1"}, {Key: "team/owner", Value: "obs"}, {Key: "aws:autoscaling:groupName", Value: "asg-web"}},
			NetworkInterfaces: []fakeaws.NetworkInterface{
				{SubnetID: "subnet-a", DeviceIndex: i32(0), IPv6: []fakeaws.IPv6Address{{Address: "2600::1", Primary: true}, {Address: "2600::2"}}},
				{SubnetID: "subnet-b", DeviceIndex: i32(2), IPv6: []fakeaws.IPv6Address{{Address: "2600::3", Primary: true}}},
				{SubnetID: "subnet-a", DeviceIndex: i32(1)},
			}},
		{ID: "i-0000000000000002", ImageID: "ami-2", InstanceType: "m5.large", PrivateIP: "10.0.0.2", PrivateDNS: "ip-10-0-0-2.ec2.internal",
			AvailabilityZone: "us-east-1b", SubnetID: "subnet-b", VPCID: "vpc-1", Platform: "windows", Lifecycle: "spot", Architecture: "arm64",
			Tags: []fakeaws.Tag{{Key: "Name", Value: "web-2"}}},
		// IPv6-only: addressed by its default IPv6 address.
		{ID: "i-0000000000000003", InstanceType: "c6g.medium", AvailabilityZone: "us-east-1c", SubnetID: "subnet-c", VPCID: "vpc-2",
			Tags:              []fakeaws.Tag{{Key: "Name", Value: "db-1"}},
			NetworkInterfaces: []fakeaws.NetworkInterface{{SubnetID: "subnet-c", DeviceIndex: i32(0), IPv6: []fakeaws.IPv6Address{{Address: "2600::9"}}}}},
		// No address at all: skipped.
		{ID: "i-0000000000000004", InstanceType: "t3.nano", State: "stopped"},
		// EC2-Classic style: no VPC, a zone the zone list lacks.
		{ID: "i-0000000000000005", InstanceType: "t2.micro", PrivateIP: "10.0.0.5", AvailabilityZone: "us-east-1z", State: "stopped",
			Tags: []fakeaws.Tag{{Key: "Name", Value: "web-old"}}},
		{ID: "i-0000000000000006", InstanceType: "t3.micro", PrivateIP: "10.0.0.6", OwnerID: "999999999999", ReservationID: "r-shared",
			Tags: []fakeaws.Tag{{Key: "Name", Value: "batch-1"}}},
		{ID: "i-0000000000000007", InstanceType: "t3.micro", PrivateIP: "10.0.0.7", OwnerID: "999999999999", ReservationID: "r-shared"},
	}
}

type harness struct {
	t    *testing.T
	c    *Component
	mu   sync.Mutex
	pubs []Exports
	logs flowproc.LockedBuffer
}

func (h *harness) published() []Exports {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Exports(nil), h.pubs...)
}

// mustHarness is newHarness for arguments that must be accepted.
func mustHarness(t *testing.T, args Arguments) *harness {
	t.Helper()
	h, err := newHarness(t, args)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newHarness(t *testing.T, args Arguments) (*harness, error) {
	t.Helper()
	if err := args.Validate(); err != nil {
		return nil, err
	}
	h := &harness{t: t}
	c, err := New(component.Options{
		ID:     "discovery.aws.ec2.test",
		Logger: slog.New(slog.NewTextHandler(&h.logs, nil)),
		OnStateChange: func(e component.Exports) {
			h.mu.Lock()
			h.pubs = append(h.pubs, e.(Exports))
			h.mu.Unlock()
		},
	}, args)
	if err != nil {
		return nil, err
	}
	h.c = c
	return h, nil
}

func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.c.Run(ctx); close(done) }()
	h.t.Cleanup(func() { cancel(); <-done })
}

func (h *harness) waitRefreshes(n int) {
	h.t.Helper()
	if _, ok := testwait.Poll(20*time.Second, func() bool { return h.c.DebugInfo().(DebugInfo).RefreshCount >= n }); !ok {
		h.t.Fatalf("only %d refreshes; health %+v", h.c.DebugInfo().(DebugInfo).RefreshCount, h.c.CurrentHealth())
	}
}

func defaults() Arguments {
	var a Arguments
	a.SetToDefault()
	return a
}

func userArgs(f *fakeaws.AWS, k *fakeaws.Key) Arguments {
	a := defaults()
	a.Region = f.Region()
	a.AccessKeyID, a.SecretAccessKey = k.AccessKeyID, value.Secret(k.SecretAccessKey)
	return a
}

// TestTargetsMatchPrometheus runs flow's discovery and Prometheus' own EC2
// SD against the same fake fleet (paginated, with zone IDs) and requires
// identical targets.
func TestTargetsMatchPrometheus(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{EC2PageSize: 2})
	f.SetInstances(fleet())
	user := f.AddUser("discovery")

	args := userArgs(f, user)
	args.Port = 9100
	h := mustHarness(t, args)
	h.run()
	h.waitRefreshes(1)
	pubs := h.published()
	ours := pubs[len(pubs)-1].Targets

	cfg := promaws.DefaultEC2SDConfig
	cfg.Region, cfg.Endpoint, cfg.Port = f.Region(), f.EC2.URL, 9100
	cfg.AccessKey, cfg.SecretKey = user.AccessKeyID, promconfig.Secret(user.SecretAccessKey)
	theirs := prometheusTargets(t, &cfg)

	if len(ours) != 6 {
		t.Fatalf("%d targets, want 6 (one instance has no address)", len(ours))
	}
	if !reflect.DeepEqual(sortTargets(ours), sortTargets(theirs)) {
		t.Fatalf("targets differ from Prometheus'\nours:   %v\ntheirs: %v", sortTargets(ours), sortTargets(theirs))
	}
	// Spot-check the formats Prometheus documents.
	web1 := find(t, ours, "i-0000000000000001")
	want := map[string]string{
		"__address__":                              "10.0.0.1:9100",
		"__meta_ec2_ipv6_addresses":                ",2600::1,2600::2,2600::3,",
		"__meta_ec2_primary_ipv6_addresses":        ",2600::1,,2600::3,",
		"__meta_ec2_default_ipv6_address":          "2600::1",
		"__meta_ec2_subnet_id":                     ",subnet-a,subnet-b,",
		"__meta_ec2_primary_subnet_id":             "subnet-a",
		"__meta_ec2_availability_zone_id":          "use1-az1",
		"__meta_ec2_tag_team_owner":                "obs",
		"__meta_ec2_tag_aws_autoscaling_groupName": "asg-web",
		"__meta_ec2_owner_id":                      "123456789012",
		"__meta_ec2_public_dns_name":               "ec2-54-0-0-1.compute-1.amazonaws.com",
		"__meta_ec2_instance_state":                "running",
		"__meta_ec2_region":                        "us-east-1",
	}
	for k, v := range want {
		if web1[k] != v {
			t.Errorf("%s = %q, want %q", k, web1[k], v)
		}
	}
	if got := find(t, ours, "i-0000000000000003")["__address__"]; got != "[2600::9]:9100" {
		t.Errorf("IPv6-only address %q", got)
	}
	if d := h.c.DebugInfo().(DebugInfo); d.Pages != 4 || d.InstanceSeen != 7 || d.Targets != 6 {
		t.Errorf("debug %+v, want 4 pages of 2 over 7 instances", d)
	}
	if hl := h.c.CurrentHealth(); hl.Health != component.HealthHealthy {
		t.Errorf("health %+v", hl)
	}
}

func prometheusTargets(t *testing.T, cfg *promaws.EC2SDConfig) []map[string]string {
	t.Helper()
	refresh := discovery.NewRefreshMetrics(nil)
	d, err := promaws.NewEC2Discovery(cfg, discovery.DiscovererOptions{
		Logger:  slog.New(slog.DiscardHandler),
		Metrics: cfg.NewDiscovererMetrics(nil, refresh),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	up := make(chan []*targetgroup.Group, 1)
	go d.Run(ctx, up)
	var groups []*targetgroup.Group
	select {
	case groups = <-up:
	case <-ctx.Done():
		t.Fatal("Prometheus EC2 SD produced nothing")
	}
	var out []map[string]string
	for _, g := range groups {
		for _, ls := range g.Targets {
			m := map[string]string{}
			for k, v := range ls {
				m[string(k)] = string(v)
			}
			for k, v := range g.Labels {
				if _, ok := m[string(k)]; !ok {
					m[string(k)] = string(v)
				}
			}
			out = append(out, m)
		}
	}
	return out
}

func sortTargets(ts []map[string]string) []map[string]string {
	out := append([]map[string]string(nil), ts...)
	sort.Slice(out, func(i, j int) bool { return out[i][model.AddressLabel] < out[j][model.AddressLabel] })
	return out
}

func find(t *testing.T, ts []map[string]string, id string) map[string]string {
	t.Helper()
	for _, m := range ts {
		if m["__meta_ec2_instance_id"] == id {
			return m
		}
	}
	t.Fatalf("no target for %s", id)
	return nil
}

// TestFilters: both filter spellings reach DescribeInstances and select
// instances by tag wildcard and state.
func TestFilters(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	f.SetInstances(fleet())
	args := userArgs(f, f.AddUser("u"))
	args.Filters = []Filter{{Name: "tag:Name", Values: []string{"web-*"}}}
	args.FilterBlocks = []Filter{{Name: "instance-state-name", Values: []string{"running"}}}
	h := mustHarness(t, args)
	h.run()
	h.waitRefreshes(1)
	pubs := h.published()
	var ids []string
	for _, tg := range pubs[len(pubs)-1].Targets {
		ids = append(ids, tg["__meta_ec2_instance_id"])
	}
	sort.Strings(ids)
	if strings.Join(ids, ",") != "i-0000000000000001,i-0000000000000002" {
		t.Fatalf("filtered targets %v", ids)
	}
	req := f.EC2Calls()[0].Params
	if req.Get("Action") != "DescribeInstances" || len(req["Filter.1.Name"])+len(req["Filter.2.Name"]) != 2 {
		t.Fatalf("request %v", req)
	}
}

// TestDecodeRiver decodes both filter forms, Alloy's key names and the
// seed's credentials block from River.
func TestDecodeRiver(t *testing.T) {
	src := `
region = "eu-west-1"
port = 9100
refresh_interval = "30s"
filters = [
  { name = "tag:Name", values = ["my-app-server*"] },
  { name = "instance-state-name", values = ["running"] },
]
filter {
  name = "vpc-id"
  values = ["vpc-1"]
}
credentials {
  access_key_id = "AKIAEXAMPLE"
  secret_access_key = "secret"
  token = "tok"
}
`
	var args Arguments
	rivertest.Decode(t, src, &args)
	if args.Region != "eu-west-1" || args.Port != 9100 || args.RefreshInterval != 30*time.Second ||
		len(args.Filters) != 2 || args.Filters[0].Values[0] != "my-app-server*" || len(args.FilterBlocks) != 1 ||
		args.Credentials == nil || args.Credentials.Token != "tok" {
		t.Fatalf("decoded %+v", args)
	}
	var alloy Arguments
	rivertest.Decode(t, `
region = "us-east-1"
access_key = "AKIA"
secret_key = "s"
`, &alloy)
	if ca := alloy.credentialsArgs(); ca.AccessKeyID != "AKIA" || ca.SecretAccessKey != "s" || alloy.Port != 80 || alloy.RefreshInterval != time.Minute {
		t.Fatalf("Alloy spelling: %+v", alloy)
	}
	for name := range map[string]bool{"discovery.aws.ec2": true, "discovery.ec2": true} {
		if _, ok := component.Get(name); !ok {
			t.Errorf("%s is not registered", name)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		mut  func(*Arguments)
		want string
	}{
		{func(a *Arguments) { a.Filters = []Filter{{Name: "tag:Name"}} }, "cannot be empty"},
		{func(a *Arguments) { a.FilterBlocks = []Filter{{Values: []string{"x"}}} }, "no name"},
		{func(a *Arguments) { a.Port = 0 }, "port"},
		{func(a *Arguments) { a.RefreshInterval = 0 }, "refresh_interval"},
		{func(a *Arguments) { a.AccessKeyID, a.AccessKey = "a", "b" }, "not both"},
		{func(a *Arguments) { a.SecretAccessKey, a.SecretKey = "a", "b" }, "secret_access_key or Alloy's secret_key, not both"},
		{func(a *Arguments) { a.AccessKey = "a" }, "together"},
		{func(a *Arguments) { a.ExternalID = "x" }, "role_arn"},
		{func(a *Arguments) { a.Endpoint = "ec2.local" }, "must be a URL"},
	} {
		a := defaults()
		c.mut(&a)
		if err := a.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", a, err, c.want)
		}
	}
}

// TestCredentialsBlockRotation: credentials from a credentials block are
// swapped by Update; requests use the newest set, none is rejected or stale.
func TestCredentialsBlockRotation(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	f.SetInstances(fleet())
	block := func(k *fakeaws.Key) *commonaws.StaticCredentials {
		return &commonaws.StaticCredentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: value.Secret(k.SecretAccessKey), Token: value.Secret(k.SessionToken)}
	}
	args := defaults()
	args.Region, args.RefreshInterval = f.Region(), 50*time.Millisecond
	k := f.Issue("arn:aws:sts::123456789012:assumed-role/d/s", 2*time.Second)
	args.Credentials = block(k)
	h := mustHarness(t, args)
	h.run()
	for i := 0; i < 5; i++ {
		h.waitRefreshes(2 * (i + 1))
		k = f.Issue("arn:aws:sts::123456789012:assumed-role/d/s", 2*time.Second)
		args.Credentials = block(k)
		if err := h.c.Update(args); err != nil {
			t.Fatal(err)
		}
	}
	h.waitRefreshes(12)
	if s := f.Stats(); s.Rejected != 0 || s.Stale != 0 {
		t.Fatalf("stats %+v", s)
	}
	if hl := h.c.CurrentHealth(); hl.Health != component.HealthHealthy {
		t.Fatalf("health %+v", hl)
	}

	// An empty block (its aws.credentials has none yet) is reported as such.
	args.Credentials = &commonaws.StaticCredentials{}
	if err := h.c.Update(args); err != nil {
		t.Fatal(err)
	}
	if _, ok := testwait.Poll(20*time.Second, func() bool { return strings.Contains(h.c.CurrentHealth().Message, "credentials block is empty") }); !ok {
		t.Fatalf("health %+v", h.c.CurrentHealth())
	}
}

// TestErrorsKeepTargets: an AWS error makes the component unhealthy with
// the code and hint, and the last good targets stay exported.
func TestErrorsKeepTargets(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	f.SetInstances(fleet())
	user := f.AddUser("u")
	args := userArgs(f, user)
	args.RefreshInterval = 50 * time.Millisecond
	h := mustHarness(t, args)
	h.run()
	h.waitRefreshes(1)
	good := len(h.published())
	f.FailNext("ec2:DescribeInstances", 1000, fakeaws.Error{Status: 403, Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation."})
	if _, ok := testwait.Poll(20*time.Second, func() bool { return h.c.CurrentHealth().Health == component.HealthUnhealthy }); !ok {
		t.Fatal("never unhealthy")
	}
	hl := h.c.CurrentHealth()
	if !strings.Contains(hl.Message, "UnauthorizedOperation") || !strings.Contains(hl.Message, "ec2:DescribeInstances") ||
		!strings.Contains(hl.Message, "keeping the last 6 targets") {
		t.Fatalf("health %s", hl.Message)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(h.published()); n != good {
		t.Fatalf("exports changed while failing (%d → %d publications)", good, n)
	}
	if d := h.c.DebugInfo().(DebugInfo); !strings.Contains(d.LastError, "UnauthorizedOperation") {
		t.Fatalf("debug %+v", d)
	}
	f.ClearFailures()
	if _, ok := testwait.Poll(20*time.Second, func() bool { return h.c.CurrentHealth().Health == component.HealthHealthy }); !ok {
		t.Fatal("never recovered")
	}

	// Bad keys: InvalidClientTokenId, named with its usual cause.
	bad := userArgs(f, &fakeaws.Key{AccessKeyID: "AKIANOTKNOWN00000000", SecretAccessKey: "x"})
	hb := mustHarness(t, bad)
	hb.c.refresh(context.Background())
	if hl := hb.c.CurrentHealth(); !strings.Contains(hl.Message, "InvalidClientTokenId") || !strings.Contains(hl.Message, "rotated") {
		t.Fatalf("health %s", hl.Message)
	}
	if strings.Contains(hb.logs.String(), user.SecretAccessKey) {
		t.Fatal("secret in logs")
	}
}

// TestRegionFromIMDS: without a region the instance metadata service is
// asked; if it cannot answer, Build fails saying to set region.
func TestRegionFromIMDS(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{Region: "eu-west-2"})
	os.Unsetenv("AWS_REGION")
	f.SetInstances(fleet()[:1])
	args := userArgs(f, f.AddUser("u"))
	args.Region = ""
	h := mustHarness(t, args)
	h.c.refresh(context.Background())
	pubs := h.published()
	if got := pubs[len(pubs)-1].Targets; len(got) != 1 || got[0]["__meta_ec2_region"] != "eu-west-2" {
		t.Fatalf("targets %v; health %+v", got, h.c.CurrentHealth())
	}

	f.SetIMDSRegion("")
	_, err := newHarness(t, args)
	if err == nil || !strings.Contains(err.Error(), "set region") || !strings.Contains(err.Error(), "instance metadata") {
		t.Fatalf("no region: %v", err)
	}
}

// TestRoleARN: discovery assuming a role itself, over environment keys.
func TestRoleARN(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	f.SetInstances(fleet())
	awstest.SetKeys(t, f.AddUser("base"))
	role := f.RoleARN("ec2-discovery")
	f.AddRole(fakeaws.Role{ARN: role, ExternalID: "xid"})
	args := defaults()
	args.Region, args.RoleARN, args.ExternalID = f.Region(), role, "xid"
	h := mustHarness(t, args)
	h.c.refresh(context.Background())
	if hl := h.c.CurrentHealth(); hl.Health != component.HealthHealthy {
		t.Fatalf("health %+v", hl)
	}
	if s := f.Stats(); s.ByAction["sts:AssumeRole"] != 1 || s.ByAction["ec2:DescribeInstances"] < 1 {
		t.Fatalf("stats %+v", s)
	}
	// Both AWS APIs see the SDK's User-Agent with flow's version added.
	for _, server := range []string{"sts", "ec2"} {
		uas := f.UserAgents(server)
		if len(uas) == 0 {
			t.Fatalf("%s received no request", server)
		}
		for _, ua := range uas {
			if !strings.HasPrefix(ua, "aws-sdk-go-v2/") || !slices.Contains(strings.Fields(ua), build.UserAgent()) {
				t.Fatalf("%s: User-Agent %q: want the SDK's with the token %q", server, ua, build.UserAgent())
			}
		}
	}
}
