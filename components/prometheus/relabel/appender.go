package relabel

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/common/relabel"
	"github.com/flow-telemetry/flow/components/prometheus/internal/appendable"
	"github.com/flow-telemetry/flow/runtime/component"
)

// state is one generation of rules, receivers and cache. Update replaces the
// whole state, so cached results never outlive the rules that made them.
type state struct {
	rules    relabel.Rules
	children []storage.Appendable
	maxSize  int
	// ttl, when set, drops a cache entry unused for that long (sweep), so
	// series that stopped free their memory before the LRU pushes them out.
	ttl time.Duration
	// clock is a coarse "now" (unix nanoseconds) that sweep advances, so the
	// hot path marks use with an atomic store rather than a clock read.
	clock atomic.Int64

	mu    sync.Mutex
	cache *simplelru.LRU[uint64, *entry]
}

// entry is the cached result for one incoming series.
type entry struct {
	// lbls is the relabelled series; empty if the rules drop it.
	lbls labels.Labels
	// refs are the receivers' series references for lbls, learnt from
	// their Append results so they can skip their own label lookups.
	refs []atomic.Uint64
	// lastUsed is state.clock when the entry was last looked up (cache_ttl).
	lastUsed atomic.Int64
}

func newState(rules relabel.Rules, children []storage.Appendable, maxSize int, ttl time.Duration) *state {
	c := make([]storage.Appendable, 0, len(children))
	for _, ch := range children {
		if ch != nil {
			c = append(c, ch)
		}
	}
	// simplelru only fails on a non-positive size. 0 is Alloy's TTL mode
	// (Validate allows it only with a ttl): the cache is bounded by the
	// entries' age alone.
	size := maxSize
	if size <= 0 {
		size = math.MaxInt
	}
	cache, _ := simplelru.NewLRU[uint64, *entry](size, nil)
	st := &state{rules: rules, children: c, maxSize: maxSize, ttl: ttl, cache: cache}
	st.clock.Store(time.Now().UnixNano())
	return st
}

// sweep drops the entries unused for longer than ttl. The LRU's oldest entry
// is the least recently used, so sweeping stops at the first fresh one.
func (s *state) sweep(now time.Time) (removed int) {
	if s.ttl <= 0 {
		return 0
	}
	s.clock.Store(now.UnixNano())
	cutoff := now.Add(-s.ttl).UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		_, e, ok := s.cache.GetOldest()
		if !ok || e.lastUsed.Load() > cutoff {
			return removed
		}
		s.cache.RemoveOldest()
		removed++
	}
}

// lookup returns the relabel result for a series. ref, if not 0, is the
// reference this receiver returned for the same series earlier: the series'
// hash, which saves hashing the labels again.
func (s *state) lookup(ref storage.SeriesRef, lset labels.Labels, m *txMetrics) (uint64, *entry) {
	key := uint64(ref)
	if key != 0 {
		s.mu.Lock()
		e, ok := s.cache.Get(key)
		s.mu.Unlock()
		if ok {
			m.hits++
			s.touch(e)
			return key, e
		}
	}
	key = lset.Hash()
	if key == 0 {
		key = 1 // 0 means "no reference" to callers
	}
	if key != uint64(ref) {
		s.mu.Lock()
		e, ok := s.cache.Get(key)
		s.mu.Unlock()
		if ok {
			m.hits++
			s.touch(e)
			return key, e
		}
	}
	m.misses++
	out, keep := relabel.Process(lset, s.rules)
	e := &entry{refs: make([]atomic.Uint64, len(s.children))}
	if keep {
		e.lbls = out
	}
	s.touch(e)
	s.mu.Lock()
	s.cache.Add(key, e)
	s.mu.Unlock()
	return key, e
}

func (s *state) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cache.Len()
}

func (s *state) touch(e *entry) {
	if s.ttl > 0 {
		e.lastUsed.Store(s.clock.Load())
	}
}

type txMetrics struct{ processed, written, hits, misses int }

// appender relabels one transaction's samples and forwards them.
type appender struct {
	ctx  context.Context
	s    *state
	m    *metrics
	apps []storage.Appender // created on first use
	tx   txMetrics
	opts *storage.AppendOptions
	// live is set when someone watched the component's Live tab as the
	// transaction started; ls samples what it publishes, out is the last
	// relabelled series (empty when dropped) and ev the event being
	// published (Publish is synchronous).
	live bool
	ls   component.LiveSampler
	out  labels.Labels
	ev   appendable.Point
}

func (a *appender) child(i int) storage.Appender {
	if a.apps[i] == nil {
		a.apps[i] = a.s.children[i].Appender(a.ctx)
		if a.opts != nil {
			a.apps[i].SetOptions(a.opts)
		}
	}
	return a.apps[i]
}

// forward relabels (or finds in the cache) the series and calls f for each
// receiver with the receiver's reference for it. It returns this receiver's
// reference for the caller's cache.
func (a *appender) forward(ref storage.SeriesRef, lset labels.Labels, sample bool, f func(app storage.Appender, ref storage.SeriesRef, l labels.Labels) (storage.SeriesRef, error)) (storage.SeriesRef, error) {
	key, e := a.s.lookup(ref, lset, &a.tx)
	if sample {
		a.tx.processed++
	}
	if a.live {
		a.out = e.lbls
	}
	if e.lbls.IsEmpty() {
		return storage.SeriesRef(key), nil
	}
	if sample {
		a.tx.written++
	}
	var errs []error
	for i := range a.s.children {
		old := storage.SeriesRef(e.refs[i].Load())
		nref, err := f(a.child(i), old, e.lbls)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if nref != old && nref != 0 {
			e.refs[i].Store(uint64(nref))
		}
	}
	switch len(errs) {
	case 0:
		return storage.SeriesRef(key), nil
	case 1:
		// The scrape loop recognises sentinel errors (out of order…) by
		// identity; keep a single error as it is.
		return storage.SeriesRef(key), errs[0]
	default:
		return storage.SeriesRef(key), errors.Join(errs...)
	}
}

func (a *appender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	r, err := a.forward(ref, l, true, func(app storage.Appender, r storage.SeriesRef, l labels.Labels) (storage.SeriesRef, error) {
		return app.Append(r, l, t, v)
	})
	if a.live && !a.ls.Skip() {
		a.ev = appendable.Point{Labels: l, Relabelled: &a.out, T: t, V: v}
		a.ls.Offer("sample", &a.ev)
	}
	return r, err
}

func (a *appender) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	r, err := a.forward(ref, l, true, func(app storage.Appender, r storage.SeriesRef, l labels.Labels) (storage.SeriesRef, error) {
		return app.AppendHistogram(r, l, t, h, fh)
	})
	if a.live && !a.ls.Skip() {
		a.ev = appendable.Point{Labels: l, Relabelled: &a.out, T: t, H: h, FH: fh}
		a.ls.Offer("histogram", &a.ev)
	}
	return r, err
}

func (a *appender) AppendHistogramSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return a.forward(ref, l, false, func(app storage.Appender, r storage.SeriesRef, l labels.Labels) (storage.SeriesRef, error) {
		return app.AppendHistogramSTZeroSample(r, l, t, st, h, fh)
	})
}

func (a *appender) AppendExemplar(ref storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	return a.forward(ref, l, false, func(app storage.Appender, r storage.SeriesRef, l labels.Labels) (storage.SeriesRef, error) {
		return app.AppendExemplar(r, l, e)
	})
}

func (a *appender) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, md metadata.Metadata) (storage.SeriesRef, error) {
	return a.forward(ref, l, false, func(app storage.Appender, r storage.SeriesRef, l labels.Labels) (storage.SeriesRef, error) {
		return app.UpdateMetadata(r, l, md)
	})
}

func (a *appender) AppendSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64) (storage.SeriesRef, error) {
	return a.forward(ref, l, false, func(app storage.Appender, r storage.SeriesRef, l labels.Labels) (storage.SeriesRef, error) {
		return app.AppendSTZeroSample(r, l, t, st)
	})
}

func (a *appender) SetOptions(opts *storage.AppendOptions) {
	a.opts = opts
	for _, app := range a.apps {
		if app != nil {
			app.SetOptions(opts)
		}
	}
}

func (a *appender) Commit() error { return a.end(storage.Appender.Commit) }

func (a *appender) Rollback() error { return a.end(storage.Appender.Rollback) }

// end ends the transaction: it flushes the counts and the live-debugging
// samples, then commits or rolls back (finish) every downstream appender
// that was opened, joining their errors.
func (a *appender) end(finish func(storage.Appender) error) error {
	a.flushMetrics()
	a.ls.Flush()
	var errs []error
	for _, app := range a.apps {
		if app != nil {
			if err := finish(app); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// flushMetrics adds the transaction's counts to the component's metrics
// once, instead of one atomic operation per sample.
func (a *appender) flushMetrics() {
	a.m.processed.Add(float64(a.tx.processed))
	a.m.written.Add(float64(a.tx.written))
	a.m.hits.Add(float64(a.tx.hits))
	a.m.misses.Add(float64(a.tx.misses))
	a.m.size.Set(float64(a.s.len()))
	a.tx = txMetrics{}
}
