package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/internal/flowproc"
)

const convertYAML = `global:
  scrape_interval: 15s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: [localhost:9100]
remote_write:
  - url: http://localhost:9090/api/v1/write
`

// runFlowMain runs the CLI in process.
func runFlowMain(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = flowMain(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestConvertStdoutFileAndReport(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(in, []byte(convertYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runFlowMain(t, "", "convert", "--source-format=prometheus", in)
	if code != 0 || !strings.Contains(out, `prometheus.scrape "node" {`) || !strings.Contains(out, `scrape_interval = "15s"`) {
		t.Fatalf("code %d, stdout:\n%s\nstderr:\n%s", code, out, stderr)
	}

	// Flags after FILE, Alloy's short names, -o and -r.
	outPath, reportPath := filepath.Join(dir, "out.river"), filepath.Join(dir, "report.txt")
	code, out, stderr = runFlowMain(t, "", "convert", in, "-f", "prometheus", "-o", outPath, "-r", reportPath)
	if code != 0 || out != "" {
		t.Fatalf("code %d, stdout %q, stderr:\n%s", code, out, stderr)
	}
	written, err := os.ReadFile(outPath)
	if err != nil || !strings.Contains(string(written), `prometheus.remote_write "default"`) {
		t.Fatalf("-o wrote %q (%v)", written, err)
	}
	if fi, _ := os.Stat(outPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("output mode %v, want 0600: it may hold the YAML's passwords", fi.Mode().Perm())
	}
	report, _ := os.ReadFile(reportPath)
	if !strings.Contains(string(report), "A configuration was generated.") {
		t.Errorf("report:\n%s", report)
	}

	// The converted config is what `flow validate` accepts.
	code, out, stderr = runFlowMain(t, "", "validate", outPath)
	if code != 0 {
		t.Fatalf("flow validate on the converted config: code %d\n%s%s", code, out, stderr)
	}

	// stdin.
	code, out, _ = runFlowMain(t, convertYAML, "convert", "--source-format", "prometheus")
	if code != 0 || !strings.Contains(out, `job_name        = "node"`) {
		t.Fatalf("stdin: code %d, stdout:\n%s", code, out)
	}
}

func TestConvertErrorsBlockUnlessBypassed(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "prometheus.yml")
	src := convertYAML + "rule_files:\n  - rules.yml\n"
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	reportPath := filepath.Join(dir, "report.txt")
	code, out, stderr := runFlowMain(t, "", "convert", "-f", "prometheus", "--report", reportPath, in)
	if code != 1 || out != "" {
		t.Fatalf("an error must withhold the output: code %d, stdout %q", code, out)
	}
	// The diagnostic names the YAML line and column, quotes it, and hints.
	for _, want := range []string{in + ":9:1: rule_files is not converted", "  9 | rule_files:", "hint: ", "--bypass-errors"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	report, _ := os.ReadFile(reportPath)
	if !strings.Contains(string(report), "(Error) "+in+":9:1: rule_files is not converted") ||
		!strings.Contains(string(report), "No configuration was generated") {
		t.Errorf("report:\n%s", report)
	}

	code, out, _ = runFlowMain(t, "", "convert", "-f", "prometheus", "--bypass-errors", in)
	if code != 0 || !strings.Contains(out, `prometheus.scrape "node"`) {
		t.Fatalf("--bypass-errors: code %d, stdout:\n%s", code, out)
	}
}

func TestConvertBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, src, want string
		args            []string
	}{
		{"no format", convertYAML, "--source-format is required", nil},
		{"unknown format", convertYAML, `unknown source format "otelcol"`, []string{"-f", "otelcol"}},
		{"broken yaml", "scrape_configs:\n  - job_name: [\n", "critical: the file is not valid YAML", []string{"-f", "prometheus"}},
		{"typo", "global:\n  scrape_intervall: 1m\n", `did you mean "scrape_interval"?`, []string{"-f", "prometheus"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yml")
			if err := os.WriteFile(in, []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, stderr := runFlowMain(t, "", append(append([]string{"convert"}, tc.args...), in)...)
			if code == 0 || out != "" || !strings.Contains(stderr, tc.want) {
				t.Fatalf("code %d, stdout %q, stderr:\n%s\nwant %q", code, out, stderr, tc.want)
			}
		})
	}
	if code, _, stderr := runFlowMain(t, "", "convert", "-f", "prometheus", dir); code == 0 || !strings.Contains(stderr, "is a directory") {
		t.Fatalf("a directory: code %d, %s", code, stderr)
	}
	if code, _, stderr := runFlowMain(t, "", "run", "--config.format=yaml", "x"); code != 2 || !strings.Contains(stderr, "--config.format") {
		t.Fatalf("run with an unknown format: code %d, %s", code, stderr)
	}
}

// TestRunPromtailYAML runs a Promtail config with the real flow binary
// (--config.format=promtail): a file is tailed, lines appended later and
// after a rename rotation arrive at a fake Loki with the job's labels, and
// Promtail's positions file is honoured (lines before its offset are not
// sent again).
func TestRunPromtailYAML(t *testing.T) {
	loki, err := fakeloki.Start(fakeloki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer loki.Close()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logFile, []byte("already sent by promtail\nnew 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	positions := filepath.Join(dir, "positions.yaml")
	if err := os.WriteFile(positions, []byte(fmt.Sprintf("positions:\n  %s: \"25\"\n", logFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "promtail.yaml")
	yml := fmt.Sprintf(`server:
  http_listen_port: 9080
  grpc_listen_port: 0
positions:
  filename: %s
clients:
  - url: %s
    batchwait: 100ms
    tenant_id: team-a
scrape_configs:
  - job_name: app
    static_configs:
      - targets: [localhost]
        labels:
          job: app
          __path__: %s
`, positions, loki.URL(), filepath.Join(dir, "*.log"))
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	flow := flowproc.Start(t, "--config.format=promtail", cfg)
	if err := loki.WaitForEntries(1, 60*time.Second); err != nil {
		t.Fatalf("%v; flow's log:\n%s", err, flow.Stderr())
	}
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "new 2")
	f.Close()
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logFile, []byte("after rotation\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := loki.WaitForEntries(3, 60*time.Second); err != nil {
		t.Fatalf("%v; flow's log:\n%s", err, flow.Stderr())
	}
	var lines []string
	for _, e := range loki.Entries() {
		lines = append(lines, e.Line)
		if e.Tenant != "team-a" || e.Labels["job"] != "app" {
			t.Errorf("entry %q: tenant %q labels %v", e.Line, e.Tenant, e.Labels)
		}
	}
	if strings.Join(lines, "|") != "new 1|new 2|after rotation" {
		t.Fatalf("lines %q", lines)
	}
	// The conversion's diagnostics went to stderr, at their lines.
	if !strings.Contains(flow.Stderr(), cfg+":2:3: server.http_listen_port is not converted") {
		t.Errorf("flow's stderr lacks the conversion warning:\n%s", flow.Stderr())
	}
}

// TestValidateConfigFormat: flow validate converts YAML first, as flow run
// --config.format does, and reports both conversion and River errors.
func TestValidateConfigFormat(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(in, []byte(convertYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runFlowMain(t, "", "validate", "--config.format=prometheus", in); code != 0 || !strings.Contains(out, "config valid") {
		t.Fatalf("code %d\n%s%s", code, out, stderr)
	}
	if err := os.WriteFile(in, []byte(convertYAML+"rule_files: [r.yml]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runFlowMain(t, "", "validate", "--config.format=prometheus", in); code != 1 || !strings.Contains(stderr, "rule_files is not converted") {
		t.Fatalf("code %d\n%s", code, stderr)
	}
}
