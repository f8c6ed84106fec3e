package remotewrite

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/flow-telemetry/flow/components/discovery/aws/ec2"
	"github.com/flow-telemetry/flow/components/prometheus/internal/promproc"
	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/components/prometheus/internal/rwtest"
	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

// The seed pipelines in testdata/seed are copies of the project's seed
// examples, unchanged; the tests replace their placeholders (region,
// endpoint URLs, the hosts they scrape) with local values. Both scrape with
// the default 1-minute interval, so each target's first scrape comes within
// a minute.

// readSeed returns a seed pipeline with replacements applied, failing if a
// placeholder is not found (so the seed and the test cannot drift apart).
func readSeed(t *testing.T, name string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/seed/" + name)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	for i := 0; i < len(replace); i += 2 {
		if !strings.Contains(src, replace[i]) {
			t.Fatalf("%s no longer contains %q", name, replace[i])
		}
		src = strings.ReplaceAll(src, replace[i], replace[i+1])
	}
	return src
}

// TestSeedEC2Discovery runs ec2-discovery.river against the fake AWS: EC2
// instances whose private IPs are loopback addresses with a metrics server
// on each, discovered with the credentials' default chain, relabelled
// (instance_id, instance_name), scraped at the seed's odd metrics_path and
// written to a local receiver.
func TestSeedEC2Discovery(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	awstest.SetKeys(t, f.AddUser("discovery"))

	port := promproc.FreePort(t)
	ips := []string{"127.0.0.2", "127.0.0.3"}
	instances := promtest.EC2Fleet(t, f, ips, port, "/techblog/en/metrics")
	// A stopped instance is listed too (the seed filters nothing); it has
	// no server, so its target is simply down.
	instances = append(instances, fakeaws.Instance{ID: "i-00000009", PrivateIP: "127.0.0.9", State: "stopped",
		Tags: []fakeaws.Tag{{Key: "Name", Value: "old"}}})
	f.SetInstances(instances)

	r := rwtest.Start(t)
	src := readSeed(t, "ec2-discovery.river",
		`"<YOUR_AWS_REGION>"`, strconv.Quote(f.Region()),
		`"https://your-metrics-endpoint.com/api/v1/write"`, strconv.Quote(r.URL()),
		// The seed leaves room for more rules; the test's one points the
		// discovered instances (port 80 by default) at the local servers.
		"# ... other relabeling rules", fmt.Sprintf(`rule {
source_labels = ["__address__"]
regex = "([^:]+):[0-9]+"
replacement = "$1:%d"
target_label = "__address__"
}`, port),
	)
	fl := flowtest.Start(t, src)
	for _, id := range []string{"aws.credentials.discovery_creds", "discovery.aws.ec2.ec2_targets", "prometheus.remote_write.default"} {
		fl.WaitHealthy(t, id, 20*time.Second)
	}

	for i, ip := range ips {
		want := promtest.EC2FleetSeries(ips, port, i)
		testwait.Eventually(t, 90*time.Second, func() bool { return len(r.Series(want)) > 0 }, "app_up from %s with the relabelled labels", ip)
		series := r.Series(want)
		ts := r.Timestamps(series[0])
		if v, _ := r.Value(series[0], ts[len(ts)-1]); v != float64(i+1) {
			t.Errorf("%s = %v, want %d", series[0], v, i+1)
		}
		for _, s := range series {
			if strings.Contains(s, "__meta_") {
				t.Errorf("discovery meta labels reached the receiver: %s", s)
			}
		}
	}
	if st := r.Stats(); len(st.SpecViolations) != 0 {
		t.Errorf("spec violations: %v", st.SpecViolations)
	}
	if h := fl.Health("prometheus.scrape.ec2_scrape"); h.Health != component.HealthHealthy {
		t.Errorf("scrape health %s: %s", h.Health, h.Message)
	}
}

// TestSeedMimirSigV4 runs mimir-sigv4.river: flow's aws.credentials (the
// default chain) signs remote writes for an API-Gateway-style endpoint
// (service execute-api) that checks every signature, in front of a local
// receiver; the two scrapes are a stand-in for flow's own metrics and a real
// node exporter.
func TestSeedMimirSigV4(t *testing.T) {
	testwait.Long(t, "the seed's scrapes run at Prometheus' default 1m interval, the first after up to a minute")
	f, _ := awstest.Start(t, fakeaws.Options{})
	awstest.SetKeys(t, f.AddUser("writer"))
	ne := promproc.StartNodeExporter(t)
	agentAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(promproc.FreePort(t)))
	promtest.ServeGauge(t, agentAddr, "/metrics", "agent_build_info", 1)

	r, check := signedReceiver(t, f, "execute-api", f.Region())
	src := readSeed(t, "mimir-sigv4.river",
		`"https://your-mimir-ingress.apigw.<YOUR_AWS_REGION>.amazonaws.com/api/v1/write"`, strconv.Quote(r.URL()),
		`"<YOUR_AWS_REGION>"`, strconv.Quote(f.Region()),
		`"localhost:12345"`, strconv.Quote(agentAddr),
		`"localhost:9100"`, strconv.Quote(ne.Addr),
	)
	fl := flowtest.Start(t, src)
	fl.WaitHealthy(t, "aws.credentials.remote_write_creds", 20*time.Second)

	testwait.Eventually(t, 90*time.Second, func() bool {
		return len(r.Series(map[string]string{"__name__": "agent_build_info", "job": "grafana-agent"})) > 0 &&
			len(r.Series(map[string]string{"__name__": "node_load1", "job": "node_exporter", "instance": ne.Addr})) > 0
	}, "samples of both scrapes through the signature check")
	st := check.Stats()
	if st.Rejected != 0 || st.Accepted == 0 {
		t.Fatalf("signature check: %d accepted, %d rejected (%v)", st.Accepted, st.Rejected, st.LastRejection)
	}
	if h := fl.Health("prometheus.remote_write.mimir"); h.Health != component.HealthHealthy {
		t.Errorf("remote_write health %s: %s", h.Health, h.Message)
	}
	if rs := r.Stats(); len(rs.SpecViolations) != 0 || rs.Duplicates != 0 {
		t.Errorf("receiver: %d duplicates, violations %v", rs.Duplicates, rs.SpecViolations)
	}
}
