package remotewrite

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/prometheus/internal/appendable"
	"github.com/flow-telemetry/flow/runtime/component"
)

// Receiver is the exported storage.Appendable: the WAL's appender, counting
// what each commit adds for delivery accounting (tracker.go).
type Receiver struct{ c *Component }

var (
	_ storage.Appendable  = (*Receiver)(nil)
	_ component.Countable = (*Receiver)(nil)
)

// Appender implements storage.Appendable.
func (r *Receiver) Appender(ctx context.Context) storage.Appender {
	// A WAL that cannot be written refuses at once (walguard.go), without
	// waiting for a recovery that holds dbMu.
	if f := r.c.walFail.Load(); f != nil {
		return r.c.refuse(f)
	}
	r.c.dbMu.RLock()
	if f := r.c.walFail.Load(); f != nil {
		r.c.dbMu.RUnlock()
		return r.c.refuse(f)
	}
	if r.c.db == nil {
		r.c.dbMu.RUnlock()
		return errAppender{err: errors.New("prometheus.remote_write is stopped")}
	}
	a := &walAppender{Appender: r.c.db.Appender(ctx), c: r.c, unlock: r.c.dbMu.RUnlock, onError: r.c.accountingError}
	for _, tr := range *r.c.trackers.Load() {
		a.trackers = append(a.trackers, trackerTx{tr: tr, ruled: tr.hasRules(), hist: tr.sendsHistograms()})
	}
	return appendable.LiveAppender(a, r.c.opts.Live())
}

// UsesMetadata implements appendable.MetadataUser: true when an endpoint
// sends metric metadata (every Remote-Write 2.0 endpoint; a 1.0 endpoint
// with metadata_config > send).
func (r *Receiver) UsesMetadata() bool { return r.c.usesMeta.Load() }

// WithCounter implements component.Countable.
func (r *Receiver) WithCounter(counter func(n int)) any {
	return appendable.Counted(r, counter)
}

// walAppender is one transaction on the WAL. It releases the WAL read
// lock when the transaction ends.
type walAppender struct {
	storage.Appender
	c       *Component
	unlock  func()
	once    sync.Once
	onError func(error)

	// counts holds the transaction's samples per timestamp; a scrape has
	// one timestamp, so the last entry is nearly always the one to bump.
	counts   []txCount
	trackers []trackerTx
}

type txCount struct {
	t            int64
	floats, hist int64
}

// trackerTx is one endpoint's view of the transaction: samples its write
// relabel rules drop are not expected to be delivered.
type trackerTx struct {
	tr    *tracker
	ruled bool
	hist  bool
	drops map[int64]int64
}

func (a *walAppender) count(ref storage.SeriesRef, l labels.Labels, t int64, hist bool) {
	if n := len(a.counts); n > 0 && a.counts[n-1].t == t {
		if hist {
			a.counts[n-1].hist++
		} else {
			a.counts[n-1].floats++
		}
	} else {
		c := txCount{t: t}
		if hist {
			c.hist = 1
		} else {
			c.floats = 1
		}
		a.counts = append(a.counts, c)
	}
	for i := range a.trackers {
		tt := &a.trackers[i]
		if !tt.ruled || (hist && !tt.hist) {
			continue
		}
		if !tt.tr.keeps(ref, l) {
			if tt.drops == nil {
				tt.drops = map[int64]int64{}
			}
			tt.drops[t]++
		}
	}
}

func (a *walAppender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	ref, err := a.Appender.Append(ref, l, t, v)
	if err == nil {
		a.count(ref, l, t, false)
	}
	return ref, err
}

func (a *walAppender) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	ref, err := a.Appender.AppendHistogram(ref, l, t, h, fh)
	if err == nil {
		a.count(ref, l, t, true)
	}
	return ref, err
}

func (a *walAppender) AppendSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64) (storage.SeriesRef, error) {
	ref, err := a.Appender.AppendSTZeroSample(ref, l, t, st)
	if err == nil {
		a.count(ref, l, st, false)
	}
	return ref, err
}

func (a *walAppender) AppendHistogramSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	ref, err := a.Appender.AppendHistogramSTZeroSample(ref, l, t, st, h, fh)
	if err == nil {
		a.count(ref, l, st, true)
	}
	return ref, err
}

// expected is what the transaction adds for one endpoint.
func (a *walAppender) expected(tt *trackerTx) []tsCount {
	out := make([]tsCount, 0, len(a.counts))
	for _, c := range a.counts {
		n := c.floats
		if tt.hist {
			n += c.hist
		}
		n -= tt.drops[c.t]
		if n > 0 {
			out = append(out, tsCount{t: c.t, n: n})
		}
	}
	return out
}

// Commit registers the samples with every endpoint's tracker, then writes
// them to the WAL: a sample is never in the WAL without its tracker
// knowing, whatever moment the process dies at. Commits are serialised and
// refused once a WAL write has failed (walguard.go).
func (a *walAppender) Commit() error {
	defer a.once.Do(a.unlock)
	a.c.commitMu.Lock()
	defer a.c.commitMu.Unlock()
	if f := a.c.walFail.Load(); f != nil {
		// The WAL's appender is dropped, not committed or rolled back:
		// both would write to the failed WAL.
		a.c.countRefused()
		return walRefusal(f)
	}
	per := make([][]tsCount, len(a.trackers))
	for i := range a.trackers {
		per[i] = a.expected(&a.trackers[i])
		if err := a.trackers[i].tr.expect(per[i]); err != nil {
			a.onError(err)
		}
	}
	err := a.Appender.Commit()
	if err != nil {
		for i := range a.trackers {
			a.trackers[i].tr.unexpect(per[i])
		}
		a.c.walWriteFailed(err)
		a.c.countRefused()
		return walRefusal(a.c.walFail.Load())
	}
	return nil
}

// Rollback discards the transaction. The WAL writes the series it created
// to the WAL even then, so this is a WAL write as well.
func (a *walAppender) Rollback() error {
	defer a.once.Do(a.unlock)
	a.c.commitMu.Lock()
	defer a.c.commitMu.Unlock()
	if a.c.walFail.Load() != nil {
		return nil
	}
	if err := a.Appender.Rollback(); err != nil {
		a.c.walWriteFailed(err)
		return walRefusal(a.c.walFail.Load())
	}
	return nil
}
