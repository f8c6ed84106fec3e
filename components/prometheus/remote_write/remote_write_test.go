package remotewrite

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/components/prometheus/internal/rwtest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// testArgs sends to url with a short batch deadline and backoff so tests
// see results quickly.
func testArgs(url string, mod ...func(*EndpointOptions)) Arguments {
	var a Arguments
	a.SetToDefault()
	var ep EndpointOptions
	ep.SetToDefault()
	ep.URL = value.NewURL(url)
	ep.Name = "test"
	ep.QueueOptions.BatchSendDeadline = 100 * time.Millisecond
	ep.QueueOptions.MaxBackoff = 500 * time.Millisecond
	for _, m := range mod {
		m(&ep)
	}
	a.Endpoints = []EndpointOptions{ep}
	return a
}

func start(t *testing.T, args Arguments) (*Component, storage.Appendable, *prometheus.Registry) {
	t.Helper()
	opts, ex, reg := promtest.Options(t, "prometheus.remote_write.test")
	c, err := New(opts, args)
	if err != nil {
		t.Fatal(err)
	}
	promtest.Run(t, c)
	return c, ex.Last().(Exports).Receiver, reg
}

// generator appends one sample per series per tick with increasing, current
// timestamps and remembers every (series, timestamp) it committed.
type generator struct {
	recv   storage.Appendable
	series []labels.Labels

	mu        sync.Mutex
	committed map[string][]int64
	last      int64 // the last tick's timestamp
}

func newGenerator(recv storage.Appendable, n int, extra ...string) *generator {
	g := &generator{recv: recv, committed: map[string][]int64{}}
	for i := 0; i < n; i++ {
		g.series = append(g.series, labels.FromStrings(append([]string{"__name__", "test_metric", "series", fmt.Sprint(i)}, extra...)...))
	}
	return g
}

// warmUp appends until the receiver has something, then forgets what it
// appended, so that a test counts only what it appends afterwards.
func (g *generator) warmUp(t testing.TB, r *rwtest.Receiver) {
	t.Helper()
	testwait.Eventually(t, 20*time.Second, func() bool {
		if r.Stats().Samples > 0 {
			return true
		}
		g.tick(t)
		return false
	}, "nothing arrived within 20s")
	g.mu.Lock()
	g.committed = map[string][]int64{}
	g.mu.Unlock()
}

func (g *generator) tick(t testing.TB) {
	// Strictly increasing even if the wall clock steps back (other tests
	// on the machine may set it).
	g.mu.Lock()
	ts := max(time.Now().UnixMilli(), g.last+1)
	g.last = ts
	g.mu.Unlock()
	app := g.recv.Appender(context.Background())
	for _, s := range g.series {
		if _, err := app.Append(0, s, ts, float64(ts)); err != nil {
			_ = app.Rollback()
			t.Fatalf("append: %v", err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	g.mu.Lock()
	for _, s := range g.series {
		g.committed[s.String()] = append(g.committed[s.String()], ts)
	}
	g.mu.Unlock()
}

// run ticks every interval until stop is closed.
func (g *generator) run(t testing.TB, interval time.Duration, stop <-chan struct{}) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			g.tick(t)
		}
	}
}

func (g *generator) total() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, ts := range g.committed {
		n += len(ts)
	}
	return n
}

// missing lists committed samples the receiver does not have.
func (g *generator) missing(r *rwtest.Receiver, extLabels ...string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, s := range g.series {
		key := s
		if len(extLabels) > 0 {
			b := labels.NewBuilder(s)
			for i := 0; i < len(extLabels); i += 2 {
				b.Set(extLabels[i], extLabels[i+1])
			}
			key = b.Labels()
		}
		for _, ts := range g.committed[s.String()] {
			if !r.Has(key.String(), ts) {
				out = append(out, fmt.Sprintf("%s@%d", key, ts))
			}
		}
	}
	return out
}

func waitAll(t *testing.T, g *generator, r *rwtest.Receiver, timeout time.Duration, ext ...string) {
	t.Helper()
	var miss []string
	if _, ok := testwait.Poll(timeout, func() bool {
		miss = g.missing(r, ext...)
		return len(miss) == 0
	}); ok {
		return
	}
	t.Fatalf("%d of %d samples never arrived, e.g. %v", len(miss), g.total(), miss[:min(3, len(miss))])
}

func TestRemoteWrite1And2FollowSpec(t *testing.T) {
	for _, proto := range []string{"prometheus.WriteRequest", "io.prometheus.write.v2.Request"} {
		t.Run(proto, func(t *testing.T) {
			r := rwtest.Start(t)
			args := testArgs(r.URL(), func(ep *EndpointOptions) {
				ep.ProtobufMessage = proto
				ep.Headers = map[string]value.Secret{"X-Scope-OrgID": "tenant-1"}
			})
			args.ExternalLabels = map[string]string{"cluster": "c1"}
			_, recv, _ := start(t, args)

			g := newGenerator(recv, 20)
			g.warmUp(t, r)
			for i := 0; i < 5; i++ {
				g.tick(t)
				time.Sleep(20 * time.Millisecond)
			}
			waitAll(t, g, r, 20*time.Second, "cluster", "c1")

			st := r.Stats()
			if len(st.SpecViolations) > 0 {
				t.Errorf("spec violations: %v", st.SpecViolations)
			}
			if st.Duplicates != 0 {
				t.Errorf("%d samples arrived twice", st.Duplicates)
			}
			for _, req := range r.Requests() {
				wantCT := "application/x-protobuf"
				if req.Version == "2.0" {
					wantCT += ";proto=io.prometheus.write.v2.Request"
					if req.Symbols < 2 {
						t.Errorf("2.0 request with %d symbols", req.Symbols)
					}
				}
				if !strings.HasPrefix(req.ContentType, wantCT) || req.ContentEncoding != "snappy" {
					t.Errorf("request headers %q %q", req.ContentType, req.ContentEncoding)
				}
				if want := map[string]string{"prometheus.WriteRequest": "1.0", "io.prometheus.write.v2.Request": "2.0"}[proto]; req.Version != want {
					t.Errorf("request version %s, want %s", req.Version, want)
				}
				if got := req.Header.Get("X-Scope-OrgID"); got != "tenant-1" {
					t.Errorf("custom header X-Scope-OrgID = %q", got)
				}
			}
		})
	}
}

func TestHealthFollowsSends(t *testing.T) {
	r := rwtest.Start(t)
	c, recv, reg := start(t, testArgs(r.URL()))
	g := newGenerator(recv, 5)
	g.warmUp(t, r)
	g.tick(t)
	waitAll(t, g, r, 20*time.Second)
	if h := c.CurrentHealth(); h.Health != component.HealthHealthy {
		t.Fatalf("health %v: %s", h.Health, h.Message)
	}

	// Every send fails with 503: unhealthy, naming the endpoint and error.
	r.Status.Store(503)
	stop := g.background(t, 50*time.Millisecond)
	testwait.Eventually(t, 20*time.Second, func() bool {
		h := c.CurrentHealth()
		return h.Health == component.HealthUnhealthy && strings.Contains(h.Message, `endpoint "test"`) && strings.Contains(h.Message, "503")
	}, "unhealthy while sends fail")
	di := c.DebugInfo().(debugInfo)
	if len(di.Endpoints) != 1 || di.Endpoints[0].Failed == 0 || !strings.Contains(di.Endpoints[0].LastError, "503") {
		t.Errorf("debug info %+v", di)
	}

	// The receiver recovers: healthy again by itself, and the retried
	// samples arrive, none twice.
	r.Status.Store(0)
	testwait.Eventually(t, 20*time.Second, func() bool {
		return c.CurrentHealth().Health == component.HealthHealthy
	}, "healthy after recovery")
	stop()
	waitAll(t, g, r, 30*time.Second)
	if d := r.Stats().Duplicates; d != 0 {
		t.Errorf("%d samples arrived twice", d)
	}
	if v := metricValue(t, reg, "prometheus_remote_storage_samples_retried_total"); v == 0 {
		t.Error("no retries counted while the receiver answered 503")
	}
}

func TestClientErrorsDropWithCounter(t *testing.T) {
	r := rwtest.Start(t)
	c, recv, reg := start(t, testArgs(r.URL()))
	g := newGenerator(recv, 3)
	g.warmUp(t, r)
	r.Status.Store(400)
	g.tick(t)
	testwait.Eventually(t, 20*time.Second, func() bool {
		return metricValue(t, reg, "prometheus_remote_storage_samples_failed_total") >= 3
	}, "failed samples counted")
	testwait.Eventually(t, 10*time.Second, func() bool {
		h := c.CurrentHealth()
		return h.Health == component.HealthUnhealthy && strings.Contains(h.Message, "400")
	}, "unhealthy with 400")
	// Dropped, not retried: once the receiver accepts again, those samples
	// do not come back.
	r.Status.Store(0)
	g2 := newGenerator(recv, 3)
	g2.series = g.series
	time.Sleep(200 * time.Millisecond)
	g2.tick(t)
	waitAll(t, g2, r, 20*time.Second)
	if miss := g.missing(r); len(miss) != 3 {
		t.Errorf("%d of the rejected samples arrived later; 4xx must drop them", 3-len(miss))
	}
}

func metricValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += metricNumber(m)
		}
	}
	return sum
}

func metricNumber(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	return 0
}

// TestReceiverOutage: the receiver is down (connection refused) for 60 s
// while samples keep coming; once it is back, every sample arrives and
// none arrives twice. The WAL watcher waits on the blocked queue and reads
// on from where it was.
func TestReceiverOutage(t *testing.T) {
	testwait.Long(t, "a 60 s receiver outage")
	r := rwtest.Start(t)
	c, recv, _ := start(t, testArgs(r.URL()))
	g := newGenerator(recv, 200)
	g.warmUp(t, r)
	stop := g.background(t, 250*time.Millisecond)

	time.Sleep(2 * time.Second)
	r.Stop()
	testwait.Eventually(t, 20*time.Second, func() bool {
		return c.CurrentHealth().Health == component.HealthUnhealthy
	}, "unhealthy during the outage")
	time.Sleep(60 * time.Second)
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	stop()

	waitAll(t, g, r, 60*time.Second)
	st := r.Stats()
	if st.Duplicates != 0 {
		t.Errorf("%d samples arrived twice", st.Duplicates)
	}
	if len(st.SpecViolations) > 0 {
		t.Errorf("spec violations: %v", st.SpecViolations)
	}
	testwait.Eventually(t, 20*time.Second, func() bool {
		return c.CurrentHealth().Health == component.HealthHealthy
	}, "healthy after the outage")
	t.Logf("%d samples committed, all delivered once (%d requests)", g.total(), st.AcceptedRequests)
}

// TestUpdatesKeepData changes the component while samples flow: a new
// header (the client is swapped under the running queue), a new queue
// setting (Prometheus restarts the queue; flow replays what it had not
// sent), new WAL settings (the WAL is reopened). No sample is lost.
func TestUpdatesKeepData(t *testing.T) {
	r := rwtest.Start(t)
	args := testArgs(r.URL())
	c, recv, _ := start(t, args)
	g := newGenerator(recv, 20)
	g.warmUp(t, r)
	stop := g.background(t, 20*time.Millisecond)

	step := func(what string, mod func(a *Arguments)) {
		t.Helper()
		time.Sleep(500 * time.Millisecond)
		a := testArgs(r.URL())
		a.Endpoints[0].Headers = args.Endpoints[0].Headers
		a.Endpoints[0].QueueOptions = args.Endpoints[0].QueueOptions
		a.WAL = args.WAL
		mod(&a)
		if err := c.Update(a); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		args = a
	}
	client := clientOf(c, "test")
	step("header", func(a *Arguments) { a.Endpoints[0].Headers = map[string]value.Secret{"X-Scope-OrgID": "t2"} })
	if clientOf(c, "test") == client {
		t.Error("client not rebuilt for a new header")
	}
	step("queue", func(a *Arguments) { a.Endpoints[0].QueueOptions.Capacity = 5000 })
	step("wal", func(a *Arguments) { a.WAL.TruncateFrequency = time.Hour })
	time.Sleep(500 * time.Millisecond)
	stop()

	waitAll(t, g, r, 30*time.Second)
	var sawHeader bool
	for _, req := range r.Requests() {
		if req.Header.Get("X-Scope-OrgID") == "t2" {
			sawHeader = true
		}
	}
	if !sawHeader {
		t.Error("no request carried the new header")
	}
	t.Logf("%d samples across three updates, %d duplicates", g.total(), r.Stats().Duplicates)
}

// clientOf returns the endpoint's client as Update last set it (under the
// component's lock: Update replaces the map).
func clientOf(c *Component, name string) *endpointClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clients[name]
}
