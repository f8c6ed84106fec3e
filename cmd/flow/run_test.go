package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/childproc"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/httpapi"
)

// flowProcess is a running `flow run` with the API calls the tests make.
type flowProcess struct{ *flowproc.Process }

// startFlow runs `flow run` on path and waits until /-/ready answers; it is
// stopped with SIGTERM at the end of the test.
func startFlow(t testing.TB, path string, readyTimeout time.Duration) *flowProcess {
	t.Helper()
	return &flowProcess{flowproc.Options{ReadyTimeout: readyTimeout}.Start(t, path)}
}

// post sends body to path as curl would, with the header /-/reload wants
// for a config in the body.
func (p *flowProcess) post(t testing.TB, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", p.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set(httpapi.ReloadHeader, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *flowProcess) components(t testing.TB) map[string]runtime.ComponentInfo {
	t.Helper()
	resp, err := http.Get(p.URL() + "/api/v0/components")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Components []runtime.ComponentInfo `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	out := map[string]runtime.ComponentInfo{}
	for _, c := range list.Components {
		out[c.ID] = c
	}
	return out
}

func (p *flowProcess) exports(t testing.TB, id string) map[string]any {
	t.Helper()
	resp, err := http.Get(p.URL() + "/api/v0/components/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Exports map[string]any `json:"exports"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d.Exports
}

func TestRunEndToEnd(t *testing.T) {
	dir := t.TempDir()
	pathA := filepath.Join(dir, "a.txt")
	target1, target2 := filepath.Join(dir, "t1.txt"), filepath.Join(dir, "t2.txt")
	must(t, os.WriteFile(pathA, []byte(target1), 0o644))
	must(t, os.WriteFile(target1, []byte("first"), 0o644))
	must(t, os.WriteFile(target2, []byte("second"), 0o644))
	cfg := func(pollB string, extra string) string {
		return fmt.Sprintf(`local.file "a" {
  filename = %q
}

local.file "b" {
  filename       = local.file.a.content
  poll_frequency = %q
}
%s`, pathA, pollB, extra)
	}
	cfgPath := filepath.Join(dir, "config.river")
	must(t, os.WriteFile(cfgPath, []byte(cfg("1m", "")), 0o644))

	p := startFlow(t, cfgPath, 10*time.Second)
	if got := p.exports(t, "local.file.b")["content"]; got != "first" {
		t.Fatalf("b content = %v", got)
	}
	before := p.components(t)

	// A broken config: 400, nothing touched.
	code, body := p.post(t, "/-/reload", cfg("1m", `local.file "c" { filename = 1 }`))
	if code != 400 || !strings.Contains(body, "config.river:9:29: filename: expected string, got number") {
		t.Fatalf("broken reload: %d\n%s", code, body)
	}
	same(t, before, p.components(t), nil)

	// A valid config changing b only: 200, only b updated, nothing rebuilt.
	code, body = p.post(t, "/-/reload", cfg("30s", ""))
	if code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	same(t, before, p.components(t), map[string]int{"local.file.b": 1})

	// An export change travels: a's content now names target2.
	must(t, os.WriteFile(pathA, []byte(target2+"\n"), 0o644))
	must(t, os.WriteFile(pathA, []byte(target2), 0o644))
	testwait.Eventually(t, 20*time.Second, func() bool { return p.exports(t, "local.file.b")["content"] == "second" }, "b to follow a")

	// SIGHUP reloads from disk.
	// The Alloy-style logging block switches flow's own logs to JSON.
	must(t, os.WriteFile(cfgPath, []byte(cfg("30s", fmt.Sprintf("local.file \"c\" {\n  filename = %q\n}\n\nlogging {\n  format = \"json\"\n}\n", target1))), 0o644))
	must(t, p.Signal(syscall.SIGHUP))
	testwait.Eventually(t, 20*time.Second, func() bool { _, ok := p.components(t)["local.file.c"]; return ok }, "SIGHUP reload")
	testwait.Eventually(t, 20*time.Second, func() bool { return strings.Contains(p.Stderr(), `"msg":"config reloaded on SIGHUP"`) }, "JSON logs")

	// An empty POST re-reads the file too.
	must(t, os.WriteFile(cfgPath, []byte(cfg("30s", "")), 0o644))
	if code, body := p.post(t, "/-/reload", ""); code != 200 {
		t.Fatalf("reload from disk: %d %s", code, body)
	}
	if _, ok := p.components(t)["local.file.c"]; ok {
		t.Fatal("reload from disk kept a removed component")
	}

	// SIGTERM stops it cleanly.
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Stderr())
	}
	if !strings.Contains(p.Stderr(), "all components stopped") {
		t.Fatalf("logs:\n%s", p.Stderr())
	}
}

// TestRunFailsOnBadConfig: a config that does not load makes `flow run`
// print each diagnostic once, formatted with its source line, to stderr, and
// exit 1.
func TestRunFailsOnBadConfig(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "bad.river")
	must(t, os.WriteFile(cfgPath, []byte("local.fil \"x\" {}\n\nlocal.file \"y\" {\n  filenam = \"a\"\n}\n"), 0o644))
	addr := fmt.Sprintf("127.0.0.1:%d", flowproc.FreePort(t))
	cmd := childproc.Command(flowproc.Build(t), "run", "--server.http.listen-addr="+addr, "--storage.path="+t.TempDir(), cfgPath)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{
		"Error: " + cfgPath + `:1:1: unknown component "local.fil"; did you mean "local.file"?`,
		"  1 | local.fil \"x\" {}\n",
		"Error: " + cfgPath + `:4:3: unknown attribute "filenam" in local.file; did you mean "filename"?`,
		"  4 |   filenam = \"a\"\n",
	} {
		if n := strings.Count(out, want); n != 1 {
			t.Errorf("stderr has %q %d times, want once:\n%s", want, n, out)
		}
	}
	// Once means not also in the log, quoted or not.
	for _, dup := range []string{"did you mean \\\"local.file\\\"", "level=ERROR"} {
		if strings.Contains(out, dup) {
			t.Errorf("stderr repeats the error in the log (%s):\n%s", dup, out)
		}
	}
	if n := strings.Count(out, `unknown component "local.fil"`); n != 1 {
		t.Errorf("the unknown component is reported %d times, want once:\n%s", n, out)
	}
	if stdout.Len() > 0 {
		t.Errorf("stdout has %q, want nothing (diagnostics go to stderr)", stdout.String())
	}
}

// same checks that no component was rebuilt and that each was updated as
// many times as updates says (0 when absent).
func same(t *testing.T, before, after map[string]runtime.ComponentInfo, updates map[string]int) {
	t.Helper()
	for id, b := range before {
		a, ok := after[id]
		if !ok {
			t.Fatalf("%s disappeared", id)
		}
		if b.BuiltTime == nil || a.BuiltTime == nil || !a.BuiltTime.Equal(*b.BuiltTime) {
			t.Errorf("%s rebuilt (%v → %v)", id, b.BuiltTime, a.BuiltTime)
		}
		if a.UpdatesTotal != updates[id] {
			t.Errorf("%s updated %d times, want %d", id, a.UpdatesTotal, updates[id])
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// chainConfig writes a config of n local.file components, each reading the
// file named by the previous one's content (every file names itself), so
// loading it evaluates a dependency chain n deep.
func chainConfig(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	self := filepath.Join(dir, "self.txt")
	must(t, os.WriteFile(self, []byte(self), 0o644))
	var b strings.Builder
	fmt.Fprintf(&b, "local.file \"f0\" {\n  filename = %q\n}\n", self)
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "\nlocal.file \"f%d\" {\n  filename = local.file.f%d.content\n}\n", i, i-1)
	}
	path := filepath.Join(dir, "chain.river")
	must(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path
}

// BenchmarkRunReady1000 measures `flow run` of a 1,000-component config
// from process start to /-/ready answering 200.
func BenchmarkRunReady1000(b *testing.B) {
	path := chainConfig(b, 1000)
	flowproc.Build(b)
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		p := startFlow(b, path, 30*time.Second)
		total += time.Since(start)
		b.StopTimer()
		if err := p.Stop(flowproc.DefaultStopTimeout); errors.Is(err, flowproc.ErrNotStopped) {
			b.Fatalf("%v\n%s", err, p.Stderr())
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-ready")
}

// BenchmarkIdleRSS reports the resident memory of `flow run` on the
// quickstart config after it has idled for two seconds.
func BenchmarkIdleRSS(b *testing.B) {
	path := "../../examples/quickstart.river"
	if flowMain([]string{"validate", path}, nil, io.Discard, io.Discard) != 0 {
		b.Logf("%s does not validate; measuring testdata/idle.river instead", path)
		path = "testdata/idle.river"
	}
	for i := 0; i < b.N; i++ {
		p := startFlow(b, path, 30*time.Second)
		time.Sleep(2 * time.Second)
		rss := rssKiB(b, p.Pid())
		b.ReportMetric(float64(rss)/1024, "MiB-RSS")
	}
}

func rssKiB(t testing.TB, pid int) int {
	t.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// TestRunRetriesBuildWhenPortFrees: a listener whose port is taken fails to
// build; flow keeps it unhealthy with the error and retries on its own (the
// first retry after 1 s), so it serves once the port is free, with no reload.
func TestRunRetriesBuildWhenPortFrees(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	cfgPath := filepath.Join(t.TempDir(), "config.river")
	must(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`loki.echo "out" { }

loki.source.aws_firehose "in" {
  http {
    listen_address = "127.0.0.1"
    listen_port    = %d
  }
  forward_to = [loki.echo.out.receiver]
}
`, port)), 0o644))
	p := startFlow(t, cfgPath, 10*time.Second)
	const id = "loki.source.aws_firehose.in"
	h := p.components(t)[id].Health
	if h.Health != component.HealthUnhealthy || !strings.Contains(h.Message, "address already in use") || !strings.Contains(h.Message, "; retrying in ") {
		t.Fatalf("%s with its port taken: %s %q, want unhealthy with the error and the retry", id, h.Health, h.Message)
	}
	taken.Close()
	freed := time.Now()
	testwait.Eventually(t, 20*time.Second, func() bool {
		return p.components(t)[id].Health.Health == component.HealthHealthy
	}, "%s to become healthy after its port was freed", id)
	t.Logf("built %v after the port was freed", time.Since(freed).Round(time.Millisecond))
	body := fmt.Sprintf(`{"requestId":"r1","timestamp":%d,"records":[{"data":"aGVsbG8="}]}`, time.Now().UnixMilli())
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/awsfirehose/api/v1/push", port), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("the Firehose endpoint does not answer after the retry: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("Firehose push answered %d, want 200", resp.StatusCode)
	}
}
