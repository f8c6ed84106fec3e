package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/childproc"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
)

// Argument errors behind references (issue 14): `flow validate` evaluates a
// component whose arguments reference components that have not run with
// placeholders of the right type, so the component's own checks run;
// `flow run` refuses to start a component whose arguments are invalid with
// its dependencies' real values; a reload that `flow validate` would refuse
// is rejected with the running config untouched.

// runBinary runs the built flow binary with args and returns its exit code
// and stderr.
func runBinary(t *testing.T, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	cmd := childproc.Command(flowproc.Build(t), args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), stdout.String() + stderr.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, stdout.String() + stderr.String()
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("flow %s still running after %s:\n%s", strings.Join(args, " "), timeout, stderr.String())
		return 0, ""
	}
}

const scrapeBehindReference = `discovery.relabel "d" {
  targets = [{"__address__" = "127.0.0.1:9"}]
}

prometheus.relabel "r" {
  forward_to = []
}

prometheus.scrape "s" {
  targets         = discovery.relabel.d.output
  forward_to      = [prometheus.relabel.r.receiver]
  scrape_interval = "1s"
}
`

func TestValidateCatchesArgumentErrorBehindReference(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scrape.alloy")
	must(t, os.WriteFile(path, []byte(scrapeBehindReference), 0o644))
	code, out := runBinary(t, time.Minute, "validate", path)
	want := path + ":9:1: prometheus.scrape: scrape_timeout (10s) must not be greater than scrape_interval (1s); set scrape_timeout to at most 1s"
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("flow validate: exit %d, want 1 and %q:\n%s", code, want, out)
	}
	if code, out := runBinary(t, time.Minute, "run", "--server.http.listen-addr=127.0.0.1:0", "--storage.path="+t.TempDir(), path); code != 1 || !strings.Contains(out, want) {
		t.Fatalf("flow run: exit %d, want 1 and %q:\n%s", code, want, out)
	}
}

// A value that comes from the environment (a file's content) is not a
// validation error, but flow run does not start a component it makes
// invalid.
func TestRunRefusesArgumentsInvalidWithRealValues(t *testing.T) {
	dir := t.TempDir()
	interval := filepath.Join(dir, "interval")
	must(t, os.WriteFile(interval, []byte("1s"), 0o644))
	path := filepath.Join(dir, "config.river")
	must(t, os.WriteFile(path, []byte(fmt.Sprintf(`local.file "interval" {
  filename = %q
}

prometheus.relabel "r" {
  forward_to = []
}

prometheus.scrape "s" {
  targets         = [{"__address__" = "127.0.0.1:9"}]
  forward_to      = [prometheus.relabel.r.receiver]
  scrape_interval = local.file.interval.content
}
`, interval)), 0o644))
	if code, out := runBinary(t, time.Minute, "validate", path); code != 0 {
		t.Fatalf("flow validate: exit %d, want 0 (the file's content is not known until run):\n%s", code, out)
	}
	code, out := runBinary(t, time.Minute, "run", "--server.http.listen-addr=127.0.0.1:0", "--storage.path="+filepath.Join(dir, "data"), path)
	want := "Error: " + path + ":9:1: prometheus.scrape.s: prometheus.scrape: scrape_timeout (10s) must not be greater than scrape_interval (1s)"
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "flow run does not start a component whose arguments are invalid") {
		t.Fatalf("flow run: exit %d, want 1 and %q:\n%s", code, want, out)
	}

	// A dependency that is unhealthy for a reason that may go away (its
	// file is missing) makes the failure a consequence, not a refusal:
	// flow runs, and the scrape recovers with the dependency.
	must(t, os.Remove(interval))
	p := startFlow(t, path, 30*time.Second)
	if h := p.components(t)["prometheus.scrape.s"].Health; h.Health != component.HealthUnhealthy {
		t.Fatalf("scrape while its interval file is missing: %s %q, want unhealthy", h.Health, h.Message)
	}
	must(t, os.WriteFile(interval, []byte("30s"), 0o644))
	testwait.Eventually(t, 30*time.Second, func() bool {
		return p.components(t)["prometheus.scrape.s"].Health.Health == component.HealthHealthy
	}, "the scrape to recover once its interval file exists")
}

func TestReloadRejectsArgumentErrorBehindReference(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.river")
	good := strings.Replace(scrapeBehindReference, `scrape_interval = "1s"`, `scrape_interval = "30s"`, 1)
	must(t, os.WriteFile(path, []byte(good), 0o644))
	p := startFlow(t, path, 30*time.Second)
	before := p.components(t)

	// The discovery's targets change too, so the scrape's are not known
	// until the reload is applied.
	bad := strings.Replace(scrapeBehindReference, "127.0.0.1:9", "127.0.0.1:10", 1)
	code, body := p.post(t, "/-/reload", bad)
	if code != 400 || !strings.Contains(body, "scrape_timeout (10s) must not be greater than scrape_interval (1s)") {
		t.Fatalf("reload: %d, want 400 naming the scrape_timeout:\n%s", code, body)
	}
	same(t, before, p.components(t), nil)
}

// `flow validate` may run on another machine than the config (a CI job):
// values from sys.env get placeholders, so an unset variable is not a
// validation error, while checks that hold whatever it says still run.
func TestValidateEnvironmentIsNotAnError(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "env.alloy")
	must(t, os.WriteFile(ok, []byte(`loki.write "w" {
  endpoint {
    url = sys.env("FLOW_TEST_UNSET_LOKI_URL")
  }
}

prometheus.remote_write "rw" {
  endpoint {
    url = string.format("https://%s/api/v1/push", sys.env("FLOW_TEST_UNSET_HOST"))
    basic_auth {
      username = env("FLOW_TEST_UNSET_USER")
      password = sys.env("FLOW_TEST_UNSET_PASS")
    }
  }
}

prometheus.scrape "s" {
  targets         = [{"__address__" = sys.env("FLOW_TEST_UNSET_ADDR")}]
  forward_to      = [prometheus.remote_write.rw.receiver]
  scrape_interval = sys.env("FLOW_TEST_UNSET_INTERVAL")
}
`), 0o644))
	if code, out := runBinary(t, time.Minute, "validate", ok); code != 0 {
		t.Fatalf("flow validate with unset environment variables: exit %d, want 0:\n%s", code, out)
	}
	bad := filepath.Join(dir, "bad.alloy")
	must(t, os.WriteFile(bad, []byte(`prometheus.relabel "r" {
  forward_to = []
}

prometheus.scrape "s" {
  targets         = [{"__address__" = sys.env("FLOW_TEST_UNSET_ADDR")}]
  forward_to      = [prometheus.relabel.r.receiver]
  scrape_interval = "1s"
}
`), 0o644))
	code, out := runBinary(t, time.Minute, "validate", bad)
	if want := bad + ":5:1: prometheus.scrape: scrape_timeout (10s) must not be greater than scrape_interval (1s)"; code != 1 || !strings.Contains(out, want) {
		t.Fatalf("flow validate: exit %d, want 1 and %q:\n%s", code, want, out)
	}
}
