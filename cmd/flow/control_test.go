package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/childproc"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/httpapi"
)

const controlConfig = `local.file "a" {
  filename = "/etc/hostname"
}
`

func writeControlConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.river")
	must(t, os.WriteFile(p, []byte(controlConfig), 0o644))
	return p
}

// logTime returns the time of the first JSON log line whose msg is msg.
func logTime(t *testing.T, logs, msg string) time.Time {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var rec struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			return rec.Time
		}
	}
	t.Fatalf("no log line %q in:\n%s", msg, logs)
	return time.Time{}
}

// An open UI event stream must not hold up stopping the components: before
// the fix, the HTTP server's graceful shutdown waited its full 5 s for the
// stream before the runtime was even told to stop.
func TestShutdownWithAnOpenEventStream(t *testing.T) {
	p := flowproc.Start(t, "--log.format=json", writeControlConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.URL()+"/api/v0/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() {
		t.Fatalf("the event stream did not open: %v", sc.Err())
	}
	ended := make(chan struct{})
	go func() {
		for sc.Scan() {
		}
		close(ended)
	}()
	must(t, p.Signal(syscall.SIGTERM))
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("flow did not exit within 30s of SIGTERM with an event stream open; log:\n%s", p.Stderr())
	}
	testwait.Receive(t, 30*time.Second, ended, "the event stream was still open after flow exited")
	logs := p.Stderr()
	signalled := logTime(t, logs, "received signal, shutting down")
	stopping := logTime(t, logs, "stopping components")
	// Normally a millisecond; the old behaviour was at least 5 s.
	if gap := stopping.Sub(signalled); gap > 3*time.Second {
		t.Fatalf("components began stopping %v after SIGTERM (an open event stream held them up); log:\n%s", gap, logs)
	}
}

// exposedRun runs flow listening on addr (port 0) with extra flags until it
// serves HTTP, and returns its log.
func exposedRun(t *testing.T, addr string, flags ...string) string {
	t.Helper()
	bin := flowproc.Build(t)
	args := append([]string{"run", "--server.http.listen-addr=" + addr, "--storage.path=" + t.TempDir()}, flags...)
	cmd := childproc.Command(bin, append(args, writeControlConfig(t))...)
	logs := &flowproc.LockedBuffer{}
	cmd.Stderr = logs
	must(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("flow did not stop on SIGTERM; log:\n%s", logs.String())
		}
	}()
	testwait.Eventually(t, 30*time.Second, func() bool { return strings.Contains(logs.String(), "serving HTTP") }, "flow to serve HTTP")
	return logs.String()
}

func TestWarnsWhenListeningBeyondLoopback(t *testing.T) {
	const warning = "the HTTP server listens beyond loopback and has no authentication"
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		logs := exposedRun(t, addr)
		for _, want := range []string{warning, "POST /-/reload with a config in the body", "/debug/pprof", "authenticating proxy"} {
			if !strings.Contains(logs, want) {
				t.Errorf("listening on %s: the log lacks %q:\n%s", addr, want, logs)
			}
		}
	}
	logs := exposedRun(t, "0.0.0.0:0", "--server.http.enable-reload-body=false", "--server.http.enable-pprof=false")
	if !strings.Contains(logs, warning) || strings.Contains(logs, "pprof (") || strings.Contains(logs, "config in the body (") {
		t.Errorf("with reload bodies and pprof off the warning still names them, or is missing:\n%s", logs)
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		if logs := exposedRun(t, addr); strings.Contains(logs, warning) {
			t.Errorf("listening on %s (loopback) warned:\n%s", addr, logs)
		}
	}
}

func TestControlPlaneFlags(t *testing.T) {
	p := flowproc.Start(t, "--server.http.allowed-hosts=flow.example,proxy.example:8080",
		"--server.http.enable-reload-body=false", "--server.http.enable-pprof=false", writeControlConfig(t))
	send := func(method, path, host, body string, header ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, p.URL()+path, strings.NewReader(body))
		must(t, err)
		if host != "" {
			req.Host = host
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for host, want := range map[string]int{"": 200, "flow.example:12345": 200, "proxy.example:8080": 200, "proxy.example:80": 403, "evil.example": 403} {
		if code, body := send("GET", "/api/v0/components", host, ""); code != want {
			t.Errorf("GET /api/v0/components with Host %q: %d %s, want %d", host, code, body, want)
		}
	}
	if code, body := send("POST", "/-/reload", "", controlConfig, httpapi.ReloadHeader, "1"); code != 403 || !strings.Contains(body, "enable-reload-body=false") {
		t.Errorf("a config in the body with --server.http.enable-reload-body=false: %d %s, want 403", code, body)
	}
	// curl -X POST: an empty body re-reads the file, no header needed.
	if code, body := send("POST", "/-/reload", "", ""); code != 200 {
		t.Errorf("empty-body reload: %d %s", code, body)
	}
	if code, _ := send("GET", "/debug/pprof/", "", ""); code != 404 {
		t.Errorf("/debug/pprof/ with --server.http.enable-pprof=false: %d, want 404", code)
	}
}

func TestControlPlaneFlagErrors(t *testing.T) {
	cfg := writeControlConfig(t)
	for _, tc := range []struct{ flag, want string }{
		{"--server.http.max-connections=0", "--server.http.max-connections=0: want at least 1"},
		{"--server.http.allowed-hosts=http://flow.example", `"http://flow.example" is not a host name`},
	} {
		code, _, stderr := flowCmd(t, "", "run", tc.flag, cfg)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("flow run %s: exit %d, stderr %q, want 2 and %q", tc.flag, code, stderr, tc.want)
		}
	}
}
