package ui

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/flowproc"
)

// The browser tests run the real `flow run`: TestMain builds ./cmd/flow once
// into a temporary directory, with -tags testcomponents so the test pipeline
// can use the timer-driven testcomponents.counter (a release build has no
// test components), and each test starts it with its own config, storage
// directory and loopback port.

// flowTags are the build tags of the flow the tests run.
var flowTags = []string{"testcomponents"}

// flowServer is one running `flow run`.
type flowServer struct {
	t    testing.TB
	URL  string // http://127.0.0.1:port
	Dir  string // holds the config and any files it reads
	proc *flowproc.Process
}

// Logs returns what flow has logged (and loki.echo printed) so far.
func (f *flowServer) Logs() string { return f.proc.Stderr() }

// startFlow writes config (with every "$DIR" replaced by the test's
// directory) to main.river and runs flow on it until the test ends. files are
// written to the directory first.
func startFlow(t testing.TB, config string, files map[string]string) *flowServer {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "main.river")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(config, "$DIR", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := flowproc.Options{
		Binary:       flowproc.Build(t, flowTags...),
		ReadyTimeout: 20 * time.Second,
		StopTimeout:  15 * time.Second,
		Stdout:       true,
	}.Start(t, "--storage.path="+filepath.Join(dir, "data"), cfg)
	f := &flowServer{t: t, URL: p.URL(), Dir: dir, proc: p}
	t.Cleanup(f.stop)
	return f
}

// stop stops flow before Start's own cleanup would, so that a failed test's
// kept log ends with the shutdown.
func (f *flowServer) stop() {
	if err := f.proc.Stop(15 * time.Second); errors.Is(err, flowproc.ErrNotStopped) {
		f.t.Errorf("%v; flow's log:\n%s", err, f.Logs())
	}
	if f.t.Failed() {
		p := filepath.Join(artifactsDir, strings.NewReplacer("/", "_").Replace(f.t.Name())+".flow.log")
		if err := os.WriteFile(p, []byte(f.Logs()), 0o644); err == nil {
			f.t.Logf("flow's log: %s", p)
		}
	}
}

// get fetches a path from flow and returns the status and body.
func (f *flowServer) get(path string) (int, []byte) {
	f.t.Helper()
	resp, err := http.Get(f.URL + path)
	if err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	return resp.StatusCode, b
}

// apiComponent is the part of the API's Component the tests check.
type apiComponent struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Label  string `json:"label"`
	Health struct {
		State   string `json:"state"`
		Message string `json:"message"`
	} `json:"health"`
	References       []string `json:"references"`
	ReferencedBy     []string `json:"referenced_by"`
	EvaluationsTotal int      `json:"evaluations_total"`
}

type apiEdge struct {
	From   string  `json:"from"`
	To     string  `json:"to"`
	Export string  `json:"export"`
	Kind   string  `json:"kind"`
	Source string  `json:"source"`
	Sink   string  `json:"sink"`
	Data   bool    `json:"data"`
	Rate   float64 `json:"rate"`
}

type apiComponents struct {
	Components []apiComponent `json:"components"`
	Edges      []apiEdge      `json:"edges"`
	ConfigHash string         `json:"config_hash"`
}

func (f *flowServer) components() apiComponents {
	f.t.Helper()
	code, b := f.get("/api/v0/components")
	if code != 200 {
		f.t.Fatalf("GET /api/v0/components: %d %s", code, b)
	}
	var out apiComponents
	if err := json.Unmarshal(b, &out); err != nil {
		f.t.Fatalf("GET /api/v0/components: %v", err)
	}
	return out
}

// apiEvaluation is one of a component's kept evaluations.
type apiEvaluation struct {
	Time  time.Time `json:"time"`
	Cause string    `json:"cause"`
	Error string    `json:"error"`
}

// evaluations returns the component's kept evaluations, newest first.
func (f *flowServer) evaluations(id string) []apiEvaluation {
	f.t.Helper()
	code, b := f.get("/api/v0/components/" + id)
	if code != 200 {
		f.t.Fatalf("GET /api/v0/components/%s: %d %s", id, code, b)
	}
	var out struct {
		Evaluations []apiEvaluation `json:"evaluations"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		f.t.Fatalf("GET /api/v0/components/%s: %v", id, err)
	}
	return out.Evaluations
}

// events reads the event stream for d and returns what it received.
func (f *flowServer) events(d time.Duration) string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.URL+"/api/v0/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("GET /api/v0/events: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body) // ends with the context's deadline
	return string(b)
}

// post sends body to a path on flow, as curl would with the header
// /-/reload wants for a config in the body, and returns the status and
// response.
func (f *flowServer) post(path, body string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest("POST", f.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Flow-Reload", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// liveStream starts reading the Live stream of id, as curl would, for at
// most d; the returned function waits for the end and returns what arrived.
func (f *flowServer) liveStream(id string, d time.Duration) func() string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	req, _ := http.NewRequestWithContext(ctx, "GET", f.URL+"/api/v0/components/"+id+"/live", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		f.t.Fatalf("GET live stream of %s: %v", id, err)
	}
	if resp.StatusCode != 200 {
		cancel()
		f.t.Fatalf("GET live stream of %s: %s", id, resp.Status)
	}
	done := make(chan string, 1)
	go func() {
		defer cancel()
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body) // ends with the context's deadline
		done <- string(b)
	}()
	return func() string { return <-done }
}
