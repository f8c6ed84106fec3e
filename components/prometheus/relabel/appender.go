package relabel

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

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
//   - by the labels' hash, in a map under a lock (the slow path, for new
//     series and callers without a reference).
//
// Eviction. When max_cache_size entries are cached, a new series evicts a
// random entry, not the least recently used one: scrapes visit their
// series in a cycle, and with more series than the cache holds, LRU (or
// FIFO) evicts exactly the series needed next and misses on every sample
// (100,050 series through the default 100,000 entries relabelled every
// sample and doubled the process' CPU), where random eviction still hits
// about as often as the cache is full. cache_ttl drops entries unused for
// the ttl: each entry records its last use, and a sweep scans them.
type state struct {
	rules    relabel.Rules
	children []storage.Appendable
	maxSize  int
	// ttl, when set, drops a cache entry unused for that long (sweep), so
	// series that stopped free their memory before eviction pushes them out.
	ttl time.Duration
	// clock is a coarse "now" (unix nanoseconds) that Run advances every
	// clockInterval, so the hot path marks use with an atomic store rather
	// than a clock read.
	clock atomic.Int64

	// slots maps slot numbers to entries; readers load it without a lock,
	// writers (under mu) replace chunk pointers only by growing the list.
	slots atomic.Pointer[[]*slotChunk]

	mu    sync.Mutex
	byKey map[uint64]*entry // by the incoming labels' hash
	free  []uint32          // slot numbers of evicted entries, for reuse
	next  uint32            // the next never-used slot number
}

// slotChunk is a fixed block of slots, so growing never moves a slot.
type slotChunk [slotChunkSize]atomic.Pointer[entry]

const (
	slotChunkBits = 12
	slotChunkSize = 1 << slotChunkBits
)

// entry is the cached result for one incoming series. What a cache hit
// reads (in, lbls, the first receiver's reference) comes first and in the
// entry itself: at 100k series every separate object a hit touches is a
// cache miss per sample.
type entry struct {
	// in is the incoming series (byKey holds it under in.Hash()). in
	// shares the caller's label data: labels are immutable strings
	// (Prometheus' default stringlabels build).
	in labels.Labels
	// lbls is the relabelled series; empty if the rules drop it.
	lbls labels.Labels
	// ref0 and more are the receivers' series references for lbls (the
	// first receiver's, then the others'), learnt from their Append
	// results so they can skip their own label lookups.
	ref0 atomic.Uint64
	more []atomic.Uint64
	slot uint32
	// lastUsed is state.clock when the entry was last looked up (cache_ttl).
	lastUsed atomic.Int64
}

// ref is receiver i's reference for the entry's series.
func (e *entry) ref(i int) *atomic.Uint64 {
	if i == 0 {
		return &e.ref0
	}
	return &e.more[i-1]
}

func newState(rules relabel.Rules, children []storage.Appendable, maxSize int, ttl time.Duration) *state {
	c := make([]storage.Appendable, 0, len(children))
	for _, ch := range children {
		if ch != nil {
			c = append(c, ch)
		}
	}
	// maxSize 0 is Alloy's TTL mode (Validate allows it only with a ttl):
	// the cache is bounded by the entries' age alone.
	st := &state{rules: rules, children: c, maxSize: maxSize, ttl: ttl, byKey: map[uint64]*entry{}}
	st.slots.Store(&[]*slotChunk{})
	st.clock.Store(time.Now().UnixNano())
	return st
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

// slot returns the entry in slot n, or nil.
func (s *state) slot(n uint32) *entry {
	chunks := *s.slots.Load()
	c := int(n >> slotChunkBits)
	if c >= len(chunks) {
		return nil
	}
	return chunks[c][n&(slotChunkSize-1)].Load()
}

// bySlot returns the entry in the slot a reference names, or nil.
func (s *state) bySlot(ref storage.SeriesRef) *entry {
	if ref == 0 || ref > math.MaxUint32 {
		return nil
	}
	return s.slot(uint32(ref - 1))
}

// remove drops e from the cache. s.mu is held.
func (s *state) remove(e *entry) {
	delete(s.byKey, e.in.Hash())
	s.setSlot(e.slot, nil)
	s.free = append(s.free, e.slot)
}

// evictRandom drops a random entry. s.mu is held and the cache is not
// empty.
func (s *state) evictRandom() {
	// Slots are mostly taken (freed ones are reused first), so a few
	// draws find an entry; a scan from a random start is the fallback.
	for range 32 {
		if e := s.slot(rand.Uint32N(s.next)); e != nil {
			s.remove(e)
			return
		}
	}
	start := rand.Uint32N(s.next)
	for i := range s.next {
		if e := s.slot((start + i) % s.next); e != nil {
			s.remove(e)
			return
		}
	}
}

// advance sets the coarse clock.
func (s *state) advance(now time.Time) { s.clock.Store(now.UnixNano()) }

// sweep drops the entries unused for longer than ttl.
func (s *state) sweep(now time.Time) (removed int) {
	if s.ttl <= 0 {
		return 0
	}
	s.advance(now)
	cutoff := now.Add(-s.ttl).UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.byKey {
		if e.lastUsed.Load() <= cutoff {
			s.remove(e)
			removed++
		}
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
	if old := s.byKey[key]; old != nil {
		if labels.Equal(old.in, lset) {
			m.hits++
			s.touch(old)
			return storage.SeriesRef(old.slot) + 1, old
		}
		// Another series with the same hash: it gives way.
		s.remove(old)
	}
	m.misses++
	if s.maxSize > 0 && len(s.byKey) >= s.maxSize {
		s.evictRandom()
	}
	e := &entry{in: lset}
	if len(s.children) > 1 {
		e.more = make([]atomic.Uint64, len(s.children)-1)
	}
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
	s.setSlot(e.slot, e)
	s.byKey[key] = e
	return storage.SeriesRef(e.slot) + 1, e
}

func (s *state) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byKey)
}

// touch marks e used now (cache_ttl).
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
		return key, nil
	}
	if sample {
		a.tx.written++
	}
	var errs []error
	for i := range a.s.children {
		r := e.ref(i)
		old := storage.SeriesRef(r.Load())
		nref, err := f(a.child(i), old, e.lbls)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if nref != old && nref != 0 {
			r.Store(uint64(nref))
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
