package scrapeloop

import (
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/internal/testwait"
)

// recorder is a storage.Appendable that keeps, per series, everything
// committed to it in order: values (staleness markers as "stale"),
// histograms, exemplars and metadata. It hands out references as a
// storage does and checks that a reference it gets back names the series
// it was issued for.
type recorder struct {
	mu      sync.Mutex
	refs    map[string]storage.SeriesRef
	byRef   map[storage.SeriesRef]string
	events  map[string][]string
	badRefs int
}

func newRecorder() *recorder {
	return &recorder{refs: map[string]storage.SeriesRef{}, byRef: map[storage.SeriesRef]string{}, events: map[string][]string{}}
}

func (r *recorder) Appender(context.Context) storage.Appender { return &recApp{r: r} }

// series returns a copy of the events of every series.
func (r *recorder) series() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]string, len(r.events))
	for k, v := range r.events {
		out[k] = slices.Clone(v)
	}
	return out
}

func (r *recorder) last(series string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events[series]
	if len(ev) == 0 {
		return ""
	}
	return ev[len(ev)-1]
}

type recEvent struct{ series, ev string }

type recApp struct {
	r       *recorder
	pending []recEvent
}

func (a *recApp) ref(ref storage.SeriesRef, l labels.Labels) storage.SeriesRef {
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	s := l.String()
	if ref != 0 && a.r.byRef[ref] != s {
		a.r.badRefs++
	}
	if got, ok := a.r.refs[s]; ok {
		return got
	}
	n := storage.SeriesRef(len(a.r.refs) + 1)
	a.r.refs[s], a.r.byRef[n] = n, s
	return n
}

// ts keeps a timestamp only when it came from the exposition (explicit
// timestamps in these targets are in 2001): scrape times differ.
func ts(t int64) string {
	if t < 1e12 {
		return fmt.Sprintf("@%d", t)
	}
	return ""
}

func (a *recApp) add(l labels.Labels, ev string) {
	a.pending = append(a.pending, recEvent{l.String(), ev})
}

func (a *recApp) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	ref = a.ref(ref, l)
	switch {
	case value.IsStaleNaN(v):
		a.add(l, "stale"+ts(t))
	case l.Get(model.MetricNameLabel) == "scrape_duration_seconds":
		a.add(l, "duration")
	default:
		a.add(l, fmt.Sprintf("%g%s", v, ts(t)))
	}
	return ref, nil
}

func (a *recApp) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	ref = a.ref(ref, l)
	if h != nil {
		a.add(l, "h "+h.String()+ts(t))
	} else {
		a.add(l, "fh "+fh.String()+ts(t))
	}
	return ref, nil
}

func (a *recApp) AppendExemplar(ref storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	ref = a.ref(ref, l)
	a.add(l, fmt.Sprintf("exemplar %s %g ts=%v/%s", e.Labels, e.Value, e.HasTs, ts(e.Ts)))
	return ref, nil
}

func (a *recApp) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	ref = a.ref(ref, l)
	a.add(l, fmt.Sprintf("metadata %s|%s|%s", m.Type, m.Help, m.Unit))
	return ref, nil
}

func (a *recApp) AppendSTZeroSample(ref storage.SeriesRef, l labels.Labels, _, _ int64) (storage.SeriesRef, error) {
	return a.ref(ref, l), nil
}

func (a *recApp) AppendHistogramSTZeroSample(ref storage.SeriesRef, l labels.Labels, _, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return a.ref(ref, l), nil
}

func (a *recApp) SetOptions(*storage.AppendOptions) {}

func (a *recApp) Commit() error {
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	for _, e := range a.pending {
		a.r.events[e.series] = append(a.r.events[e.series], e.ev)
	}
	a.pending = nil
	return nil
}

func (a *recApp) Rollback() error { a.pending = nil; return nil }

// scriptedTarget serves each scraper (told apart by its "engine" URL
// parameter) the same sequence of responses, one per request, whatever
// the timing: an OpenMetrics text target on /metrics (gzipped when asked)
// and a protobuf target with a native histogram on /native.
type scriptedTarget struct {
	mu         sync.Mutex
	steps      map[string]int // per engine and path
	reg        *nativeRegistry
	native     map[int]*http.Response
	nativeBody map[int][]byte
	headers    map[string]http.Header
	// last is the request index after which the engine's target is
	// removed: its handler calls onLast and lingers so that the removal
	// happens before the loop could scrape again.
	onLast func(engine, path string) <-chan struct{}
}

type nativeRegistry struct {
	reg     *prometheus.Registry
	hist    prometheus.Histogram
	counter prometheus.Counter
	handler http.Handler
}

const lastStep = 8

// openMetrics is the /metrics body of request step.
func openMetrics(step int) (string, bool) {
	if step == 3 {
		return "", false // the target fails
	}
	v := float64(step * 10)
	var b strings.Builder
	b.WriteString("# TYPE a counter\n# HELP a A counter.\n")
	fmt.Fprintf(&b, "a_total{x=\"1\"} %g # {trace_id=\"t%d\"} 0.5 %d.5\n", v+1, step, 1000+step)
	fmt.Fprintf(&b, "a_total{x=\"2\"} %g\n", v+2)
	b.WriteString("# TYPE g_bytes gauge\n# HELP g_bytes A gauge.\n# UNIT g_bytes bytes\n")
	// job conflicts with the target's label: exported_job.
	fmt.Fprintf(&b, "g_bytes{job=\"inner\"} %g\n", v+3)
	if step != 2 {
		fmt.Fprintf(&b, "g_bytes{y=\"1\"} %g\n", v+4) // vanishes at step 2
	}
	fmt.Fprintf(&b, "dropped_metric %g\n", v+5) // dropped by metric relabelling
	if step < 6 {
		// An explicit timestamp (seconds in OpenMetrics): no staleness
		// tracking, so no marker when it goes at step 6.
		fmt.Fprintf(&b, "ts_metric %g %d\n", v+6, 1000+step)
	}
	if step >= 1 {
		fmt.Fprintf(&b, "c_new %g\n", v+7) // appears at step 1
	}
	// The same series spelt with its labels in another order from step 7.
	if step < 7 {
		fmt.Fprintf(&b, "m{a=\"1\",b=\"2\"} %g\n", v+8)
	} else {
		fmt.Fprintf(&b, "m{b=\"2\",a=\"1\"} %g\n", v+8)
	}
	if step == 4 {
		// 12 labels with the target's: past label_limit in the variant.
		b.WriteString("wide{a=\"1\",b=\"2\",c=\"3\",d=\"4\",e=\"5\",f=\"6\",g=\"7\",h=\"8\"} 1\n")
	}
	if step == 5 {
		// Past sample_limit (10): the scrape fails as a whole.
		for i := range 10 {
			fmt.Fprintf(&b, "extra{i=\"%d\"} %d\n", i, i)
		}
	}
	b.WriteString("# EOF\n")
	return b.String(), true
}

func (st *scriptedTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	engine := r.URL.Query().Get("engine")
	st.mu.Lock()
	key := engine + r.URL.Path
	step := st.steps[key]
	st.steps[key]++
	if _, ok := st.headers[key]; !ok {
		h := r.Header.Clone()
		st.headers[key] = h
	}
	nr := st.reg
	if nr == nil {
		nr = newNativeRegistry()
		st.reg = nr
	}
	st.mu.Unlock()
	if step > lastStep {
		step = lastStep
	}
	switch r.URL.Path {
	case "/native":
		// Both scrapers get the same bytes for a step (the created
		// timestamps of two registries would differ).
		st.mu.Lock()
		resp, ok := st.native[step]
		if !ok {
			nr.hist.Observe(0.01 * float64(step+1))
			nr.hist.Observe(float64(step + 1))
			nr.counter.Add(float64(step))
			rec := httptest.NewRecorder()
			nr.handler.ServeHTTP(rec, r)
			resp = rec.Result()
			resp.Body = nil
			st.native[step] = resp
			st.nativeBody[step] = rec.Body.Bytes()
		}
		body := st.nativeBody[step]
		st.mu.Unlock()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		_, _ = w.Write(body)
	default:
		body, ok := openMetrics(step)
		if !ok {
			http.Error(w, "scripted failure", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			_, _ = gz.Write([]byte(body))
			_ = gz.Close()
		} else {
			_, _ = w.Write([]byte(body))
		}
	}
	if step == lastStep && st.onLast != nil {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		handed := st.onLast(engine, r.URL.Path)
		// The removal reaches the loop while this scrape is still in
		// flight, so it is the loop's last: wait until the scraper took
		// the new targets, then for its sync (Prometheus' manager syncs
		// on a 10 ms tick), within the 900 ms scrape timeout.
		select {
		case <-handed:
		case <-time.After(500 * time.Millisecond):
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func newNativeRegistry() *nativeRegistry {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "nh_seconds", Help: "A native histogram.",
		NativeHistogramBucketFactor: 1.1,
	})
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "proto_requests_total", Help: "A counter over protobuf."})
	reg.MustRegister(h, c)
	return &nativeRegistry{reg: reg, hist: h, counter: c, handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
}

func diffScrapeConfig(t *testing.T, variant bool) *config.ScrapeConfig {
	sc := config.DefaultScrapeConfig
	if variant {
		sc.HonorLabels = true
		sc.TrackTimestampsStaleness = true
		sc.LabelLimit = 11 // the wide series of step 4 has 12
	}
	sc.JobName = "diff"
	sc.ScrapeInterval = model.Duration(time.Second)
	sc.ScrapeTimeout = model.Duration(900 * time.Millisecond)
	sc.MetricsPath = "/metrics"
	sc.Scheme = "http"
	sc.SampleLimit = 10
	sc.HonorTimestamps = true
	sc.EnableCompression = true
	native := true
	sc.ScrapeNativeHistograms = &native
	sc.ScrapeProtocols = config.DefaultProtoFirstScrapeProtocols
	extra := true
	sc.ExtraScrapeMetrics = &extra
	sc.MetricNameValidationScheme = model.UTF8Validation
	sc.MetricNameEscapingScheme = model.AllowUTF8
	sc.MetricRelabelConfigs = []*relabel.Config{{
		SourceLabels:         model.LabelNames{model.MetricNameLabel},
		Regex:                relabel.MustNewRegexp("dropped_.*"),
		Action:               relabel.Drop,
		Separator:            ";",
		NameValidationScheme: model.UTF8Validation,
	}}
	if err := sc.Validate(config.DefaultGlobalConfig); err != nil {
		t.Fatal(err)
	}
	return &sc
}

// diffEngine is what both scrapers offer.
type diffEngine interface {
	Run(tsets <-chan map[string][]*targetgroup.Group) error
	ApplyConfig(cfg *config.Config) error
	Stop()
}

// TestSameAppendsAsPrometheus scrapes one scripted target with Prometheus'
// scrape.Manager and with flow's loop, each into its own recorder, and
// compares what each appended, series by series: values (staleness markers
// included), native histograms over protobuf, exemplars and metadata, the
// up and scrape_* series (scrape_duration_seconds' value and the scrape
// timestamps aside), through changing values, a series appearing, one
// vanishing, a failed scrape, a sample_limit breach, relabel drops, a
// label conflict, an explicit timestamp, a series respelt, and the removal
// of the target (end-of-run staleness markers); then again with
// honor_labels, track_timestamps_staleness and a label_limit breach.
func TestSameAppendsAsPrometheus(t *testing.T) {
	testwait.Long(t, "scrapes a scripted target 9 times at 1 s with two scrapers, twice")
	t.Run("defaults", func(t *testing.T) { runDiff(t, false) })
	t.Run("honor_labels,track_timestamps_staleness,label_limit", func(t *testing.T) { runDiff(t, true) })
}

func runDiff(t *testing.T, variant bool) {
	st := &scriptedTarget{steps: map[string]int{}, native: map[int]*http.Response{}, nativeBody: map[int][]byte{}, headers: map[string]http.Header{}}
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	recs := map[string]*recorder{"prom": newRecorder(), "flow": newRecorder()}
	engines := map[string]diffEngine{}
	mgr, err := scrape.NewManager(&scrape.Options{
		DiscoveryReloadInterval:  model.Duration(10 * time.Millisecond),
		DiscoveryReloadOnStartup: true,
		AppendMetadata:           true,
	}, logger, nil, recs["prom"], nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	engines["prom"] = mgr
	pool, err := New(Options{Logger: logger, Registerer: prometheus.NewRegistry(), Appendable: recs["flow"], AppendMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	engines["flow"] = pool

	chans := map[string]chan map[string][]*targetgroup.Group{}
	var wg sync.WaitGroup
	for name, e := range engines {
		cfg, err := config.Load("", logger)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ScrapeConfigs = []*config.ScrapeConfig{diffScrapeConfig(t, variant)}
		if err := e.ApplyConfig(cfg); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ch := make(chan map[string][]*targetgroup.Group)
		chans[name] = ch
		wg.Go(func() { _ = e.Run(ch) })
	}
	t.Cleanup(func() {
		for _, e := range engines {
			e.Stop()
		}
		wg.Wait()
	})
	// Each engine scrapes both paths until each reaches its last step,
	// when that target is removed.
	var gmu sync.Mutex
	remaining := map[string]map[string]bool{"prom": {"/metrics": true, "/native": true}, "flow": {"/metrics": true, "/native": true}}
	group := func(engine string) map[string][]*targetgroup.Group {
		g := &targetgroup.Group{Source: "diff"}
		if remaining[engine]["/metrics"] {
			g.Targets = append(g.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(addr), "__param_engine": model.LabelValue(engine), "team": "a"})
		}
		if remaining[engine]["/native"] {
			g.Targets = append(g.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(addr), "__param_engine": model.LabelValue(engine), model.MetricsPathLabel: "/native", "team": "b"})
		}
		return map[string][]*targetgroup.Group{"diff": {g}}
	}
	removed := make(chan string, 4)
	st.onLast = func(engine, path string) <-chan struct{} {
		handed := make(chan struct{})
		go func() {
			gmu.Lock()
			delete(remaining[engine], path)
			g := group(engine)
			chans[engine] <- g
			gmu.Unlock()
			close(handed)
			removed <- engine + path
		}()
		return handed
	}
	for name := range engines {
		gmu.Lock()
		chans[name] <- group(name)
		gmu.Unlock()
	}

	for range 4 {
		testwait.Receive(t, 60*time.Second, removed, "every scraper reached the last step of every target")
	}
	// End-of-run staleness markers come two intervals after the removal.
	for name, r := range recs {
		for _, path := range []string{"/metrics", "/native"} {
			up := fmt.Sprintf(`{__name__="up", instance="%s", job="diff", team="%s"}`, addr, map[string]string{"/metrics": "a", "/native": "b"}[path])
			testwait.Eventually(t, 20*time.Second, func() bool { return r.last(up) == "stale" },
				"%s: the removed target %s got end-of-run staleness markers", name, path)
		}
	}
	time.Sleep(500 * time.Millisecond) // anything late would show

	st.mu.Lock()
	for _, path := range []string{"/metrics", "/native"} {
		for _, e := range []string{"prom", "flow"} {
			if n := st.steps[e+path]; n != lastStep+1 {
				t.Errorf("%s scraped %s %d times, want %d (a machine too loaded for the removal to arrive within 700 ms?)", e, path, n, lastStep+1)
			}
		}
		hp, hf := st.headers["prom"+path], st.headers["flow"+path]
		for _, h := range []string{"Accept", "Accept-Encoding", "User-Agent", "X-Prometheus-Scrape-Timeout-Seconds"} {
			if hp.Get(h) != hf.Get(h) {
				t.Errorf("%s: header %s: Prometheus sent %q, flow %q", path, h, hp.Get(h), hf.Get(h))
			}
		}
	}
	st.mu.Unlock()

	prom, flow := recs["prom"].series(), recs["flow"].series()
	var names []string
	for s := range prom {
		names = append(names, s)
	}
	for s := range flow {
		if _, ok := prom[s]; !ok {
			names = append(names, s)
		}
	}
	sort.Strings(names)
	for _, s := range names {
		p, f := prom[s], flow[s]
		if !slices.Equal(p, f) {
			t.Errorf("series %s:\n  Prometheus: %q\n  flow:       %q", s, p, f)
		}
	}
	for name, r := range recs {
		if r.badRefs != 0 {
			t.Errorf("%s handed %d references of another series", name, r.badRefs)
		}
	}
	// The script did what it meant to: a check that the comparison
	// compared something.
	if variant {
		for s, ok := range map[string]func([]string) bool{
			`{__name__="g_bytes", instance="` + addr + `", job="inner", team="a"}`:  func(ev []string) bool { return len(ev) > 3 },
			`{__name__="ts_metric", instance="` + addr + `", job="diff", team="a"}`: func(ev []string) bool { return slices.Contains(ev, "stale") },
		} {
			if !ok(flow[s]) {
				t.Errorf("flow's %s: %q does not show what the script does", s, flow[s])
			}
		}
		return
	}
	want := map[string]func([]string) bool{
		`{__name__="g_bytes", instance="` + addr + `", job="diff", team="a", y="1"}`: func(ev []string) bool { return slices.Contains(ev, "stale") },
		`{__name__="a_total", instance="` + addr + `", job="diff", team="a", x="1"}`: func(ev []string) bool {
			return slices.ContainsFunc(ev, func(e string) bool { return strings.HasPrefix(e, "exemplar") })
		},
		`{__name__="nh_seconds", instance="` + addr + `", job="diff", team="b"}`: func(ev []string) bool {
			return slices.ContainsFunc(ev, func(e string) bool { return strings.HasPrefix(e, "h ") || strings.HasPrefix(e, "fh ") })
		},
		`{__name__="g_bytes", exported_job="inner", instance="` + addr + `", job="diff", team="a"}`: func(ev []string) bool { return len(ev) > 3 },
		`{__name__="up", instance="` + addr + `", job="diff", team="a"}`:                            func(ev []string) bool { return slices.Contains(ev, "0") && slices.Contains(ev, "1") },
	}
	for s, ok := range want {
		if !ok(flow[s]) {
			t.Errorf("flow's %s: %q does not show what the script does", s, flow[s])
		}
	}
	for s := range flow {
		if strings.Contains(s, "dropped_metric") {
			t.Errorf("flow appended %s, which metric relabelling drops", s)
		}
	}
	if len(names) < 15 {
		t.Errorf("only %d series compared", len(names))
	}
}
