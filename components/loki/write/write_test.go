package write

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/loki/write/internal/wal"
	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// harness runs a loki.write against a fake Loki.
type harness struct {
	t      *testing.T
	c      *Component
	recv   loki.LogsReceiver
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
}

func startLoki(t *testing.T) *fakeloki.Server {
	t.Helper()
	s, err := fakeloki.Start(fakeloki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func endpointArgs(url string, f func(e *EndpointArgs)) EndpointArgs {
	var e EndpointArgs
	e.SetToDefault()
	e.URL = value.NewURL(url)
	e.BatchWait = 50 * time.Millisecond
	e.MinBackoff = 20 * time.Millisecond
	e.MaxBackoff = 100 * time.Millisecond
	if f != nil {
		f(&e)
	}
	return e
}

func defaultArgs(eps ...EndpointArgs) Arguments {
	var a Arguments
	a.SetToDefault()
	a.Endpoints = eps
	// Shutdown drains the WAL for this long; tests that stop with Loki
	// down should not wait the default 15s.
	a.WAL.DrainTimeout = 2 * time.Second
	return a
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func start(t *testing.T, dataPath string, args Arguments) *harness {
	t.Helper()
	return startWithLogger(t, dataPath, args, testLogger(t))
}

func startWithLogger(t *testing.T, dataPath string, args Arguments, log *slog.Logger) *harness {
	t.Helper()
	h := &harness{t: t, reg: prometheus.NewRegistry(), done: make(chan struct{})}
	c, err := New(component.Options{
		ID:            "loki.write.test",
		Logger:        log,
		Registerer:    h.reg,
		DataPath:      dataPath,
		OnStateChange: func(e component.Exports) { h.recv = e.(Exports).Receiver },
	}, args)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(h.stop)
	return h
}

// stop shuts the component down and waits for Run to return.
func (h *harness) stop() {
	h.cancel()
	testwait.Receive(h.t, 30*time.Second, h.done, "Run did not return after cancellation")
}

func (h *harness) send(entries ...loki.Entry) {
	h.t.Helper()
	if err := h.recv.Send(context.Background(), entries); err != nil {
		h.t.Fatalf("Send: %v", err)
	}
}

func entry(line string, ts time.Time, ls model.LabelSet) loki.Entry {
	return loki.Entry{Labels: ls, Entry: push.Entry{Timestamp: ts, Line: line}}
}

// lines groups received lines by tenant and stream labels.
func lines(got []fakeloki.Entry) map[string][]string {
	out := map[string][]string{}
	for _, e := range got {
		k := e.Tenant + e.Labels.String()
		out[k] = append(out[k], e.Line)
	}
	return out
}

func waitHealth(t *testing.T, c *Component, want component.HealthType, timeout time.Duration) component.Health {
	t.Helper()
	var h component.Health
	if _, ok := testwait.Poll(timeout, func() bool { h = c.CurrentHealth(); return h.Health == want }); !ok {
		t.Fatalf("health is %s (%s), want %s", h.Health, h.Message, want)
	}
	return h
}

func TestPushesStreamsInOrderWithTenantsAndExternalLabels(t *testing.T) {
	lk := startLoki(t)
	args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) {
		e.TenantID = "default-tenant"
		e.Headers = map[string]string{"X-Test": "yes"}
	}))
	args.ExternalLabels = map[string]string{"cluster": "eu-1", "job": "overridden"}
	h := start(t, t.TempDir(), args)

	ts := time.Unix(1700000000, 0)
	a := model.LabelSet{"job": "app", "__aws_internal": "dropped"}
	b := model.LabelSet{"job": "db"}
	other := model.LabelSet{"job": "app", loki.TenantLabel: "team-b"}
	for i := 0; i < 30; i++ {
		h.send(
			entry(fmt.Sprintf("a%02d", i), ts.Add(time.Duration(i)), a),
			entry(fmt.Sprintf("b%02d", i), ts.Add(time.Duration(i)), b),
			entry(fmt.Sprintf("t%02d", i), ts.Add(time.Duration(i)), other),
		)
	}
	if err := lk.WaitForEntries(90, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	got := lines(lk.Entries())
	want := func(prefix string) []string {
		var out []string
		for i := 0; i < 30; i++ {
			out = append(out, fmt.Sprintf("%s%02d", prefix, i))
		}
		return out
	}
	for key, prefix := range map[string]string{
		`default-tenant{cluster="eu-1", job="app"}`: "a",
		`default-tenant{cluster="eu-1", job="db"}`:  "b",
		`team-b{cluster="eu-1", job="app"}`:         "t",
	} {
		if fmt.Sprint(got[key]) != fmt.Sprint(want(prefix)) {
			t.Errorf("stream %s got %v", key, got[key])
		}
	}
	if len(got) != 3 {
		t.Errorf("got streams %v, want exactly 3", keys(got))
	}
	if hl := h.c.CurrentHealth(); hl.Health != component.HealthHealthy {
		t.Errorf("health %v: %s", hl.Health, hl.Message)
	}
}

func keys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestBatchSizeSplitsPushes(t *testing.T) {
	lk := startLoki(t)
	h := start(t, t.TempDir(), defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) {
		e.BatchSize = 1024
		e.BatchWait = time.Hour // only size triggers a push, and shutdown
	})))
	line := strings.Repeat("x", 100)
	var in []loki.Entry
	for i := 0; i < 100; i++ {
		in = append(in, entry(fmt.Sprintf("%03d%s", i, line), time.Unix(0, int64(i)), model.LabelSet{"job": "x"}))
	}
	h.send(in...)
	// 100 entries of 103 bytes in batches of at most 1 KiB: at least 10
	// pushes. The last partial batch goes out only at shutdown.
	if err := lk.WaitForEntries(90, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if r := lk.Stats().Requests; r < 9 {
		t.Fatalf("%d requests for 100 entries of 103 bytes with batch_size 1KiB", r)
	}
	h.stop()
	got := lk.Entries()
	if len(got) != 100 {
		t.Fatalf("%d entries after shutdown flush, want 100", len(got))
	}
	for i, e := range got {
		if !strings.HasPrefix(e.Line, fmt.Sprintf("%03d", i)) {
			t.Fatalf("entry %d is %q: out of order", i, e.Line[:3])
		}
	}
}

func TestRetries5xxAnd429ThenDelivers(t *testing.T) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			lk := startLoki(t)
			lk.Fail(code, 3, "try later")
			h := start(t, t.TempDir(), defaultArgs(endpointArgs(lk.URL(), nil)))
			h.send(entry("one", time.Unix(1, 0), model.LabelSet{"job": "x"}), entry("two", time.Unix(2, 0), model.LabelSet{"job": "x"}))
			if err := lk.WaitForEntries(2, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			if n := len(lk.Entries()); n != 2 {
				t.Fatalf("%d entries arrived, want exactly 2", n)
			}
			if r := testutil.ToFloat64(h.c.m.endpoint.retries); r != 3 {
				t.Fatalf("retries = %v, want 3", r)
			}
			// Health turns healthy when the client handles Loki's answer,
			// after Loki stored the entries: under load that can take
			// more than a second.
			waitHealth(t, h.c, component.HealthHealthy, 30*time.Second)
		})
	}
}

func TestDrops4xxAndCountsThem(t *testing.T) {
	lk := startLoki(t)
	lk.Fail(http.StatusBadRequest, 1, "entry too far behind")
	h := start(t, t.TempDir(), defaultArgs(endpointArgs(lk.URL(), nil)))
	h.send(entry("rejected", time.Unix(1, 0), model.LabelSet{"job": "x"}))
	hl := waitHealth(t, h.c, component.HealthUnhealthy, 30*time.Second)
	if !strings.Contains(hl.Message, "400") || !strings.Contains(hl.Message, "entry too far behind") {
		t.Fatalf("health message %q does not explain the 400", hl.Message)
	}
	if n := testutil.ToFloat64(h.c.m.endpoint.droppedEntries.WithLabelValues(lk.Addr()+"/loki/api/v1/push", "400")); n != 1 {
		t.Fatalf("dropped counter = %v, want 1", n)
	}
	h.send(entry("accepted", time.Unix(2, 0), model.LabelSet{"job": "x"}))
	if err := lk.WaitForEntries(1, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := lk.Entries(); len(got) != 1 || got[0].Line != "accepted" {
		t.Fatalf("got %+v", got)
	}
	waitHealth(t, h.c, component.HealthHealthy, time.Second)
}

func TestWithoutWALDropsAfterMaxRetries(t *testing.T) {
	lk := startLoki(t)
	lk.Fail(http.StatusInternalServerError, -1, "down")
	args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) { e.MaxBackoffRetries = 2 }))
	args.WAL.Enabled = false
	h := start(t, "", args)
	h.send(entry("lost", time.Unix(1, 0), model.LabelSet{"job": "x"}))
	name := lk.Addr() + "/loki/api/v1/push"
	testwait.Eventually(t, 30*time.Second, func() bool {
		return testutil.ToFloat64(h.c.m.endpoint.droppedEntries.WithLabelValues(name, "max_retries")) == 1
	}, "entry not dropped after max_backoff_retries")
	if r := lk.Stats().Requests; r != 3 {
		t.Fatalf("%d attempts, want 3 (one plus two retries)", r)
	}
	hl := h.c.CurrentHealth()
	if hl.Health != component.HealthUnhealthy || !strings.Contains(hl.Message, name) {
		t.Fatalf("health %v %q, want unhealthy naming the endpoint", hl.Health, hl.Message)
	}
}

func TestWALKeepsRetryingThroughOutageAndReportsHealth(t *testing.T) {
	lk := startLoki(t)
	lk.Down()
	h := start(t, t.TempDir(), defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) {
		e.Name = "primary"
		e.MaxBackoffRetries = 1 // ignored with a WAL: nothing is dropped
	})))
	for i := 0; i < 50; i++ {
		h.send(entry(fmt.Sprint(i), time.Unix(int64(i), 0), model.LabelSet{"job": "x"}))
	}
	hl := waitHealth(t, h.c, component.HealthUnhealthy, 30*time.Second)
	if !strings.Contains(hl.Message, `"primary"`) || !strings.Contains(hl.Message, "connection refused") {
		t.Fatalf("health message %q should name the endpoint and the error", hl.Message)
	}
	// The backlog is counted within about 100 ms of the appends (more under
	// load): poll for it rather than sleep.
	var d DebugInfo
	if _, ok := testwait.Poll(30*time.Second, func() bool {
		d = h.c.DebugInfo().(DebugInfo)
		return d.WALEnabled && len(d.Endpoints) == 1 && !d.Endpoints[0].Healthy && d.Endpoints[0].BacklogBytes != 0 && d.Endpoints[0].LastError != ""
	}); !ok {
		t.Fatalf("debug info during the outage: %+v", d)
	}
	if err := lk.Up(); err != nil {
		t.Fatal(err)
	}
	// Delivery waits for the next retry; the bound is for a loaded machine.
	if err := lk.WaitForEntries(50, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, h.c, component.HealthHealthy, 30*time.Second)
	// Loki holds the last batch before it answers, and the client counts it
	// sent only on the answer: wait for the count to catch up.
	if _, ok := testwait.Poll(30*time.Second, func() bool {
		d = h.c.DebugInfo().(DebugInfo)
		return d.Endpoints[0].EntriesSent == 50 && d.Endpoints[0].Healthy
	}); !ok {
		t.Fatalf("debug info after the outage: %+v", d)
	}
	if d := testutil.ToFloat64(h.c.m.endpoint.droppedEntries.WithLabelValues("primary", "max_retries")); d != 0 {
		t.Fatalf("%v entries dropped with the WAL on", d)
	}
}

func TestShutdownFlushesPendingBatch(t *testing.T) {
	lk := startLoki(t)
	h := start(t, t.TempDir(), defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) { e.BatchWait = time.Hour })))
	h.send(entry("pending", time.Unix(1, 0), model.LabelSet{"job": "x"}))
	time.Sleep(50 * time.Millisecond)
	if len(lk.Entries()) != 0 {
		t.Fatal("pushed before batch_wait")
	}
	h.stop()
	if got := lk.Entries(); len(got) != 1 {
		t.Fatalf("%d entries after shutdown, want the pending one", len(got))
	}
}

func TestShutdownWithoutWALDrainsQueue(t *testing.T) {
	lk := startLoki(t)
	args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) { e.BatchWait = time.Hour; e.BatchSize = 512 }))
	args.WAL.Enabled = false
	h := start(t, "", args)
	for i := 0; i < 200; i++ {
		h.send(entry(fmt.Sprintf("%03d-%s", i, strings.Repeat("y", 60)), time.Unix(int64(i), 0), model.LabelSet{"job": "x"}))
	}
	h.stop()
	if got := lk.Entries(); len(got) != 200 {
		t.Fatalf("%d of 200 entries delivered at shutdown", len(got))
	}
}

func TestReloadFlushesAndLosesNothing(t *testing.T) {
	for _, walOn := range []bool{true, false} {
		t.Run(fmt.Sprintf("wal=%v", walOn), func(t *testing.T) {
			lk := startLoki(t)
			ep := endpointArgs(lk.URL(), func(e *EndpointArgs) { e.Name = "main"; e.BatchWait = time.Hour })
			args := defaultArgs(ep)
			args.WAL.Enabled = walOn
			dir := ""
			if walOn {
				dir = t.TempDir()
			}
			h := start(t, dir, args)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 300; i++ {
					h.send(entry(fmt.Sprintf("%04d", i), time.Unix(0, int64(i)), model.LabelSet{"job": "x"}))
				}
			}()
			for i := 0; i < 5; i++ {
				time.Sleep(5 * time.Millisecond)
				ep.Headers = map[string]string{"X-Reload": fmt.Sprint(i)}
				args.Endpoints = []EndpointArgs{ep}
				if err := h.c.Update(args); err != nil {
					t.Fatal(err)
				}
			}
			wg.Wait()
			h.stop()
			got := lk.Entries()
			seen := map[string]bool{}
			for _, e := range got {
				seen[e.Line] = true
			}
			for i := 0; i < 300; i++ {
				if !seen[fmt.Sprintf("%04d", i)] {
					t.Fatalf("entry %04d lost across reloads (%d delivered)", i, len(got))
				}
			}
		})
	}
}

func TestWALReplaysAfterRestartAndDeletesDeliveredSegments(t *testing.T) {
	lk := startLoki(t)
	lk.Down()
	dir := t.TempDir()
	args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) { e.Name = "main" }))
	args.WAL.MaxSegmentSize = 4096
	h := start(t, dir, args)
	for i := 0; i < 500; i++ {
		h.send(entry(fmt.Sprintf("%04d-%s", i, strings.Repeat("z", 50)), time.Unix(0, int64(i)), model.LabelSet{"job": "x"}))
	}
	h.stop() // Loki is down: nothing delivered, all in the WAL
	segs, _ := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	if len(segs) < 5 {
		t.Fatalf("%d segments for 500 entries in 4 KiB segments", len(segs))
	}
	if err := lk.Up(); err != nil {
		t.Fatal(err)
	}
	h2 := start(t, dir, args)
	if err := lk.WaitForEntries(500, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	got := lk.Entries()
	for i := 0; i < 500; i++ {
		if !strings.HasPrefix(got[i].Line, fmt.Sprintf("%04d-", i)) {
			t.Fatalf("entry %d is %q", i, got[i].Line[:5])
		}
	}
	// Every segment but the current one is deleted once delivered.
	if _, ok := testwait.Poll(30*time.Second, func() bool {
		segs, _ = filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
		return len(segs) == 1
	}); !ok {
		t.Fatalf("%d segments left after delivery, want 1", len(segs))
	}
	h2.stop()
}

// TestWALSurvivesSimulatedCrash copies the WAL directory of a running
// component whose Loki is down (what a kill -9 leaves behind), tears the last
// record as an interrupted write would, and starts a new component on the
// copy: every entry Send acknowledged is delivered.
func TestWALSurvivesSimulatedCrash(t *testing.T) {
	lk := startLoki(t)
	lk.Down()
	dir := t.TempDir()
	args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) { e.Name = "main" }))
	h := start(t, dir, args)
	for i := 0; i < 100; i++ {
		h.send(entry(fmt.Sprintf("%03d", i), time.Unix(0, int64(i)), model.LabelSet{"job": "x"}))
	}
	crash := t.TempDir()
	copyDir(t, filepath.Join(dir, "wal"), filepath.Join(crash, "wal"))
	segs, _ := filepath.Glob(filepath.Join(crash, "wal", "*.wal"))
	f, err := os.OpenFile(segs[len(segs)-1], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{200, 0, 0, 0, 1, 2, 3, 4, 'p', 'a', 'r', 't'}) // a torn record
	f.Close()

	if err := lk.Up(); err != nil {
		t.Fatal(err)
	}
	h2 := start(t, crash, args)
	if err := lk.WaitForEntries(100, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range lk.Entries() {
		seen[e.Line]++
	}
	for i := 0; i < 100; i++ {
		if seen[fmt.Sprintf("%03d", i)] == 0 {
			t.Fatalf("acknowledged entry %03d lost in the crash", i)
		}
	}
	if n := testutil.ToFloat64(h2.c.m.walCorruptions); n != 1 {
		t.Fatalf("torn records reported = %v, want 1", n)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	des, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		in, err := os.Open(filepath.Join(from, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := os.Create(filepath.Join(to, de.Name()))
		io.Copy(out, in)
		in.Close()
		out.Close()
	}
}

func TestMaxStreamsSplitsBatchesWithoutDropping(t *testing.T) {
	lk := startLoki(t)
	args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) { e.BatchWait = time.Hour }))
	args.MaxStreams = 2
	h := start(t, t.TempDir(), args)
	var in []loki.Entry
	for i := 0; i < 10; i++ {
		in = append(in, entry(fmt.Sprint(i), time.Unix(0, int64(i)), model.LabelSet{"stream": model.LabelValue(fmt.Sprint(i % 5))}))
	}
	h.send(in...)
	if err := lk.WaitForEntries(8, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	h.stop()
	if n := len(lk.Entries()); n != 10 {
		t.Fatalf("%d of 10 entries delivered", n)
	}
	if r := lk.Stats().Requests; r < 3 {
		t.Fatalf("%d requests for 5 streams with max_streams 2, want at least 3", r)
	}
}

func TestEntriesWithoutLabelsAreDiscarded(t *testing.T) {
	lk := startLoki(t)
	h := start(t, t.TempDir(), defaultArgs(endpointArgs(lk.URL(), nil)))
	h.send(entry("nolabels", time.Unix(1, 0), model.LabelSet{"__only_internal": "x"}), entry("ok", time.Unix(1, 0), model.LabelSet{"job": "x"}))
	if err := lk.WaitForEntries(1, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(h.c.m.entriesNoLabels); n != 1 {
		t.Fatalf("discarded counter = %v, want 1", n)
	}
}

func TestValidate(t *testing.T) {
	for name, f := range map[string]func(a *Arguments){
		"bad url":        func(a *Arguments) { a.Endpoints[0].URL = value.NewURL("loki:3100") },
		"duplicate name": func(a *Arguments) { a.Endpoints = append(a.Endpoints, a.Endpoints[0]) },
		"bad label":      func(a *Arguments) { a.ExternalLabels = map[string]string{"a-b": "x"} },
		"zero batch":     func(a *Arguments) { a.Endpoints[0].BatchSize = 0 },
		"backoff order":  func(a *Arguments) { a.Endpoints[0].MinBackoff = time.Hour },
	} {
		a := defaultArgs(endpointArgs("http://127.0.0.1:1/loki/api/v1/push", nil))
		f(&a)
		if err := a.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	a := defaultArgs(endpointArgs("https://user:hunter2@logs.example.com/loki/api/v1/push", nil))
	a.Endpoints[0].BatchSize = -1
	if err := a.Validate(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v must exist and must not show the URL's password", err)
	}
}

func TestHTTPClientAuthReachesLoki(t *testing.T) {
	for name, tc := range map[string]struct {
		set  func(e *EndpointArgs)
		want string
	}{
		"bearer_token": {func(e *EndpointArgs) { e.HTTPClient.BearerToken = "tok-123" }, "Bearer tok-123"},
		"basic_auth": {func(e *EndpointArgs) {
			e.HTTPClient.BasicAuth = &httpclient.BasicAuth{Username: "u", Password: "p"}
		}, "Basic dTpw"},
	} {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var auth []string
			lk, err := fakeloki.Start(fakeloki.Options{Wrap: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					auth = append(auth, r.Header.Get("Authorization"))
					mu.Unlock()
					h.ServeHTTP(w, r)
				})
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer lk.Close()
			h := start(t, t.TempDir(), defaultArgs(endpointArgs(lk.URL(), tc.set)))
			h.send(entry("x", time.Unix(1, 0), model.LabelSet{"job": "x"}))
			if err := lk.WaitForEntries(1, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(auth) == 0 || auth[0] != tc.want {
				t.Fatalf("Authorization %q, want %q", auth, tc.want)
			}
		})
	}
}

// TestPositionsSavedAtMostEverySecond: while batches are delivered the
// positions file is rewritten at most every positionsSaveInterval, and the
// last commits of a burst reach it by a timer, so that a crash after the
// component has gone idle sends nothing again; a graceful stop writes them
// at once.
func TestPositionsSavedAtMostEverySecond(t *testing.T) {
	lk := startLoki(t)
	dir := t.TempDir()
	args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) {
		e.Name = "main"
		e.BatchWait = 5 * time.Millisecond
	}))
	h := start(t, dir, args)
	posPath := filepath.Join(dir, "wal", wal.PositionsFile)
	// Count the rewrites of the positions file while 40 batches are
	// delivered one after the other.
	var writes int
	var last time.Time
	started := time.Now()
	for i := 0; i < 40; i++ {
		h.send(loki.Entry{Labels: model.LabelSet{"job": "pos"}, Entry: push.Entry{Timestamp: time.Unix(1700000000, int64(i)), Line: fmt.Sprintf("line %d", i)}})
		if err := lk.WaitForEntries(int64(i+1), 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(posPath); err == nil && !st.ModTime().Equal(last) {
			writes++
			last = st.ModTime()
		}
	}
	if allowed := int(time.Since(started)/positionsSaveInterval) + 2; writes > allowed {
		t.Errorf("positions file written %d times for 40 deliveries in %v, want at most %d", writes, time.Since(started).Round(time.Millisecond), allowed)
	}
	// Idle now: the timer writes the last commit. A crash then (the WAL
	// directory copied as it is) replays nothing.
	end := h.c.wal.Durable()
	testwait.Eventually(t, 30*time.Second, func() bool {
		pos, err := wal.LoadPositions(posPath)
		return err == nil && pos["main"] == end
	}, "the last delivered position never reached the positions file")
	crash := t.TempDir()
	copyDir(t, filepath.Join(dir, "wal"), filepath.Join(crash, "wal"))
	h.stop()
	h2 := start(t, crash, args)
	h2.stop() // which delivers what the WAL holds past its position

	if n := len(lk.Entries()); n != 40 {
		t.Fatalf("%d entries in Loki after the restart, want 40 (none sent again)", n)
	}
}
