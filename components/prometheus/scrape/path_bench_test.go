package scrape

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/components/prometheus/relabel"
	"github.com/flow-telemetry/flow/internal/benchmeter"
	"github.com/flow-telemetry/flow/internal/realtarget"
)

// BenchmarkScrapePath measures the scrape side of the metrics path, per
// sample: prometheus.scrape (Prometheus' scrape loop: HTTP, text parsing,
// scrape cache, staleness) scraping 4 targets of 5,000 series of the
// realistic shape (internal/realtarget: values change on every scrape, five
// labels, about 125 bytes per line) every 200 ms, appending to
//
//   - direct: one receiver;
//   - relabel: prometheus.relabel with three rules (add a label, a drop rule
//     that keeps everything, a label derived from the route), then one
//     receiver;
//   - relabel_cache_full: the same with max_cache_size 5% below the number
//     of series (as 100,050 series through the default 100,000);
//   - two_receivers: two receivers in forward_to.
//
// The receivers are stores that count samples and keep one reference per
// series, looking series up by labels when the reference they get is not
// theirs, as the remote_write WAL does. b.N is the number of samples; the
// reported cpu-ns/sample is the process' CPU time (user and system, the
// targets' serving included) per sample delivered, which holds up on a
// busy machine where wall time does not, and B/sample the bytes allocated
// per sample. Run with a fixed count, e.g. -benchtime 400000x.
func BenchmarkScrapePath(b *testing.B) {
	const targets, perTarget = 4, 5000
	var addrs []map[string]string
	for i := range targets {
		tg, err := realtarget.Start(i, perTarget)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(tg.Close)
		addrs = append(addrs, map[string]string{"__address__": tg.Addr()})
	}
	for _, pipe := range []string{"direct", "relabel", "relabel_cache_full", "two_receivers"} {
		b.Run(pipe, func(b *testing.B) { benchScrapePath(b, pipe, addrs, targets*perTarget) })
	}
}

func benchScrapePath(b *testing.B, pipe string, targets []map[string]string, series int) {
	sinks := []*sink{newSink(), newSink()}
	var forward []storage.Appendable
	switch pipe {
	case "direct":
		forward = []storage.Appendable{sinks[0]}
	case "two_receivers":
		forward = []storage.Appendable{sinks[0], sinks[1]}
	case "relabel", "relabel_cache_full":
		var ra relabel.Arguments
		ra.SetToDefault()
		ra.ForwardTo = []storage.Appendable{sinks[0]}
		if pipe == "relabel_cache_full" {
			ra.MaxCacheSize = series * 95 / 100
		}
		ra.Rules = realtarget.RelabelRules()

		opts, ex, _ := promtest.Options(b, "prometheus.relabel.bench")
		if _, err := relabel.New(opts, ra); err != nil {
			b.Fatal(err)
		}
		forward = []storage.Appendable{ex.Last().(relabel.Exports).Receiver}
	}
	var a Arguments
	a.SetToDefault()
	a.ScrapeInterval = 200 * time.Millisecond
	a.ScrapeTimeout = 200 * time.Millisecond
	a.ForwardTo = forward
	a.Targets = targets
	startScrape(b, "prometheus.scrape.bench", a)

	// Two full scrapes of every target first: series are created and
	// cached, as in a long-running process.
	waitSamples(b, sinks[0], int64(2*series))
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	n0 := sinks[0].n.Load()
	cpu0 := benchmeter.CPUTime()
	b.ResetTimer()
	waitSamples(b, sinks[0], n0+int64(b.N))
	cpu := benchmeter.CPUTime() - cpu0
	n := sinks[0].n.Load() - n0
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/sample")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(n), "B/sample")
	if pipe == "two_receivers" && sinks[1].n.Load() < n0 {
		b.Errorf("second receiver got %d samples, the first %d", sinks[1].n.Load(), sinks[0].n.Load())
	}
}

// waitSamples waits until s has at least n samples, with a deadline far
// beyond what a loaded machine needs.
func waitSamples(b *testing.B, s *sink, n int64) {
	b.Helper()
	deadline := time.Now().Add(10*time.Minute + time.Duration(n)*20*time.Microsecond)
	for s.n.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("receiver has %d of %d samples after the deadline: scrapes are failing", s.n.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sink is a store that keeps one reference per series and counts committed
// samples. A reference it did not issue is looked up by labels (hash).
type sink struct {
	n      atomic.Int64
	mu     sync.Mutex
	byHash map[uint64]storage.SeriesRef
	byRef  map[storage.SeriesRef]struct{}
}

func newSink() *sink {
	return &sink{byHash: map[uint64]storage.SeriesRef{}, byRef: map[storage.SeriesRef]struct{}{}}
}

func (s *sink) Appender(context.Context) storage.Appender { return &sinkApp{s: s} }

func (s *sink) ref(ref storage.SeriesRef, l labels.Labels) storage.SeriesRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byRef[ref]; ok && ref != 0 {
		return ref
	}
	h := l.Hash()
	if r, ok := s.byHash[h]; ok {
		return r
	}
	r := storage.SeriesRef(len(s.byHash) + 1)
	s.byHash[h], s.byRef[r] = r, struct{}{}
	return r
}

type sinkApp struct {
	storage.Appender // the methods the benchmark does not use
	s                *sink
	n                int64
}

func (a *sinkApp) Append(ref storage.SeriesRef, l labels.Labels, _ int64, _ float64) (storage.SeriesRef, error) {
	a.n++
	return a.s.ref(ref, l), nil
}

func (a *sinkApp) AppendHistogram(ref storage.SeriesRef, l labels.Labels, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	a.n++
	return a.s.ref(ref, l), nil
}

func (a *sinkApp) SetOptions(*storage.AppendOptions) {}
func (a *sinkApp) Commit() error                     { a.s.n.Add(a.n); a.n = 0; return nil }
func (a *sinkApp) Rollback() error                   { a.n = 0; return nil }
