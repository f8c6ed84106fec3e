// Package promproc starts Debian's prometheus and prometheus-node-exporter
// for end-to-end tests: each on a free loopback port with its own temporary
// directory, stopped when the test ends. A missing binary fails the test
// with how to install it (CI's .ci/run installs both); tests never skip.
package promproc

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/childproc"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// Binary returns the path of name or fails the test saying how to get it.
func Binary(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (not in PATH): this end-to-end test needs Debian's %s package "+
			"(apt-get install %s; .ci/run installs it)", name, pkg, pkg)
	}
	return p
}

// FreePort returns a loopback port nothing listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Process is a started server.
type Process struct {
	Addr string // host:port
	Cmd  *exec.Cmd
	Dir  string
	Log  string // path of its combined output
}

// start runs bin with args, its output in dir/out.log, and waits until
// GET http://addr+ready answers 200.
func start(t testing.TB, bin string, args []string, addr, ready string) *Process {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "out.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that nothing it starts outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Killed with the test binary, even when no cleanup runs.
	childproc.KillWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	p := &Process{Addr: addr, Cmd: cmd, Dir: dir, Log: logPath}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logf.Close()
	})
	if _, ok := testwait.Poll(30*time.Second, func() bool {
		select {
		case err := <-exited:
			exited <- err // for the cleanup, which waits for it
			out, _ := os.ReadFile(logPath)
			t.Fatalf("%s exited before becoming ready (%v):\n%s", bin, err, out)
		default:
		}
		resp, err := http.Get("http://" + addr + ready)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}); !ok {
		out, _ := os.ReadFile(logPath)
		t.Fatalf("%s not ready at http://%s%s after 30s:\n%s", bin, addr, ready, out)
	}
	return p
}

// StartPrometheus starts prometheus as a remote-write receiver (an empty
// configuration, a fresh TSDB). Push to URL()+"/api/v1/write".
func StartPrometheus(t testing.TB, extraArgs ...string) *Process {
	t.Helper()
	bin := Binary(t, "prometheus", "prometheus")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	args := append([]string{
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--web.enable-remote-write-receiver",
	}, extraArgs...)
	return start(t, bin, args, addr, "/-/ready")
}

// StartNodeExporter starts prometheus-node-exporter; scrape Addr.
func StartNodeExporter(t testing.TB) *Process {
	t.Helper()
	bin := Binary(t, "prometheus-node-exporter", "prometheus-node-exporter")
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	return start(t, bin, []string{"--web.listen-address=" + addr}, addr, "/metrics")
}

// URL is the process's base URL.
func (p *Process) URL() string { return "http://" + p.Addr }

// Sample is one instant-vector element of a query result.
type Sample struct {
	Metric map[string]string
	Value  float64
}

// query runs q through Prometheus' query API and returns data.result, each
// element decoded as a T.
func query[T any](p *Process, q string) ([]T, error) {
	resp, err := http.Get(p.URL() + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []T `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %q: %v: %s", q, err, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", q, r.Error)
	}
	return r.Data.Result, nil
}

// Query runs an instant PromQL query against a Prometheus.
func Query(p *Process, q string) ([]Sample, error) {
	result, err := query[struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}](p, q)
	if err != nil {
		return nil, err
	}
	out := make([]Sample, 0, len(result))
	for _, e := range result {
		s, _ := e.Value[1].(string)
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: value %v: %w", q, e.Value[1], err)
		}
		out = append(out, Sample{Metric: e.Metric, Value: v})
	}
	return out, nil
}

// QueryMatrix runs a range-vector query (such as `m[5m]`) and returns, for
// each series, the timestamps (milliseconds) of its samples.
func QueryMatrix(p *Process, q string) ([][]int64, error) {
	result, err := query[struct {
		Values [][2]any `json:"values"`
	}](p, q)
	if err != nil {
		return nil, err
	}
	var out [][]int64
	for _, s := range result {
		var ts []int64
		for _, v := range s.Values {
			f, ok := v[0].(float64)
			if !ok {
				return nil, fmt.Errorf("query %q: timestamp %v", q, v[0])
			}
			ts = append(ts, int64(f*1000+0.5))
		}
		out = append(out, ts)
	}
	return out, nil
}
