package migration

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/tools/txtar"

	_ "github.com/flow-telemetry/flow/components/all"
	"github.com/flow-telemetry/flow/components/prometheus/internal/promproc"
	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/components/prometheus/internal/rwtest"
	"github.com/flow-telemetry/flow/internal/converter"
	"github.com/flow-telemetry/flow/internal/converter/diag"
	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

// seedYAML returns a seed static-mode file from the converter's golden
// archives with replacements applied, failing if one is not found (so the
// seed and the test cannot drift apart).
func seedYAML(t *testing.T, name string, replace ...string) string {
	t.Helper()
	ar, err := txtar.ParseFile(filepath.Join("..", "..", "..", "internal", "converter", "testdata", "static", name+".txtar"))
	if err != nil {
		t.Fatal(err)
	}
	var src string
	for _, f := range ar.Files {
		if f.Name == "in.yaml" {
			src = string(f.Data)
		}
	}
	for i := 0; i < len(replace); i += 2 {
		if !strings.Contains(src, replace[i]) {
			t.Fatalf("%s no longer contains %q", name, replace[i])
		}
		src = strings.ReplaceAll(src, replace[i], replace[i+1])
	}
	return src
}

// convertStatic converts static-mode YAML as `flow convert
// --source-format=static` does, failing on any error diagnostic.
func convertStatic(t *testing.T, yml string) string {
	t.Helper()
	out, diags := converter.Convert("static", "seed.yaml", []byte(yml))
	if diags.Has(diag.Error) || out == nil {
		t.Fatalf("conversion failed:\n%s", diags.Error())
	}
	return string(out)
}

// TestSeedEC2DiscoveryConverted converts the seed's ec2-discovery.yaml (EC2
// discovery signed through the article's http_client_config.aws_sigv4,
// relabelling, send_start_timestamp) and runs it against the fake AWS:
// instances discovered with the credential chain, scraped, relabelled and
// written to a local receiver.
func TestSeedEC2DiscoveryConverted(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	awstest.SetKeys(t, f.AddUser("discovery"))
	port := promproc.FreePort(t)
	ips := []string{"127.0.0.2", "127.0.0.3"}
	promtest.EC2Fleet(t, f, ips, port, "/metrics")
	r := rwtest.Start(t)
	river := convertStatic(t, seedYAML(t, "seed_ec2_discovery",
		"<YOUR_AWS_REGION>", f.Region(),
		"port: 9100", fmt.Sprintf("port: %d", port),
		"https://your-prometheus-remote-write-endpoint.com/api/v1/write", r.URL(),
	))
	// The seed scrapes every minute; the test's patience is shorter.
	river = strings.Replace(river, `job_name   = "ec2_instances"`, `job_name   = "ec2_instances"
	scrape_interval = "1s"
	scrape_timeout = "1s"`, 1)
	fl := flowtest.Start(t, river)
	fl.WaitHealthy(t, "discovery.aws.ec2.metrics_default_ec2_instances", 30*time.Second)
	for i, ip := range ips {
		want := promtest.EC2FleetSeries(ips, port, i)
		testwait.Eventually(t, 90*time.Second, func() bool { return len(r.Series(want)) > 0 }, "app_up from %s with the relabelled labels", ip)
	}
	if st := r.Stats(); len(st.SpecViolations) != 0 {
		t.Errorf("spec violations: %v", st.SpecViolations)
	}
}

// TestSeedMimirAndLokiConverted converts the seed's mimir-and-loki-sigv4.yaml
// (remote write signed through http_client_config.aws_sigv4 with an empty
// region, a Loki client signed with aws_sigv4, a log file source) and runs
// it: metrics reach a receiver and log lines reach a fake Loki, both behind
// SigV4 checks for execute-api.
func TestSeedMimirAndLokiConverted(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	awstest.SetKeys(t, f.AddUser("writer"))

	r := rwtest.Start(t)
	var metricsCheck *fakeaws.SigV4Handler
	r.Wrap(func(next http.Handler) http.Handler {
		metricsCheck = f.RequireSigV4(next, "execute-api", f.Region())
		return metricsCheck
	})
	var logsCheck *fakeaws.SigV4Handler
	loki, err := fakeloki.Start(fakeloki.Options{Wrap: func(next http.Handler) http.Handler {
		logsCheck = f.RequireSigV4(next, "execute-api", f.Region())
		return logsCheck
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(loki.Close)

	agentAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(promproc.FreePort(t)))
	promtest.ServeGauge(t, agentAddr, "/metrics", "agent_build_info", 1)
	logDir := t.TempDir()
	logFile := filepath.Join(logDir, "app.log")
	if err := os.WriteFile(logFile, []byte("first line\nsecond line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	river := convertStatic(t, seedYAML(t, "seed_mimir_and_loki_sigv4",
		"https://your-aws-protected-mimir-endpoint.com/api/v1/push", r.URL(),
		"https://your-aws-protected-loki-endpoint.com/loki/api/v1/push", loki.URL(),
		"<YOUR_AWS_REGION>", f.Region(),
		"localhost:12345", agentAddr,
		"/var/log/app/*.log", filepath.Join(logDir, "*.log"),
	))
	river = strings.Replace(river, `job_name   = "agent_internal"`, `job_name   = "agent_internal"
	scrape_interval = "1s"
	scrape_timeout = "1s"`, 1)
	fl := flowtest.Start(t, river)

	testwait.Eventually(t, 90*time.Second, func() bool {
		return len(r.Series(map[string]string{"__name__": "agent_build_info", "job": "agent_internal"})) > 0
	}, "agent_build_info through the metrics signature check")
	if err := loki.WaitForEntries(2, 90*time.Second); err != nil {
		t.Fatalf("log lines through the Loki signature check: %v; loki.source.file health: %+v", err,
			fl.Health("loki.source.file.logs_application_logs_app_logs"))
	}
	var lines []string
	for _, e := range loki.Entries() {
		lines = append(lines, e.Line)
		if e.Tenant != "single-tenant" || e.Labels["job"] != "application_logs" || string(e.Labels["filename"]) != logFile {
			t.Errorf("entry %q: tenant %q, labels %v", e.Line, e.Tenant, e.Labels)
		}
	}
	if strings.Join(lines, "|") != "first line|second line" {
		t.Errorf("lines %q", lines)
	}
	for name, c := range map[string]*fakeaws.SigV4Handler{"metrics": metricsCheck, "logs": logsCheck} {
		if st := c.Stats(); st.Rejected != 0 || st.Accepted == 0 {
			t.Errorf("%s signature check: %d accepted, %d rejected (%v)", name, st.Accepted, st.Rejected, st.LastRejection)
		}
	}
}
