package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flow-telemetry/flow/internal/flowproc"
	tc "github.com/flow-telemetry/flow/internal/testcomponents"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"
	"github.com/flow-telemetry/flow/runtime/httpapi"
)

const secretValue = "hunter2-do-not-show"

const baseConfig = `testcomponents.counter "c" {}

testcomponents.passthrough "p" {
  input = testcomponents.counter.c.count
}

testcomponents.secret "s" {
  password = "` + secretValue + `"
}

testcomponents.sink "sink" {}

testcomponents.source "src" {
  forward_to = [testcomponents.sink.sink.receiver]
}
`

type env struct {
	t      *testing.T
	rt     *runtime.Runtime
	api    *httpapi.API
	srv    *httptest.Server
	onDisk string
	logs   *flowproc.LockedBuffer // the handler's and the runtime's logs
}

// start serves a runtime over HTTP; the config on disk (for empty-body
// reloads) is e.onDisk.
func start(t *testing.T, load bool) *env {
	return startWith(t, load, nil, nil)
}

// startWith is start with options: opts edits the API's options and a
// non-nil srvOpts serves with flow's server limits (ServerOptions) instead
// of httptest's defaults.
func startWith(t *testing.T, load bool, opts func(*httpapi.Options), srvOpts *httpapi.ServerOptions) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &flowproc.LockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	rt := runtime.New(runtime.Options{Registerer: reg, DataPath: t.TempDir(), Logger: logger, Registry: flowtest.Registry(t, tc.New().Registrations()...)})
	e := &env{t: t, rt: rt, onDisk: baseConfig, logs: logs}
	o := httpapi.Options{
		Runtime:  rt,
		Logger:   logger,
		Gatherer: reg,
		ReadConfig: func() (map[string][]byte, error) {
			return map[string][]byte{"main.river": []byte(e.onDisk)}, nil
		},
	}
	if opts != nil {
		opts(&o)
	}
	e.api = httpapi.New(o)
	e.srv = httptest.NewUnstartedServer(e.api)
	if srvOpts != nil {
		e.srv.Config = srvOpts.NewServer(e.api, logger)
		e.srv.Listener = srvOpts.Listener(e.srv.Listener)
	}
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	if load {
		if d := rt.Load(map[string][]byte{"main.river": []byte(baseConfig)}); d.HasErrors() {
			t.Fatal(d)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rt.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func (e *env) do(method, path, body string, header ...string) (int, string, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1] // what Header.Set("Host") would not do
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(b), secretValue) {
		e.t.Fatalf("%s %s leaked the secret:\n%s", method, path, b)
	}
	return resp.StatusCode, string(b), resp.Header
}

func (e *env) getJSON(path string, v any) {
	e.t.Helper()
	code, body, h := e.do("GET", path, "")
	if code != 200 || h.Get("Content-Type") != "application/json" {
		e.t.Fatalf("GET %s: %d %s\n%s", path, code, h.Get("Content-Type"), body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		e.t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

func TestReadyAndHealthy(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	if code, body, _ := e.do("GET", "/-/ready", ""); code != 503 || !strings.Contains(body, "not ready") {
		t.Fatalf("ready before load: %d %q", code, body)
	}
	if code, _, _ := e.do("POST", "/-/reload", ""); code != 200 {
		t.Fatalf("reload from disk: %d", code)
	}
	if code, body, _ := e.do("GET", "/-/ready", ""); code != 200 || body != "flow is ready.\n" {
		t.Fatalf("ready after load: %d %q", code, body)
	}
	if code, body, _ := e.do("GET", "/-/healthy", ""); code != 200 {
		t.Fatalf("healthy: %d %q", code, body)
	}
	e.onDisk = baseConfig + `testcomponents.fail "broken" { run_error = "cannot bind" }` + "\n"
	if code, body, _ := e.do("POST", "/-/reload", ""); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	var code int
	var body string
	if _, ok := testwait.Poll(30*time.Second, func() bool {
		code, body, _ = e.do("GET", "/-/healthy", "")
		return code == 503 && strings.HasPrefix(body, "unhealthy components: testcomponents.fail.broken\n") && strings.Contains(body, "cannot bind")
	}); !ok {
		t.Fatalf("healthy with a failed component: %d %q", code, body)
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	e := start(t, true)
	before, _ := e.rt.Component("testcomponents.counter.c")
	broken := strings.Replace(baseConfig, `testcomponents.passthrough "p" {`, `testcomponents.passthrough "p" {
  lag = 12`, 1)

	// Text diagnostics with position, source line and caret.
	code, body, _ := e.do("POST", "/-/reload", broken, "X-Flow-Reload", "1")
	if code != 400 || !strings.Contains(body, "main.river:4:9: lag: expected duration, got number") || !strings.Contains(body, "^") {
		t.Fatalf("broken reload: %d\n%s", code, body)
	}
	// JSON diagnostics.
	code, body, _ = e.do("POST", "/-/reload", broken, "Accept", "application/json", "X-Flow-Reload", "1")
	var jd struct {
		Error       string
		Diagnostics []httpapi.Diagnostic
	}
	if err := json.Unmarshal([]byte(body), &jd); err != nil || code != 400 {
		t.Fatalf("JSON broken reload: %d %v\n%s", code, err, body)
	}
	if len(jd.Diagnostics) != 1 || jd.Diagnostics[0].Start.Line != 4 || jd.Diagnostics[0].Start.Column != 9 || jd.Diagnostics[0].Filename != "main.river" || jd.Diagnostics[0].Severity != "error" {
		t.Fatalf("JSON diagnostics = %+v", jd.Diagnostics)
	}
	if c, _ := e.rt.Component("testcomponents.counter.c"); c != before {
		t.Fatal("broken reload replaced a component")
	}
	// Each rejected reload is logged once, with its diagnostic; a rejected
	// dry run is only answered.
	if code, _, _ := e.do("POST", "/-/reload?dry_run=1", broken, "X-Flow-Reload", "1"); code != 400 {
		t.Fatalf("broken dry run: %d", code)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, "reload via /-/reload failed"); n != 2 {
		t.Errorf("%d rejected reloads logged, want 2 (the dry run is not one):\n%s", n, logs)
	}
	if n := strings.Count(logs, "lag: expected duration, got number"); n != 2 {
		t.Errorf("the diagnostic is logged %d times for 2 rejected reloads:\n%s", n, logs)
	}

	// Dry run of a valid config changes nothing.
	added := baseConfig + "testcomponents.passthrough \"new\" { input = 1 }\n"
	if code, body, _ := e.do("POST", "/-/reload?dry_run=1", added, "X-Flow-Reload", "1"); code != 200 || body != "config valid\n" {
		t.Fatalf("dry run: %d %q", code, body)
	}
	if _, ok := e.rt.Health("testcomponents.passthrough.new"); ok {
		t.Fatal("dry run applied the config")
	}
	// A real one applies it, keeping the posted config's name.
	if code, body, _ := e.do("POST", "/-/reload", added, "X-Flow-Reload", "1"); code != 200 || body != "config reloaded\n" {
		t.Fatalf("reload: %d %q", code, body)
	}
	if _, ok := e.rt.Component("testcomponents.passthrough.new"); !ok {
		t.Fatal("posted config not applied")
	}
	if c, _ := e.rt.Component("testcomponents.counter.c"); c != before {
		t.Fatal("reload replaced an unchanged component")
	}
	// Several files as JSON.
	code, body, _ = e.do("POST", "/-/reload", `{"files":[{"name":"a.river","content":"testcomponents.counter \"c\" {}\n"},{"name":"b.river","content":"testcomponents.passthrough \"p\" { input = testcomponents.counter.c.count }\n"}]}`, "Content-Type", "application/json", "X-Flow-Reload", "1")
	if code != 200 {
		t.Fatalf("JSON reload: %d %s", code, body)
	}
	if got := e.rt.ComponentIDs(); len(got) != 2 {
		t.Fatalf("components after JSON reload: %v", got)
	}
	if code, _, _ := e.do("GET", "/-/reload", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /-/reload: %d", code)
	}
}

func TestComponentsAPI(t *testing.T) {
	t.Parallel()
	e := start(t, true)
	var list struct {
		Components []runtime.ComponentInfo `json:"components"`
		Edges      []runtime.EdgeInfo      `json:"edges"`
		ConfigHash string                  `json:"config_hash"`
	}
	e.getJSON("/api/v0/components", &list)
	if len(list.Components) != 5 || len(list.ConfigHash) != 64 {
		t.Fatalf("components = %+v", list)
	}
	byID := map[string]runtime.ComponentInfo{}
	for _, c := range list.Components {
		byID[c.ID] = c
	}
	c := byID["testcomponents.counter.c"]
	if c.Name != "testcomponents.counter" || c.Label != "c" || c.Position.Line != 1 || len(c.ReferencedBy) != 1 || c.ReferencedBy[0] != "testcomponents.passthrough.p" {
		t.Fatalf("counter = %+v", c)
	}
	var sawData bool
	for _, ed := range list.Edges {
		if ed.From == "testcomponents.counter.c" && (ed.To != "testcomponents.passthrough.p" || ed.Export != "count" || ed.Data) {
			t.Errorf("edge = %+v", ed)
		}
		if ed.From == "testcomponents.sink.sink" {
			sawData = ed.Data && ed.Export == "receiver"
		}
	}
	if !sawData {
		t.Errorf("no data edge from the sink in %+v", list.Edges)
	}

	var d struct {
		runtime.ComponentInfo
		Arguments   map[string]any       `json:"arguments"`
		Exports     map[string]any       `json:"exports"`
		Evaluations []runtime.Evaluation `json:"evaluations"`
	}
	e.getJSON("/api/v0/components/testcomponents.secret.s", &d)
	if d.Arguments["password"] != "(secret)" || d.Exports["password"] != "(secret)" {
		t.Fatalf("secret detail = %+v", d)
	}
	if len(d.Evaluations) != 1 || d.Evaluations[0].Cause != "initial load" {
		t.Fatalf("evaluations = %+v", d.Evaluations)
	}
	e.getJSON("/api/v0/components/testcomponents.passthrough.p", &d)
	if d.Arguments["input"] != float64(0) || d.Exports["output"] != "0" {
		t.Fatalf("passthrough detail = %+v", d)
	}
	if code, body, _ := e.do("GET", "/api/v0/components/nope.x", ""); code != 404 || !strings.Contains(body, `component \"nope.x\" does not exist`) {
		t.Fatalf("missing component: %d %s", code, body)
	}
}

func TestConfigIsScrubbedAndSecretsSurviveARoundTrip(t *testing.T) {
	t.Parallel()
	e := start(t, true)
	var cfg struct {
		Files []runtime.ConfigFile `json:"files"`
	}
	e.getJSON("/api/v0/config", &cfg)
	if len(cfg.Files) != 1 || cfg.Files[0].Name != "main.river" {
		t.Fatalf("config = %+v", cfg)
	}
	scrubbed := cfg.Files[0].Content
	if !strings.Contains(scrubbed, `password = "(secret)"`) || !strings.Contains(scrubbed, "input = testcomponents.counter.c.count") {
		t.Fatalf("scrubbed config:\n%s", scrubbed)
	}
	// Posting the scrubbed config back (with an edit) keeps the real secret.
	edited := strings.Replace(scrubbed, "testcomponents.sink \"sink\" {}", "testcomponents.sink \"sink\" {}\ntestcomponents.passthrough \"q\" { input = 2 }", 1)
	if code, body, _ := e.do("POST", "/-/reload", edited, "X-Flow-Reload", "1"); code != 200 {
		t.Fatalf("reload of the scrubbed config: %d %s", code, body)
	}
	ex, _ := e.rt.Exports("testcomponents.secret.s")
	if got := string(ex.(tc.SecretExports).Password); got != secretValue {
		t.Fatalf("secret after round trip = %q", got)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := start(t, true)
	c, _ := e.rt.Component("testcomponents.counter.c")
	c.(*tc.Counter).Increment()
	_, body, _ := e.do("GET", "/metrics", "")
	for _, want := range []string{
		`flow_components{health=`,
		`flow_config_reloads_total{outcome="success"} 1`,
		`flow_config_last_reload_success_timestamp_seconds `,
		`flow_config_hash{sha256="` + e.rt.ConfigHash() + `"} 1`,
		`flow_component_evaluation_seconds_count `,
		`testcomponents_counter_count{component_id="testcomponents.counter.c"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Removing the component removes its metrics.
	if code, _, _ := e.do("POST", "/-/reload", `testcomponents.passthrough "p" { input = 1 }`, "X-Flow-Reload", "1"); code != 200 {
		t.Fatal("reload failed")
	}
	_, body, _ = e.do("GET", "/metrics", "")
	if strings.Contains(body, "testcomponents_counter_count") {
		t.Error("removed component's metrics still exported")
	}
}

func TestEventsStream(t *testing.T) {
	t.Parallel()
	e := start(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v0/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Scan() // the opening comment
	// A reload re-evaluates p too and, if it takes the runtime's lock before
	// the wave does, drops the counter's queued change with it: reload only
	// once the wave's evaluation has been streamed.
	evaluated := make(chan struct{})
	go func() {
		c, _ := e.rt.Component("testcomponents.counter.c")
		c.(*tc.Counter).Increment()
		select {
		case <-evaluated:
		case <-ctx.Done():
			return
		}
		_, _, _ = e.do("POST", "/-/reload", baseConfig+"testcomponents.passthrough \"n\" { input = 1 }\ntestcomponents.fail \"f\" { run_error = \"gone\" }\n", "X-Flow-Reload", "1")
	}()
	seen := map[string]bool{}
	var event string
	for sc.Scan() && !(seen["evaluation"] && seen["graph"] && seen["health"]) {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := strings.TrimPrefix(line, "data: ")
			if event == "evaluation" {
				var ev runtime.EvaluationEvent
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					t.Fatal(err)
				}
				if ev.ID == "testcomponents.passthrough.p" && ev.Cause == "testcomponents.counter.c exports changed" && !seen["evaluation"] {
					seen["evaluation"] = true
					close(evaluated)
				}
			}
			if event == "graph" {
				seen["graph"] = true
			}
			if event == "health" {
				var he runtime.HealthEvent
				if err := json.Unmarshal([]byte(data), &he); err != nil {
					t.Fatal(err)
				}
				if he.ID == "testcomponents.fail.f" && he.Health.Health == component.HealthUnhealthy && strings.Contains(he.Health.Message, "gone") {
					seen["health"] = true
				}
			}
		}
	}
	if !seen["evaluation"] || !seen["graph"] || !seen["health"] {
		t.Fatalf("events seen: %v", seen)
	}
}

func TestComponentHandlerPprofAndFallbackPage(t *testing.T) {
	t.Parallel()
	e := start(t, true)
	code, body, _ := e.do("GET", "/api/v0/component/testcomponents.sink.sink/stats", "")
	if code != 200 || body != "testcomponents.sink.sink received 0 at /stats\n" {
		t.Fatalf("component handler: %d %q", code, body)
	}
	if code, _, _ := e.do("GET", "/api/v0/component/testcomponents.counter.c/x", ""); code != 404 {
		t.Fatalf("component without handler: %d", code)
	}
	if code, body, _ := e.do("GET", "/debug/pprof/", ""); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof: %d", code)
	}
	if code, body, _ := e.do("GET", "/", ""); code != 200 || !strings.Contains(body, "/api/v0/components") {
		t.Fatalf("fallback page: %d %q", code, body)
	}
}
