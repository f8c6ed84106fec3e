// Package promtest has test helpers for the prometheus.* components: a
// storage.Appendable that records what it receives, and component options
// that capture exports.
package promtest

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/runtime/component"
)

// Sample is one recorded float sample.
type Sample struct {
	Labels labels.Labels
	T      int64
	V      float64
}

// Histogram is one recorded histogram sample (H or FH is set).
type Histogram struct {
	Labels labels.Labels
	T      int64
	H      *histogram.Histogram
	FH     *histogram.FloatHistogram
}

// Recorder is a storage.Appendable keeping every committed float sample,
// histogram sample, start-timestamp zero sample and metadata update. Its references are indexes into its series table, so
// callers that reuse references are exercised too.
type Recorder struct {
	mu       sync.Mutex
	samples  []Sample
	hists    []Histogram
	stZero   []Sample
	series   map[uint64]storage.SeriesRef
	byRef    map[storage.SeriesRef]labels.Labels
	Metadata map[string]metadata.Metadata
	// RefMismatches counts appends whose reference named another series:
	// a caller passing references it did not get from this recorder.
	RefMismatches int
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{series: map[uint64]storage.SeriesRef{}, byRef: map[storage.SeriesRef]labels.Labels{}, Metadata: map[string]metadata.Metadata{}}
}

// Appender implements storage.Appendable.
func (r *Recorder) Appender(context.Context) storage.Appender { return &recApp{r: r} }

// Samples returns a copy of the committed samples.
func (r *Recorder) Samples() []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Sample(nil), r.samples...)
}

// Histograms returns a copy of the committed histogram samples.
func (r *Recorder) Histograms() []Histogram {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Histogram(nil), r.hists...)
}

// STZeroSamples returns the committed start-timestamp zero samples: T is
// the start timestamp, V 0.
func (r *Recorder) STZeroSamples() []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Sample(nil), r.stZero...)
}

// Len returns the number of committed samples.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.samples)
}

func (r *Recorder) ref(ref storage.SeriesRef, l labels.Labels) storage.SeriesRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ref != 0 {
		if known, ok := r.byRef[ref]; ok {
			if labels.Equal(known, l) {
				return ref
			}
			r.RefMismatches++
		}
	}
	h := l.Hash()
	if got, ok := r.series[h]; ok {
		return got
	}
	nref := storage.SeriesRef(len(r.series) + 1)
	r.series[h] = nref
	r.byRef[nref] = l.Copy()
	return nref
}

type recApp struct {
	r       *Recorder
	pending []Sample
	hists   []Histogram
	stZero  []Sample
	meta    map[string]metadata.Metadata
}

func (a *recApp) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	a.pending = append(a.pending, Sample{Labels: l.Copy(), T: t, V: v})
	return a.r.ref(ref, l), nil
}

func (a *recApp) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	hs := Histogram{Labels: l.Copy(), T: t}
	if h != nil {
		hs.H = h.Copy()
	}
	if fh != nil {
		hs.FH = fh.Copy()
	}
	a.hists = append(a.hists, hs)
	return a.r.ref(ref, l), nil
}

func (a *recApp) AppendHistogramSTZeroSample(ref storage.SeriesRef, l labels.Labels, _, _ int64, _ *histogram.Histogram, _ *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return a.r.ref(ref, l), nil
}

func (a *recApp) AppendExemplar(ref storage.SeriesRef, l labels.Labels, _ exemplar.Exemplar) (storage.SeriesRef, error) {
	return a.r.ref(ref, l), nil
}

func (a *recApp) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	if a.meta == nil {
		a.meta = map[string]metadata.Metadata{}
	}
	a.meta[l.Get(model.MetricNameLabel)] = m
	return a.r.ref(ref, l), nil
}

func (a *recApp) AppendSTZeroSample(ref storage.SeriesRef, l labels.Labels, _, st int64) (storage.SeriesRef, error) {
	a.stZero = append(a.stZero, Sample{Labels: l.Copy(), T: st})
	return a.r.ref(ref, l), nil
}

func (a *recApp) SetOptions(*storage.AppendOptions) {}

func (a *recApp) Commit() error {
	a.r.mu.Lock()
	defer a.r.mu.Unlock()
	a.r.samples = append(a.r.samples, a.pending...)
	a.r.hists = append(a.r.hists, a.hists...)
	a.r.stZero = append(a.r.stZero, a.stZero...)
	for k, v := range a.meta {
		a.r.Metadata[k] = v
	}
	a.pending, a.hists, a.stZero, a.meta = nil, nil, nil, nil
	return nil
}

func (a *recApp) Rollback() error {
	a.pending, a.hists, a.stZero, a.meta = nil, nil, nil, nil
	return nil
}

// Exports captures the exports a component publishes.
type Exports struct {
	mu   sync.Mutex
	last component.Exports
	n    int
}

// Last returns the most recent exports.
func (e *Exports) Last() component.Exports {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// Count returns how many times exports were published.
func (e *Exports) Count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

// Options returns component options for a test: a logger writing to stderr
// at debug level when FLOW_TEST_DEBUG is set, a fresh registry, a temporary
// data directory and an export capture.
func Options(t testing.TB, id string) (component.Options, *Exports, *prometheus.Registry) {
	level := slog.LevelWarn
	if os.Getenv("FLOW_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("component_id", id)
	reg := prometheus.NewRegistry()
	ex := &Exports{}
	return component.Options{
		ID:         id,
		Logger:     logger,
		Registerer: reg,
		DataPath:   t.TempDir(),
		OnStateChange: func(e component.Exports) {
			ex.mu.Lock()
			ex.last = e
			ex.n++
			ex.mu.Unlock()
		},
	}, ex, reg
}

// Run runs a component until the test ends and fails the test if Run
// returns an error.
func Run(t testing.TB, c component.Component) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("Run did not return 30s after cancellation; goroutines:\n%s", buf)
		}
	})
}

// MetadataFor returns the metadata recorded for a metric family.
func (r *Recorder) MetadataFor(name string) (metadata.Metadata, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.Metadata[name]
	return m, ok
}
