package scrapeloop

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/internal/realtarget"
)

// countSink counts committed samples and keeps nothing: its reference for
// a series is the labels' hash, so the live heap measured is the scrape
// loop's own.
type countSink struct{ n atomic.Int64 }

func (s *countSink) Appender(context.Context) storage.Appender { return &countApp{s: s} }

type countApp struct {
	s *countSink
	n int64
}

func ref(l labels.Labels) storage.SeriesRef { return storage.SeriesRef(l.Hash() | 1) }

func (a *countApp) Append(_ storage.SeriesRef, l labels.Labels, _ int64, _ float64) (storage.SeriesRef, error) {
	a.n++
	return ref(l), nil
}

func (a *countApp) AppendHistogram(_ storage.SeriesRef, l labels.Labels, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	a.n++
	return ref(l), nil
}

func (a *countApp) AppendExemplar(_ storage.SeriesRef, l labels.Labels, _ exemplar.Exemplar) (storage.SeriesRef, error) {
	return ref(l), nil
}

func (a *countApp) UpdateMetadata(_ storage.SeriesRef, l labels.Labels, _ metadata.Metadata) (storage.SeriesRef, error) {
	return ref(l), nil
}

func (a *countApp) AppendSTZeroSample(_ storage.SeriesRef, l labels.Labels, _, _ int64) (storage.SeriesRef, error) {
	return ref(l), nil
}

func (a *countApp) AppendHistogramSTZeroSample(_ storage.SeriesRef, l labels.Labels, _, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return ref(l), nil
}

func (a *countApp) SetOptions(*storage.AppendOptions) {}
func (a *countApp) Commit() error                     { a.s.n.Add(a.n); a.n = 0; return nil }
func (a *countApp) Rollback() error                   { a.n = 0; return nil }

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

// BenchmarkMemoryPerSeries measures the live heap a scrape engine keeps
// per series (cache, staleness tracking, labels, body buffers): 10
// targets of 5,000 series of the realistic shape (internal/realtarget),
// scraped every 250 ms with metadata appended, into a receiver that keeps
// nothing. Exact (runtime/metrics after two collections), the heap with
// the targets up and not scraped subtracted. Prometheus' scrape.Manager
// and flow's loop are measured alike. Run with -benchtime 1x;
// SCRAPELOOP_HEAP_PROFILE_DIR=dir also writes each engine's heap profile
// at the measurement.
func BenchmarkMemoryPerSeries(b *testing.B) {
	const targets, perTarget = 10, 5000
	var group targetgroup.Group
	for i := range targets {
		tg, err := realtarget.Start(i, perTarget)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(tg.Close)

		group.Targets = append(group.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(tg.Addr())})
	}
	for _, engine := range []string{"flow", "prometheus"} {
		b.Run(engine, func(b *testing.B) {
			for range b.N {
				sink := &countSink{}
				base := liveHeap()
				logger := slog.New(slog.DiscardHandler)
				var e diffEngine
				if engine == "flow" {
					p, err := New(Options{Logger: logger, Registerer: prometheus.NewRegistry(), Appendable: sink, AppendMetadata: true})
					if err != nil {
						b.Fatal(err)
					}
					e = p
				} else {
					m, err := scrape.NewManager(&scrape.Options{
						DiscoveryReloadInterval: model.Duration(10 * time.Millisecond), DiscoveryReloadOnStartup: true, AppendMetadata: true,
					}, logger, nil, sink, nil, prometheus.NewRegistry())
					if err != nil {
						b.Fatal(err)
					}
					e = m
				}
				cfg, _ := config.Load("", logger)
				sc := config.DefaultScrapeConfig
				sc.JobName = "mem"
				sc.ScrapeInterval = model.Duration(250 * time.Millisecond)
				sc.ScrapeTimeout = model.Duration(250 * time.Millisecond)
				sc.MetricsPath, sc.Scheme = "/metrics", "http"
				sc.MetricNameValidationScheme = model.LegacyValidation
				sc.MetricNameEscapingScheme = model.EscapeUnderscores
				if err := sc.Validate(config.DefaultGlobalConfig); err != nil {
					b.Fatal(err)
				}
				cfg.ScrapeConfigs = []*config.ScrapeConfig{&sc}
				if err := e.ApplyConfig(cfg); err != nil {
					b.Fatal(err)
				}
				ch := make(chan map[string][]*targetgroup.Group, 1)
				var wg sync.WaitGroup
				wg.Go(func() { _ = e.Run(ch) })
				ch <- map[string][]*targetgroup.Group{"mem": {&group}}
				// Five full scrapes of every target.
				want := int64(5 * targets * perTarget)
				deadline := time.Now().Add(2 * time.Minute)
				for sink.n.Load() < want {
					if time.Now().After(deadline) {
						b.Fatalf("%d of %d samples after 2 minutes", sink.n.Load(), want)
					}
					time.Sleep(20 * time.Millisecond)
				}
				live := liveHeap()
				if dir := os.Getenv("SCRAPELOOP_HEAP_PROFILE_DIR"); dir != "" {
					if f, err := os.Create(filepath.Join(dir, engine+".heap.pprof")); err == nil {
						_ = pprof.Lookup("heap").WriteTo(f, 0)
						_ = f.Close()
					}
				}
				b.ReportMetric(float64(int64(live)-int64(base))/float64(targets*perTarget), "B/series")
				e.Stop()
				wg.Wait()
				if m, ok := e.(*scrape.Manager); ok {
					m.UnregisterMetrics()
				}
			}
		})
	}
}
