package scrapeloop

import (
	"bytes"
	"hash/maphash"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
)

// key identifies a series of one target by its text as the parser returns
// it (for the text formats, the exposition line's series part; for
// protobuf, the parser's own rendering), without keeping a copy of it: two
// independent 64-bit hashes of those bytes, xxhash64 and the runtime's
// AES-based maphash with a random per-process seed.
//
// Two different series of one target share a key only if both hashes
// collide at once. Treating the pair as a 128-bit random value, the chance
// that any two of n series of a target collide is about n²/2¹²⁹: 1.5×10⁻²⁷
// for a target of a million series, 1.5×10⁻²⁹ per target of 100,000. A
// collision would give the second series the first one's labels (its
// samples would be written under the wrong series); since maphash's seed
// is random per process, a target cannot choose lines that collide.
type key struct{ a, b uint64 }

var keySeed = maphash.MakeSeed()

func keyOf(met []byte) key {
	return key{xxhash.Sum64(met), maphash.Bytes(keySeed, met)}
}

// entry is one series of the cache: what the scrape appended last time,
// so a series seen again is appended by reference without parsing or
// relabelling its labels.
type entry struct {
	ref storage.SeriesRef
	// lset is the labels value appended (the receivers keep the same
	// string, so it is not an extra copy).
	lset labels.Labels
	// lastIter is the iteration the series was last seen in; tracked the
	// iteration in which it was last tracked for staleness (appended
	// without an explicit timestamp, or with one and
	// track_timestamps_staleness). Zero in both marks a free slot.
	lastIter, tracked uint32
	// next is 1 + the index of the entry that followed this one in the
	// last scrape (0: none); k is the entry's key (zero in a free slot).
	next uint32
	k    key
}

// firstIter is the cache's first iteration: iterations 0 and 1 are never
// current, so a free slot (zeroed) is never "seen in the last iteration".
const firstIter = 2

// cache is a scrape loop's memory of its target, as Prometheus' scrapeCache
// (scrape/scrape.go) with the same semantics, but keyed by a 128-bit hash
// of the series text instead of a copy of it, and with staleness tracked
// in the entries instead of two maps of references:
//
//   - Prometheus keeps the references of the series seen in the current and
//     the previous iteration and marks stale those in the previous one and
//     not the current one. Here an entry records the iteration it was last
//     tracked in; those tracked in iteration i−1 and not in i are stale
//     (compared by reference, as Prometheus does, so two spellings of one
//     series do not make each other stale). The counts of entries tracked
//     in i−1 and carried into i tell, without a scan, that nothing went
//     stale, which is every scrape of a stable target.
//   - Series dropped by metric relabelling are remembered by key too.
//   - The up and scrape_* series are kept apart (report).
type cache struct {
	iter uint32
	// successfulCount is the number of entries after the last successful
	// scrape (Prometheus' forced-flush rule).
	successfulCount int

	index   map[key]uint32
	entries []entry
	free    []uint32
	// prev is 1 + the index of the entry last looked up or added in this
	// iteration (0: none yet), first 1 + the index of the first entry of
	// the last iteration. A target exposes its series in the same order
	// scrape after scrape, so the entry that followed prev last time is
	// checked (by key) before the index map: a sequential walk through
	// entries instead of a random access into the map per sample.
	prev, first uint32
	dropped     map[key]uint32

	// seen and droppedSeen count the entries and dropped keys seen in
	// this iteration: when all were, a flush has nothing to forget and
	// skips its scan.
	seen, droppedSeen int

	// prevTracked is the number of entries tracked in iter−1, curTracked
	// in iter, carried those tracked in both.
	prevTracked, curTracked, carried int

	report [numReport]reportEntry

	metaMu   sync.Mutex
	metadata map[string]*metaEntry

	flushForced func()
	// reserved is set once the cache was sized for a first scrape.
	reserved bool
}

type reportEntry struct {
	ref  storage.SeriesRef
	lset labels.Labels
	ok   bool
}

type metaEntry struct {
	metadata.Metadata
	lastIter, lastIterChange uint32
}

func newCache(flushForced func()) *cache {
	return &cache{
		iter:        firstIter,
		index:       map[key]uint32{},
		dropped:     map[key]uint32{},
		metadata:    map[string]*metaEntry{},
		flushForced: flushForced,
	}
}

// reserve sizes an empty cache for n series. A target's first scrape adds
// all its series at once: grown by appending and rehashing, the entries and
// the index left about twice their final size in garbage (3.9 MB per
// target of 10,000 series, in the burst of first scrapes that sets the
// process' peak RSS) and kept up to a quarter more capacity than used.
func (c *cache) reserve(n int) {
	c.reserved = true
	if len(c.entries) > 0 || len(c.index) > 0 || n <= cap(c.entries) {
		return
	}
	c.entries = make([]entry, 0, n)
	c.index = make(map[key]uint32, n)
}

// seriesEstimate is the number of series a body of a target's first scrape
// is taken to hold: its lines (comments included), but at most one per 32
// bytes (a series line is longer; a body of short lines cannot have a
// cache reserved beyond 1.75 times its own size) and at most sampleLimit
// (when set) plus one.
func seriesEstimate(b []byte, sampleLimit int) int {
	n := min(bytes.Count(b, []byte{'\n'}), len(b)/32)
	if sampleLimit > 0 {
		n = min(n, sampleLimit+1)
	}
	return n
}

// get returns the entry of k, marking it seen, and whether it was seen
// already in this iteration.
func (c *cache) get(k key) (idx uint32, ok, alreadyScraped bool) {
	guess := c.first
	if c.prev != 0 {
		guess = c.entries[c.prev-1].next
	}
	if guess != 0 && c.entries[guess-1].k == k {
		idx, ok = guess-1, true
	} else if idx, ok = c.index[k]; !ok {
		return 0, false, false
	}
	c.link(idx)
	e := &c.entries[idx]
	alreadyScraped = e.lastIter == c.iter
	if !alreadyScraped {
		c.seen++
	}
	e.lastIter = c.iter
	return idx, true, alreadyScraped
}

func (c *cache) add(k key, ref storage.SeriesRef, lset labels.Labels) uint32 {
	var idx uint32
	if n := len(c.free); n > 0 {
		idx = c.free[n-1]
		c.free = c.free[:n-1]
	} else {
		idx = uint32(len(c.entries))
		c.entries = append(c.entries, entry{})
	}
	c.entries[idx] = entry{ref: ref, lset: lset, lastIter: c.iter, k: k}
	c.index[k] = idx
	c.seen++
	c.link(idx)
	return idx
}

// link records that idx follows the entry looked up before it.
func (c *cache) link(idx uint32) {
	if c.prev != 0 {
		c.entries[c.prev-1].next = idx + 1
	} else {
		c.first = idx + 1
	}
	c.prev = idx + 1
}

// isDropped reports whether k was dropped by relabelling, marking it seen.
func (c *cache) isDropped(k key) bool {
	if len(c.dropped) == 0 {
		return false
	}
	if it, ok := c.dropped[k]; ok {
		if it != c.iter {
			c.dropped[k] = c.iter
			c.droppedSeen++
		}
		return true
	}
	return false
}

func (c *cache) addDropped(k key) {
	c.dropped[k] = c.iter
	c.droppedSeen++
}

// track marks entry idx as seen for staleness in this iteration.
func (c *cache) track(idx uint32) {
	e := &c.entries[idx]
	switch e.tracked {
	case c.iter:
		return
	case c.iter - 1:
		c.carried++
	}
	e.tracked = c.iter
	c.curTracked++
}

// forEachStale calls f with each series tracked in the previous iteration
// and not in this one, once per reference, until f returns false.
func (c *cache) forEachStale(f func(storage.SeriesRef, labels.Labels) bool) {
	if c.carried == c.prevTracked {
		return // every series of the last iteration is still there
	}
	prev := c.iter - 1
	stale := map[storage.SeriesRef]uint32{}
	for i := range c.entries {
		if e := &c.entries[i]; e.tracked == prev {
			stale[e.ref] = uint32(i)
		}
	}
	if c.curTracked > 0 {
		// A reference tracked now under another spelling is not stale.
		for i := range c.entries {
			if e := &c.entries[i]; e.tracked == c.iter {
				delete(stale, e.ref)
			}
		}
	}
	for ref, i := range stale {
		if !f(ref, c.entries[i].lset) {
			return
		}
	}
}

func (c *cache) reportCount() int {
	n := 0
	for i := range c.report {
		if c.report[i].ok {
			n++
		}
	}
	return n
}

// iterDone ends an iteration; flush (a successful scrape) forgets the
// series not seen in it, as Prometheus' iterDone does.
func (c *cache) iterDone(flush bool) {
	c.metaMu.Lock()
	count := len(c.index) + c.reportCount() + len(c.dropped) + len(c.metadata)
	c.metaMu.Unlock()
	switch {
	case flush:
		c.successfulCount = count
	case count > c.successfulCount*2+1000:
		// Series of scrapes that all failed would otherwise pile up.
		flush = true
		if c.flushForced != nil {
			c.flushForced()
		}
	}
	if flush && c.seen < len(c.index) {
		for k, idx := range c.index {
			e := &c.entries[idx]
			if e.lastIter != c.iter {
				delete(c.index, k)
				*e = entry{}
				c.free = append(c.free, idx)
			}
		}
		c.shrink()
	}
	if flush && c.droppedSeen < len(c.dropped) {
		for k, it := range c.dropped {
			if it != c.iter {
				delete(c.dropped, k)
			}
		}
	}
	if flush {
		c.metaMu.Lock()
		for m, e := range c.metadata {
			// Metadata is kept 10 scrapes after its metric disappeared.
			if c.iter-e.lastIter > 10 {
				delete(c.metadata, m)
			}
		}
		c.metaMu.Unlock()
	}
	c.seen, c.droppedSeen = 0, 0
	c.prev = 0
	c.prevTracked, c.curTracked, c.carried = c.curTracked, 0, 0
	c.iter++
}

// shrink gives back the memory of a target that lost most of its series.
func (c *cache) shrink() {
	live := len(c.index)
	if len(c.entries) < 1024 || live > len(c.entries)/4 {
		return
	}
	idx := make(map[key]uint32, live)
	entries := make([]entry, 0, live)
	for k, i := range c.index {
		idx[k] = uint32(len(entries))
		e := c.entries[i]
		e.next = 0
		entries = append(entries, e)
	}
	c.index, c.entries, c.free = idx, entries, nil
	c.first = 0
}

func (c *cache) metaEntryOf(mfName []byte) *metaEntry {
	e, ok := c.metadata[string(mfName)]
	if !ok {
		e = &metaEntry{Metadata: metadata.Metadata{Type: model.MetricTypeUnknown}}
		c.metadata[string(mfName)] = e
	}
	e.lastIter = c.iter
	return e
}

func (c *cache) setType(mfName []byte, t model.MetricType) ([]byte, *metaEntry) {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	e := c.metaEntryOf(mfName)
	if e.Type != t {
		e.Type = t
		e.lastIterChange = c.iter
	}
	return mfName, e
}

func (c *cache) setHelp(mfName, help []byte) ([]byte, *metaEntry) {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	e := c.metaEntryOf(mfName)
	if e.Help != string(help) {
		e.Help = string(help)
		e.lastIterChange = c.iter
	}
	return mfName, e
}

func (c *cache) setUnit(mfName, unit []byte) ([]byte, *metaEntry) {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	e := c.metaEntryOf(mfName)
	if e.Unit != string(unit) {
		e.Unit = string(unit)
		e.lastIterChange = c.iter
	}
	return mfName, e
}
