package wal

import (
	"math"
	"sync"
	"sync/atomic"
	"unique"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// memSeries is what the writer keeps per series: 32 bytes, stored by value
// in a page (no allocation of its own). Its ref is its position.
type memSeries struct {
	// lset is empty while the slot holds no series.
	lset labels.Labels
	// lastTs is the newest committed sample's timestamp (math.MinInt64
	// before the first; pendingTs from its creation by an appender until
	// that appender ends): out-of-order checks and garbage collection.
	lastTs atomic.Int64
	// meta is the last metadata written for the series; guarded by its
	// ref shard's lock.
	meta unique.Handle[metadata.Metadata]
}

// A series an open transaction created has a lastTs of pendingBase+id,
// id being the transaction's (1 to maxPending), until the transaction ends:
//   - garbage collection leaves it alone (agent may drop such a series
//     between its creation and the commit, and the next append then
//     creates it again under a new ref);
//   - another transaction appending to it writes its series record too
//     (agent does not: if that transaction commits first, readers see
//     samples of a series they do not know yet, and drop them).
const (
	pendingBase = math.MinInt64
	maxPending  = 1 << 20
)

func isPending(ts int64) bool { return ts > pendingBase && ts <= pendingBase+maxPending }

// The index has refShards shards by ref (ref mod refShards) and hashShards
// by label hash, each with its own lock. Lock order: a hash shard, then a
// ref shard.
const (
	shardBits  = 6
	refShards  = 1 << shardBits
	hashShards = 1 << shardBits
	// pageBits: a page holds 64 series of one ref shard (2 KiB), so it
	// covers 4,096 consecutive refs. A page is freed when its last series
	// is.
	pageBits = 6
	pageSize = 1 << pageBits
)

// page is exactly 2 KiB, a Go size class: its count of series is kept
// beside it (refShard.live), not in it.
type page struct {
	series [pageSize]memSeries
}

type refShard struct {
	mu    sync.RWMutex
	pages []*page // by (ref >> shardBits) >> pageBits
	live  []uint8 // series in each page
	// exemplars holds the last exemplar of series that have one, to drop
	// duplicates as Prometheus does.
	exemplars map[chunks.HeadSeriesRef]exemplar.Exemplar
	_         [24]byte // keep shards' locks on separate cache lines
}

type hashShard struct {
	mu    sync.RWMutex
	table refTable
	_     [24]byte
}

// index finds series by ref and by labels.
type index struct {
	refs   [refShards]refShard
	hashes [hashShards]hashShard
	// gcMu serialises garbage collections.
	gcMu sync.Mutex
}

func newIndex() *index { return &index{} }

func (ix *index) refShard(ref chunks.HeadSeriesRef) *refShard {
	return &ix.refs[uint64(ref)&(refShards-1)]
}

func (ix *index) hashShard(hash uint64) *hashShard {
	return &ix.hashes[hash&(hashShards-1)] // refTable.home uses the bits above
}

func slotOf(ref chunks.HeadSeriesRef) (pg uint64, slot int) {
	local := uint64(ref) >> shardBits
	return local >> pageBits, int(local & (pageSize - 1))
}

// lookup returns the series at ref, or nil. The shard's lock is held.
func (s *refShard) lookup(ref chunks.HeadSeriesRef) *memSeries {
	pg, slot := slotOf(ref)
	if pg >= uint64(len(s.pages)) || s.pages[pg] == nil {
		return nil
	}
	ms := &s.pages[pg].series[slot]
	if ms.lset.IsEmpty() {
		return nil
	}
	return ms
}

// getByRef returns the series at ref if its labels are l (or l is empty).
// Checking the labels costs a string comparison that is nearly always
// between the same string (the caller's labels are the ones stored); it
// keeps a ref from another DB or an earlier open from landing on another
// series.
func (ix *index) getByRef(ref chunks.HeadSeriesRef, l labels.Labels) *memSeries {
	s := ix.refShard(ref)
	s.mu.RLock()
	ms := s.lookup(ref)
	if ms != nil && !l.IsEmpty() && !labels.Equal(ms.lset, l) {
		ms = nil
	}
	s.mu.RUnlock()
	return ms
}

// sharedLabels returns the labels stored at ref if they equal l, else l.
func (ix *index) sharedLabels(ref chunks.HeadSeriesRef, l labels.Labels) labels.Labels {
	s := ix.refShard(ref)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ms := s.lookup(ref); ms != nil && labels.Equal(ms.lset, l) {
		return ms.lset
	}
	return l
}

// getLocked returns the series with labels l (whose hash is hash), or
// nil. The hash shard's lock is held.
func (ix *index) getLocked(h *hashShard, hash uint64, l labels.Labels) (chunks.HeadSeriesRef, *memSeries) {
	var found *memSeries
	ref := h.table.find(hash, func(ref chunks.HeadSeriesRef) bool {
		found = ix.getByRef(ref, l)
		return found != nil
	})
	return ref, found
}

// labelsHash is the hash of the labels of the series at ref (which
// exists), for growing a refTable.
func (ix *index) labelsHash(ref chunks.HeadSeriesRef) uint64 {
	s := ix.refShard(ref)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lookup(ref).lset.Hash()
}

// getByHash returns the series with labels l (whose hash is hash).
func (ix *index) getByHash(hash uint64, l labels.Labels) (chunks.HeadSeriesRef, *memSeries) {
	h := ix.hashShard(hash)
	h.mu.RLock()
	ref, ms := ix.getLocked(h, hash, l)
	h.mu.RUnlock()
	return ref, ms
}

// getOrSet returns the series with labels l, creating it with the ref
// newRef gives if there is none. created tells which.
func (ix *index) getOrSet(hash uint64, l labels.Labels, lastTs int64, newRef func() chunks.HeadSeriesRef) (ref chunks.HeadSeriesRef, ms *memSeries, created bool) {
	h := ix.hashShard(hash)
	h.mu.Lock()
	defer h.mu.Unlock()
	if ref, ms := ix.getLocked(h, hash, l); ms != nil {
		return ref, ms, false
	}
	ref = newRef()
	if ref > maxRef {
		return 0, nil, false
	}
	ms = ix.put(ref, l, lastTs)
	h.table.insert(hash, ref, ix.labelsHash)
	return ref, ms, true
}

// put stores a series at ref (which holds none).
func (ix *index) put(ref chunks.HeadSeriesRef, l labels.Labels, lastTs int64) *memSeries {
	s := ix.refShard(ref)
	pg, slot := slotOf(ref)
	s.mu.Lock()
	defer s.mu.Unlock()
	if pg >= uint64(len(s.pages)) {
		s.pages = append(s.pages, make([]*page, pg+1-uint64(len(s.pages)))...)
		s.live = append(s.live, make([]uint8, len(s.pages)-len(s.live))...)
	}
	p := s.pages[pg]
	if p == nil {
		p = &page{}
		s.pages[pg] = p
	}
	ms := &p.series[slot]
	ms.lset = l
	ms.lastTs.Store(lastTs)
	ms.meta = unique.Handle[metadata.Metadata]{}
	s.live[pg]++
	return ms
}

// remove deletes the series at ref with labels hashing to hash, if it has
// had no sample since mint. The hash shard's lock is held.
func (ix *index) removeIfOlder(h *hashShard, hash uint64, ref chunks.HeadSeriesRef, mint int64) bool {
	if !ix.removeFromPage(ref, mint) {
		return false
	}
	h.table.remove(hash, ref)
	h.table.shrinkIfSparse(ix.labelsHash)
	return true
}

// removeFromPage empties ref's slot if its series has had no sample since
// mint.
func (ix *index) removeFromPage(ref chunks.HeadSeriesRef, mint int64) bool {
	s := ix.refShard(ref)
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.lookup(ref)
	if ms == nil {
		return false
	}
	if ts := ms.lastTs.Load(); ts >= mint || (isPending(ts) && mint != math.MaxInt64) {
		return false
	}
	pg, _ := slotOf(ref)
	ms.lset = labels.EmptyLabels()
	ms.meta = unique.Handle[metadata.Metadata]{}
	s.live[pg]--
	if s.live[pg] == 0 {
		// Appenders holding a pointer into the page keep it alive;
		// their writes to it no longer matter.
		s.pages[pg] = nil
	}
	delete(s.exemplars, ref)
	return true
}

// gc removes the series that have had no sample since mint and returns
// their refs. Appends go on meanwhile: a series that receives a sample
// while gc runs is kept.
func (ix *index) gc(mint int64) []chunks.HeadSeriesRef {
	ix.gcMu.Lock()
	defer ix.gcMu.Unlock()
	type candidate struct {
		ref  chunks.HeadSeriesRef
		lset labels.Labels
	}
	var cands []candidate
	for i := range ix.refs {
		s := &ix.refs[i]
		s.mu.RLock()
		for pg, p := range s.pages {
			if p == nil {
				continue
			}
			for slot := range p.series {
				ms := &p.series[slot]
				if ts := ms.lastTs.Load(); ms.lset.IsEmpty() || ts >= mint || isPending(ts) {
					continue
				}
				local := uint64(pg)<<pageBits | uint64(slot)
				cands = append(cands, candidate{ref: chunks.HeadSeriesRef(local<<shardBits | uint64(i)), lset: ms.lset})
			}
		}
		s.mu.RUnlock()
	}
	var deleted []chunks.HeadSeriesRef
	for _, c := range cands {
		hash := c.lset.Hash()
		h := ix.hashShard(hash)
		h.mu.Lock()
		if ix.removeIfOlder(h, hash, c.ref, mint) {
			deleted = append(deleted, c.ref)
		}
		h.mu.Unlock()
	}
	return deleted
}

// remove deletes the series at ref, whose labels are l.
func (ix *index) remove(ref chunks.HeadSeriesRef, l labels.Labels) {
	hash := l.Hash()
	h := ix.hashShard(hash)
	h.mu.Lock()
	ix.removeIfOlder(h, hash, ref, math.MaxInt64)
	h.mu.Unlock()
}

// exists tells whether a series is stored at ref.
func (ix *index) exists(ref chunks.HeadSeriesRef) bool {
	s := ix.refShard(ref)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lookup(ref) != nil
}

// latestExemplar returns the last exemplar appended for ref.
func (ix *index) latestExemplar(ref chunks.HeadSeriesRef) (exemplar.Exemplar, bool) {
	s := ix.refShard(ref)
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.exemplars[ref]
	return e, ok
}

func (ix *index) setLatestExemplar(ref chunks.HeadSeriesRef, e exemplar.Exemplar) {
	s := ix.refShard(ref)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lookup(ref) == nil {
		return
	}
	if s.exemplars == nil {
		s.exemplars = map[chunks.HeadSeriesRef]exemplar.Exemplar{}
	}
	s.exemplars[ref] = e
}

// metadataOf returns the series' last metadata.
func (ix *index) metadataOf(ref chunks.HeadSeriesRef, ms *memSeries) unique.Handle[metadata.Metadata] {
	s := ix.refShard(ref)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return ms.meta
}

func (ix *index) setMetadata(ref chunks.HeadSeriesRef, ms *memSeries, m unique.Handle[metadata.Metadata]) {
	s := ix.refShard(ref)
	s.mu.Lock()
	ms.meta = m
	s.mu.Unlock()
}

// updateTimestamp raises the series' lastTs to t; false if t is older.
func (ms *memSeries) updateTimestamp(t int64) bool {
	for {
		cur := ms.lastTs.Load()
		if t < cur {
			return false
		}
		if t == cur || ms.lastTs.CompareAndSwap(cur, t) {
			return true
		}
	}
}
