package wal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/agent"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/prometheus/prometheus/tsdb/wlog"

	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// contents is what a WAL directory holds, decoded as a reader sees it.
type contents struct {
	series   map[chunks.HeadSeriesRef]labels.Labels
	samples  map[string][]record.RefSample // by series labels
	hists    map[string][]int64            // timestamps, int and float histograms
	exs      map[string][]record.RefExemplar
	meta     map[string]record.RefMetadata
	segments int
}

// readAll reads the checkpoint and segments of dir/wal with Prometheus'
// reader and decoder, resolving refs through the series records.
func readAll(t testing.TB, dir string) contents {
	t.Helper()
	walDir := filepath.Join(dir, "wal")
	c := contents{series: map[chunks.HeadSeriesRef]labels.Labels{}, samples: map[string][]record.RefSample{},
		hists: map[string][]int64{}, exs: map[string][]record.RefExemplar{}, meta: map[string]record.RefMetadata{}}
	dec := record.NewDecoder(labels.NewSymbolTable(), nil)
	name := func(ref chunks.HeadSeriesRef) string {
		l, ok := c.series[ref]
		if !ok {
			t.Fatalf("a record refers to series %d, which no series record defined before", ref)
		}
		return l.String()
	}
	read := func(r *wlog.Reader) {
		for r.Next() {
			rec := r.Record()
			switch dec.Type(rec) {
			case record.Series:
				ss, err := dec.Series(rec, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range ss {
					c.series[s.Ref] = s.Labels
				}
			case record.Samples:
				ss, err := dec.Samples(rec, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range ss {
					n := name(s.Ref)
					c.samples[n] = append(c.samples[n], s)
				}
			case record.HistogramSamples, record.CustomBucketsHistogramSamples:
				hs, err := dec.HistogramSamples(rec, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range hs {
					c.hists[name(h.Ref)] = append(c.hists[name(h.Ref)], h.T)
				}
			case record.FloatHistogramSamples, record.CustomBucketsFloatHistogramSamples:
				hs, err := dec.FloatHistogramSamples(rec, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range hs {
					c.hists[name(h.Ref)] = append(c.hists[name(h.Ref)], h.T)
				}
			case record.Exemplars:
				es, err := dec.Exemplars(rec, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range es {
					c.exs[name(e.Ref)] = append(c.exs[name(e.Ref)], e)
				}
			case record.Metadata:
				ms, err := dec.Metadata(rec, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range ms {
					c.meta[name(m.Ref)] = m
				}
			default:
				t.Fatalf("unexpected record type %v", dec.Type(rec))
			}
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
	}
	cp, idx, err := wlog.LastCheckpoint(walDir)
	first := 0
	switch {
	case err == nil:
		rc, err := wlog.NewSegmentsReader(cp)
		if err != nil {
			t.Fatal(err)
		}
		read(wlog.NewReader(rc))
		_ = rc.Close()
		first = idx + 1
	case !errors.Is(err, record.ErrNotFound):
		t.Fatal(err)
	}
	f, last, err := wlog.Segments(walDir)
	if err != nil {
		t.Fatal(err)
	}
	first = max(first, f)
	if last >= first {
		rc, err := wlog.NewSegmentsRangeReader(wlog.SegmentRange{Dir: walDir, First: first, Last: last})
		if err != nil {
			t.Fatal(err)
		}
		read(wlog.NewReader(rc))
		_ = rc.Close()
		c.segments = last - first + 1
	}
	return c
}

func testOptions() Options {
	return Options{TruncateFrequency: time.Hour, Metadata: true}
}

func openTest(t testing.TB, dir string, opts Options, lowestSent func() int64) (*DB, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	db, err := Open(slog.New(slog.DiscardHandler), reg, dir, opts, lowestSent)
	if err != nil {
		t.Fatal(err)
	}
	return db, reg
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

var (
	lblA  = labels.FromStrings("__name__", "requests_total", "code", "200", "job", "api")
	lblB  = labels.FromStrings("__name__", "requests_total", "code", "500", "job", "api")
	lblH  = labels.FromStrings("__name__", "latency_seconds", "job", "api")
	lblFH = labels.FromStrings("__name__", "size_bytes", "job", "api")
	mdA   = metadata.Metadata{Type: model.MetricTypeCounter, Help: "Requests served.", Unit: "requests"}
)

// writeEverything appends one transaction of every kind of data at t: two
// float series with metadata and an exemplar, an int and a float native
// histogram, and a staleness marker at t+1.
func writeEverything(t testing.TB, app storage.Appender, t0 int64) {
	t.Helper()
	ok := must[storage.SeriesRef](t)
	ra := ok(app.Append(0, lblA, t0, 1))
	ok(app.Append(0, lblB, t0, 2))
	ok(app.UpdateMetadata(ra, lblA, mdA))
	ok(app.AppendExemplar(ra, lblA, exemplar.Exemplar{Labels: labels.FromStrings("trace_id", fmt.Sprint(t0)), Value: 1, Ts: t0, HasTs: true}))
	h := &histogram.Histogram{Count: 3, Sum: 1.5, Schema: 0, ZeroThreshold: 0.001, ZeroCount: 1,
		PositiveSpans: []histogram.Span{{Offset: 0, Length: 2}}, PositiveBuckets: []int64{1, 0}}
	ok(app.AppendHistogram(0, lblH, t0, h, nil))
	ok(app.AppendHistogram(0, lblFH, t0, nil, h.ToFloat(nil)))
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestOpensAgentWAL: a WAL written by tsdb/agent (flow before this
// writer) opens; its series keep their refs, new series get refs above
// them, and the agent's data and the new data are all readable after.
func TestOpensAgentWAL(t *testing.T) {
	dir := t.TempDir()
	ao := agent.DefaultOptions()
	ao.EnableMetadataWALRecords = true
	adb, err := agent.Open(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), nil, dir, ao)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UnixMilli()
	app := adb.Appender(context.Background())
	writeEverything(t, app, t0)
	app = adb.Appender(context.Background())
	refA := must[storage.SeriesRef](t)(app.Append(0, lblA, t0+1, math.Float64frombits(0x7ff0000000000002))) // stale marker
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := adb.Close(); err != nil {
		t.Fatal(err)
	}
	before := readAll(t, dir)
	var maxRef chunks.HeadSeriesRef
	for r := range before.series {
		maxRef = max(maxRef, r)
	}

	db, reg := openTest(t, dir, testOptions(), nil)
	if got := testutil.ToFloat64(mustGauge(t, reg, "prometheus_agent_active_series")); got != 4 {
		t.Fatalf("active series after replaying agent's WAL: %v, want 4", got)
	}
	app = db.Appender(context.Background())
	// The scrape cache's ref from before still names lblA.
	if r, err := app.Append(refA, lblA, t0+2, 3); err != nil || r != refA {
		t.Fatalf("append with agent's ref: ref %d err %v, want ref %d", r, err, refA)
	}
	// Labels alone find the replayed series.
	if r, err := app.Append(0, lblB, t0+2, 4); err != nil || before.series[chunks.HeadSeriesRef(r)].String() != lblB.String() {
		t.Fatalf("append by labels: ref %d err %v", r, err)
	}
	// Older than what the WAL holds: out of order, as agent says.
	if _, err := app.Append(0, lblB, t0, 5); !errors.Is(err, storage.ErrOutOfOrderSample) {
		t.Fatalf("out-of-order append after replay: %v", err)
	}
	lblC := labels.FromStrings("__name__", "new_series")
	rc := must[storage.SeriesRef](t)(app.Append(0, lblC, t0+2, 6))
	if chunks.HeadSeriesRef(rc) <= maxRef {
		t.Fatalf("new series got ref %d, not above the replayed ones (max %d)", rc, maxRef)
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	after := readAll(t, dir)
	want := map[string][]int64{lblA.String(): {t0, t0 + 1, t0 + 2}, lblB.String(): {t0, t0 + 2}, lblC.String(): {t0 + 2}}
	for n, ts := range want {
		var got []int64
		for _, s := range after.samples[n] {
			got = append(got, s.T)
		}
		if !slices.Equal(got, ts) {
			t.Errorf("%s: samples at %v, want %v", n, got, ts)
		}
	}
	if len(after.hists[lblH.String()]) != 1 || len(after.hists[lblFH.String()]) != 1 {
		t.Errorf("histograms: %v", after.hists)
	}
	if m := after.meta[lblA.String()]; m.Help != mdA.Help || m.Unit != mdA.Unit {
		t.Errorf("metadata: %+v", m)
	}
	if len(after.exs[lblA.String()]) != 1 {
		t.Errorf("exemplars: %v", after.exs)
	}
}

func mustGauge(t testing.TB, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "copy"})
			g.Set(mf.GetMetric()[0].GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("metric %s not registered", name)
	return nil
}

// TestAgentOpensOurWAL: tsdb/agent replays a WAL this writer wrote without
// finding anything to repair (a downgrade works).
func TestAgentOpensOurWAL(t *testing.T) {
	dir := t.TempDir()
	db, _ := openTest(t, dir, testOptions(), nil)
	t0 := time.Now().UnixMilli()
	writeEverything(t, db.Appender(context.Background()), t0)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var logs flowproc.LockedBuffer
	ao := agent.DefaultOptions()
	adb, err := agent.Open(slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry(), nil, dir, ao)
	if err != nil {
		t.Fatal(err)
	}
	app := adb.Appender(context.Background())
	// Agent knows the series: an older sample is out of order.
	if _, err := app.Append(0, lblA, t0, 1); !errors.Is(err, storage.ErrOutOfOrderSample) {
		t.Fatalf("agent after replaying our WAL: %v, want out of order", err)
	}
	_ = app.Rollback()
	if err := adb.Close(); err != nil {
		t.Fatal(err)
	}
	if s := logs.String(); strings.Contains(s, "repair") || strings.Contains(s, "non-existing") {
		t.Fatalf("agent found damage in our WAL:\n%s", s)
	}
}

// TestWatcherReadsOurWAL: Prometheus' WAL watcher, tailing the WAL as
// remote write does, receives every series, sample, histogram, exemplar
// and metadata record as committed.
func TestWatcherReadsOurWAL(t *testing.T) {
	dir := t.TempDir()
	db, _ := openTest(t, dir, testOptions(), nil)
	defer db.Close()
	wt := &watchTarget{}
	reg := prometheus.NewRegistry()
	w := wlog.NewWatcher(wlog.NewWatcherMetrics(reg), wlog.NewLiveReaderMetrics(reg), nil, "test", wt, dir, true, true, true, nil)
	db.SetWriteNotified(w)
	w.Start()
	defer w.Stop()
	// The watcher sends only samples newer than its start.
	time.Sleep(10 * time.Millisecond)
	t0 := time.Now().UnixMilli()
	for i := range 5 {
		writeEverything(t, db.Appender(context.Background()), t0+int64(i))
	}
	if _, ok := testwait.Poll(30*time.Second, func() bool {
		s, h, e, m := wt.counts()
		return s == 10 && h == 10 && e == 5 && m >= 1
	}); !ok {
		s, h, e, m := wt.counts()
		t.Fatalf("the watcher got %d samples, %d histograms, %d exemplars, %d metadata; want 10, 10, 5, at least 1", s, h, e, m)
	}
}

type watchTarget struct {
	mu                  sync.Mutex
	series              map[chunks.HeadSeriesRef]labels.Labels
	samples, hists, exs int
	meta                int
	unknown             int
}

func (w *watchTarget) counts() (int, int, int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.samples, w.hists, w.exs, w.meta
}

func (w *watchTarget) known(ref chunks.HeadSeriesRef) bool {
	_, ok := w.series[ref]
	if !ok {
		w.unknown++
	}
	return ok
}

func (w *watchTarget) Append(s []record.RefSample) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, x := range s {
		if w.known(x.Ref) {
			w.samples++
		}
	}
	return true
}

func (w *watchTarget) AppendExemplars(e []record.RefExemplar) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.exs += len(e)
	return true
}

func (w *watchTarget) AppendHistograms(h []record.RefHistogramSample) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, x := range h {
		if w.known(x.Ref) {
			w.hists++
		}
	}
	return true
}

func (w *watchTarget) AppendFloatHistograms(h []record.RefFloatHistogramSample) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, x := range h {
		if w.known(x.Ref) {
			w.hists++
		}
	}
	return true
}

func (w *watchTarget) StoreSeries(s []record.RefSeries, _ int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.series == nil {
		w.series = map[chunks.HeadSeriesRef]labels.Labels{}
	}
	for _, x := range s {
		w.series[x.Ref] = x.Labels
	}
}

func (w *watchTarget) StoreMetadata(m []record.RefMetadata) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.meta += len(m)
}

func (*watchTarget) UpdateSeriesSegment([]record.RefSeries, int) {}
func (*watchTarget) SeriesReset(int)                             {}
