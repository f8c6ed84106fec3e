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
//
// The cache. Every incoming series gets an entry holding its relabelled
// labels and the receivers' references for them. Entries are found two
// ways:
//   - by slot, the fast path: the reference this receiver returns for a
//     series is its entry's slot number (plus one), which the caller (the
//     scrape loop's cache) passes back on every later sample. A slot is an
//     index into an array read without a lock, and the entry is checked to
//     be the caller's series by comparing labels (the scrape loop passes the
//     same labels every time, so the comparison is of two identical
//     pointers). A reference that is not this state's, or whose slot was
//     reused after an eviction, fails the comparison and takes the slow
//     path;
//   - by the labels' hash, in an LRU (the slow path, for new series and
//     callers without a reference), which also bounds the cache
//     (max_cache_size) and orders it for cache_ttl's sweep.
//
// The LRU's order is refreshed from the fast path at most once per
// promoteEvery per entry, not on every sample: moving an entry to the
// front of the list costs a lock and three pointer writes, about as much
// as the rest of a hit. Eviction by max_cache_size therefore picks a series
// unused for at least about that long rather than the strictly least
// recently used one; cache_ttl still drops exactly the entries unused for
// the ttl, since each entry records its last use.
type state struct {
	rules    relabel.Rules
	children []storage.Appendable
	maxSize  int
	// ttl, when set, drops a cache entry unused for that long (sweep), so
	// series that stopped free their memory before the LRU pushes them out.
	ttl time.Duration
	// clock is a coarse "now" (unix nanoseconds) that Run advances every
	// sweepInterval, so the hot path marks use with an atomic store rather
	// than a clock read.
	clock atomic.Int64

	// slots maps slot numbers to entries; readers load it without a lock,
	// writers (under mu) replace chunk pointers only by growing the list.
	slots atomic.Pointer[[]*slotChunk]

	mu    sync.Mutex
	cache *simplelru.LRU[uint64, *entry]
	free  []uint32 // slot numbers of evicted entries, for reuse
	next  uint32   // the next never-used slot number
}

// slotChunk is a fixed block of slots, so growing never moves a slot.
type slotChunk [slotChunkSize]atomic.Pointer[entry]

const (
	slotChunkBits = 12
	slotChunkSize = 1 << slotChunkBits
	// promoteEvery bounds how often a hit moves its entry to the LRU's
	// front (see state).
	promoteEvery = 10 * time.Second
)

// entry is the cached result for one incoming series.
type entry struct {
	// in is the incoming series, key its hash in the LRU, slot its slot
	// number. in shares the caller's label data: labels are immutable
	// strings (Prometheus' default stringlabels build).
	in   labels.Labels
	key  uint64
	slot uint32
	// lbls is the relabelled series; empty if the rules drop it.
	lbls labels.Labels
	// refs are the receivers' series references for lbls, learnt from
	// their Append results so they can skip their own label lookups.
	refs []atomic.Uint64
	// lastUsed is state.clock when the entry was last looked up (cache_ttl);
	// promoted when it was last moved to the LRU's front.
	lastUsed atomic.Int64
	promoted atomic.Int64
}

func newState(rules relabel.Rules, children []storage.Appendable, maxSize int, ttl time.Duration) *state {
	c := make([]storage.Appendable, 0, len(children))
	for _, ch := range children {
		if ch != nil {
			c = append(c, ch)
		}
	}
	st := &state{rules: rules, children: c, maxSize: maxSize, ttl: ttl}
	// simplelru only fails on a non-positive size. 0 is Alloy's TTL mode
	// (Validate allows it only with a ttl): the cache is bounded by the
	// entries' age alone.
	size := maxSize
	if size <= 0 {
		size = math.MaxInt
	}
	st.cache, _ = simplelru.NewLRU[uint64, *entry](size, st.evicted)
	st.slots.Store(&[]*slotChunk{})
	st.clock.Store(time.Now().UnixNano())
	return st
}

// evicted frees the slot of an entry leaving the LRU. s.mu is held.
func (s *state) evicted(_ uint64, e *entry) {
	s.setSlot(e.slot, nil)
	s.free = append(s.free, e.slot)
}

// setSlot points slot n at e, growing the slots if needed. s.mu is held.
func (s *state) setSlot(n uint32, e *entry) {
	chunks := *s.slots.Load()
	c := int(n >> slotChunkBits)
	if c >= len(chunks) {
		grown := make([]*slotChunk, c+1)
		copy(grown, chunks)
		for i := len(chunks); i <= c; i++ {
			grown[i] = new(slotChunk)
		}
		s.slots.Store(&grown)
		chunks = grown
	}
	chunks[c][n&(slotChunkSize-1)].Store(e)
}

// bySlot returns the entry in the slot a reference names, or nil.
func (s *state) bySlot(ref storage.SeriesRef) *entry {
	if ref == 0 || ref > math.MaxUint32 {
		return nil
	}
	n := uint32(ref - 1)
	chunks := *s.slots.Load()
	c := int(n >> slotChunkBits)
	if c >= len(chunks) {
		return nil
	}
	return chunks[c][n&(slotChunkSize-1)].Load()
}

// advance sets the coarse clock.
func (s *state) advance(now time.Time) { s.clock.Store(now.UnixNano()) }

// sweep drops the entries unused for longer than ttl. The LRU's oldest
// entries are the least recently promoted: an entry used since (fresh) is
// moved to the front, and the sweep goes on until it has seen every entry
// once or finds the first fresh entry it already moved.
func (s *state) sweep(now time.Time) (removed int) {
	if s.ttl <= 0 {
		return 0
	}
	s.advance(now)
	cutoff := now.Add(-s.ttl).UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := s.cache.Len(); n > 0; n-- {
		key, e, ok := s.cache.GetOldest()
		if !ok {
			break
		}
		if e.lastUsed.Load() > cutoff {
			if e.promoted.Load() == now.UnixNano() {
				break // every entry has been seen
			}
			e.promoted.Store(now.UnixNano())
			s.cache.Get(key)
			continue
		}
		s.cache.RemoveOldest()
		removed++
	}
	return removed
}

// lookup returns the relabel result for a series and the reference to
// return for it. ref, if not 0, is the reference this receiver returned
// for the same series earlier.
func (s *state) lookup(ref storage.SeriesRef, lset labels.Labels, m *txMetrics) (storage.SeriesRef, *entry) {
	if e := s.bySlot(ref); e != nil && labels.Equal(e.in, lset) {
		m.hits++
		s.touch(e)
		return ref, e
	}
	key := lset.Hash()
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.cache.Get(key)
	if ok && labels.Equal(old.in, lset) {
		m.hits++
		s.touch(old)
		old.promoted.Store(s.clock.Load())
		return storage.SeriesRef(old.slot) + 1, old
	}
	if ok {
		// Another series with the same hash: it gives way.
		s.cache.Remove(key)
	}
	m.misses++
	e := &entry{in: lset, key: key, refs: make([]atomic.Uint64, len(s.children))}
	if out, keep := relabel.Process(lset, s.rules); keep {
		e.lbls = out
	}
	if n := len(s.free); n > 0 {
		e.slot = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		e.slot = s.next
		s.next++
	}
	s.touch(e)
	e.promoted.Store(s.clock.Load())
	s.setSlot(e.slot, e)
	s.cache.Add(key, e)
	return storage.SeriesRef(e.slot) + 1, e
}

func (s *state) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cache.Len()
}

// touch marks e used now (cache_ttl) and, at most once per promoteEvery,
// moves it to the LRU's front.
func (s *state) touch(e *entry) {
	now := s.clock.Load()
	if s.ttl > 0 {
		e.lastUsed.Store(now)
	}
	if now-e.promoted.Load() >= int64(promoteEvery) && s.mu.TryLock() {
		// Under contention the promotion waits for a later sample.
		e.promoted.Store(now)
		s.cache.Get(e.key)
		s.mu.Unlock()
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
		return key, nil
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
		return key, nil
	case 1:
		// The scrape loop recognises sentinel errors (out of order…) by
		// identity; keep a single error as it is.
		return key, errs[0]
	default:
		return key, errors.Join(errs...)
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
