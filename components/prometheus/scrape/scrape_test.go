package scrape

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
)

// target is a scrape target backed by a real client_golang registry, so it
// speaks every exposition format by content negotiation.
type target struct {
	srv *httptest.Server
	reg *prometheus.Registry

	mu           sync.Mutex
	contentTypes []string
	scrapes      int
}

func newTarget(t *testing.T, name string, value float64) *target {
	tg := &target{reg: prometheus.NewRegistry()}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "A test gauge."})
	g.Set(value)
	tg.reg.MustRegister(g)
	h := promhttp.HandlerFor(tg.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		tg.mu.Lock()
		tg.contentTypes = append(tg.contentTypes, w.Header().Get("Content-Type"))
		tg.scrapes++
		tg.mu.Unlock()
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *target) addr() string {
	u, _ := url.Parse(tg.srv.URL)
	return u.Host
}

func (tg *target) lastContentType() string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if len(tg.contentTypes) == 0 {
		return ""
	}
	return tg.contentTypes[len(tg.contentTypes)-1]
}

func fastArgs(rec storage.Appendable, targets ...map[string]string) Arguments {
	var a Arguments
	a.SetToDefault()
	a.ScrapeInterval = 200 * time.Millisecond
	a.ScrapeTimeout = 150 * time.Millisecond
	a.ForwardTo = []storage.Appendable{rec}
	a.Targets = targets
	return a
}

// find returns the latest sample of a series with the given name and
// instance, or false.
func find(rec *promtest.Recorder, name, instance string) (promtest.Sample, bool) {
	var last promtest.Sample
	found := false
	for _, s := range rec.Samples() {
		if s.Labels.Get("__name__") == name && s.Labels.Get("instance") == instance {
			last, found = s, true
		}
	}
	return last, found
}

func TestScrapeFormats(t *testing.T) {
	for _, tc := range []struct {
		protocols []string
		wantCT    string
	}{
		{[]string{"PrometheusText0.0.4"}, "text/plain"},
		{[]string{"OpenMetricsText1.0.0"}, "application/openmetrics-text"},
		{[]string{"PrometheusProto"}, "application/vnd.google.protobuf"},
	} {
		t.Run(tc.protocols[0], func(t *testing.T) {
			tg := newTarget(t, "test_gauge", 42)
			rec := promtest.NewRecorder()
			opts, _, _ := promtest.Options(t, "prometheus.scrape.formats")
			a := fastArgs(rec, map[string]string{"__address__": tg.addr(), "team": "a"})
			a.ScrapeProtocols = tc.protocols
			c, err := New(opts, a)
			if err != nil {
				t.Fatal(err)
			}
			promtest.Run(t, c)

			testwait.Eventually(t, 10*time.Second, func() bool {
				_, ok := find(rec, "test_gauge", tg.addr())
				return ok
			}, "test_gauge sample")
			s, _ := find(rec, "test_gauge", tg.addr())
			if s.V != 42 || s.Labels.Get("job") != opts.ID || s.Labels.Get("team") != "a" {
				t.Errorf("sample %v = %v: want 42 with job=%s team=a", s.Labels, s.V, opts.ID)
			}
			if ct := tg.lastContentType(); !strings.HasPrefix(ct, tc.wantCT) {
				t.Errorf("target answered %q, want %s", ct, tc.wantCT)
			}
			for _, name := range []string{"up", "scrape_duration_seconds", "scrape_samples_scraped"} {
				testwait.Eventually(t, 20*time.Second, func() bool { _, ok := find(rec, name, tg.addr()); return ok }, "%s", name)
			}
			if up, _ := find(rec, "up", tg.addr()); up.V != 1 {
				t.Errorf("up = %v, want 1", up.V)
			}
		})
	}
}

// TestTargetChangesKeepLoops checks that when the list of targets changes,
// the targets that stay keep their scrape loop (the very same Target object,
// never restarted), a new target starts, and a removed one stops with
// staleness markers for its series.
func TestTargetChangesKeepLoops(t *testing.T) {
	a1, a2, a3 := newTarget(t, "g_one", 1), newTarget(t, "g_two", 2), newTarget(t, "g_three", 3)
	rec := promtest.NewRecorder()
	opts, _, _ := promtest.Options(t, "prometheus.scrape.sync")
	args := fastArgs(rec, map[string]string{"__address__": a1.addr()}, map[string]string{"__address__": a2.addr()})
	c, err := New(opts, args)
	if err != nil {
		t.Fatal(err)
	}
	promtest.Run(t, c)

	byAddr := func() map[string]*scrape.Target {
		m := map[string]*scrape.Target{}
		for _, tg := range c.activeTargets() {
			m[tg.URL().Host] = tg
		}
		return m
	}
	testwait.Eventually(t, 10*time.Second, func() bool {
		_, ok1 := find(rec, "g_one", a1.addr())
		_, ok2 := find(rec, "g_two", a2.addr())
		return ok1 && ok2
	}, "both targets scraped")
	before := byAddr()

	args.Targets = append(args.Targets, map[string]string{"__address__": a3.addr()})
	if err := c.Update(args); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 10*time.Second, func() bool { _, ok := find(rec, "g_three", a3.addr()); return ok }, "third target scraped")
	after := byAddr()
	for _, addr := range []string{a1.addr(), a2.addr()} {
		if before[addr] != after[addr] {
			t.Errorf("target %s was recreated when another target was added", addr)
		}
	}

	// Remove the second target: its loop stops and writes staleness markers.
	args.Targets = []map[string]string{{"__address__": a1.addr()}, {"__address__": a3.addr()}}
	if err := c.Update(args); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 10*time.Second, func() bool {
		s, ok := find(rec, "g_two", a2.addr())
		return ok && value.IsStaleNaN(s.V)
	}, "staleness marker for g_two")
	final := byAddr()
	if _, ok := final[a2.addr()]; ok {
		t.Error("removed target still active")
	}
	if final[a1.addr()] != before[a1.addr()] || final[a3.addr()] != after[a3.addr()] {
		t.Error("remaining targets were recreated when another target was removed")
	}
	a1.mu.Lock()
	n := a1.scrapes
	a1.mu.Unlock()
	if n < 3 {
		t.Errorf("first target scraped %d times, expected its loop to keep running", n)
	}
}

func TestFailingTargetsAndHealth(t *testing.T) {
	good := newTarget(t, "g_good", 1)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer bad.Close()
	badAddr := strings.TrimPrefix(bad.URL, "http://")

	rec := promtest.NewRecorder()
	opts, _, _ := promtest.Options(t, "prometheus.scrape.health")
	args := fastArgs(rec, map[string]string{"__address__": good.addr()}, map[string]string{"__address__": badAddr})
	c, err := New(opts, args)
	if err != nil {
		t.Fatal(err)
	}
	promtest.Run(t, c)

	testwait.Eventually(t, 10*time.Second, func() bool {
		var bad, ok bool
		for _, ti := range c.DebugInfo().(debugInfo).Targets {
			if strings.Contains(ti.URL, badAddr) && ti.Health == "down" && strings.Contains(ti.LastError, "500") {
				bad = true
			}
			if strings.Contains(ti.URL, good.addr()) && ti.Health == "up" {
				ok = true
			}
		}
		return bad && ok
	}, "bad target reported down and good one up")
	if up, ok := find(rec, "up", badAddr); !ok || up.V != 0 {
		t.Errorf("up for failing target = %v (found %v), want 0", up.V, ok)
	}
	if h := c.CurrentHealth(); h.Health != component.HealthHealthy {
		t.Errorf("one target failing: health %v (%s), want healthy", h.Health, h.Message)
	}
	for _, ti := range c.DebugInfo().(debugInfo).Targets {
		if strings.Contains(ti.URL, good.addr()) && (ti.Health != "up" || ti.LastScrape == "" || ti.Labels["job"] != opts.ID) {
			t.Errorf("good target debug info %+v", ti)
		}
	}

	// Only the failing target left: the component turns unhealthy, naming it.
	args.Targets = args.Targets[1:]
	if err := c.Update(args); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 10*time.Second, func() bool {
		h := c.CurrentHealth()
		return h.Health == component.HealthUnhealthy && strings.Contains(h.Message, badAddr)
	}, "unhealthy with every target failing")
}

func TestArgumentsValidation(t *testing.T) {
	cases := []struct {
		mod  func(*Arguments)
		want string
	}{
		{func(a *Arguments) { a.ScrapeTimeout = 2 * time.Minute }, "must not be greater than scrape_interval"},
		{func(a *Arguments) { a.Scheme = "ftp" }, "scheme"},
		{func(a *Arguments) { a.ScrapeProtocols = []string{"Carrier-Pigeon"} }, "scrape_protocols"},
		{func(a *Arguments) { a.HTTPClient.BearerToken = "x"; a.HTTPClient.BearerTokenFile = "/y" }, "at most one"},
		{func(a *Arguments) { a.MetricsPath = "metrics" }, "metrics_path"},
	}
	for i, tc := range cases {
		var a Arguments
		a.SetToDefault()
		tc.mod(&a)
		if err := a.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("case %d: Validate() = %v, want error containing %q", i, err, tc.want)
		}
	}
	var a Arguments
	a.SetToDefault()
	if err := a.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	sc, _ := a.scrapeConfig("prometheus.scrape.x")
	if sc.JobName != "prometheus.scrape.x" || time.Duration(sc.ScrapeInterval) != time.Minute || sc.MetricsPath != "/metrics" {
		t.Errorf("defaults not Prometheus': %+v", sc)
	}
}
