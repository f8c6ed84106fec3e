package wal

import (
	"math/bits"

	"github.com/prometheus/prometheus/tsdb/chunks"
)

// refTable finds the refs of series by their labels' hash: open addressing
// with linear probing over one uint64 per slot (a 20-bit tag from the hash,
// the 44-bit ref), at most 3/4 full. That is about 14 bytes per series
// where a Go map from hash to ref takes about 25. Series whose hashes
// collide are simply further entries; their labels tell them apart.
//
// The table does not keep full hashes: growing it asks labelsHash for
// each entry's (a rare, amortised cost).
type refTable struct {
	slots []uint64
	live  int // entries
	dead  int // tombstones
}

const (
	refBits = 44
	refMask = 1<<refBits - 1
	// maxRef is the largest ref the table can hold (17 trillion series
	// created in one WAL's life).
	maxRef = refMask - 1
	// tombstone marks a deleted entry; probes pass over it.
	tombstone   = ^uint64(0)
	minTableLen = 16
)

func tagOf(hash uint64) uint64 { return hash >> refBits }

func (t *refTable) home(hash uint64) int {
	return int((hash >> shardBits) & uint64(len(t.slots)-1))
}

// find calls match with each ref stored under hash's tag, in probe order,
// until it returns true; it returns that ref, or 0.
func (t *refTable) find(hash uint64, match func(chunks.HeadSeriesRef) bool) chunks.HeadSeriesRef {
	if len(t.slots) == 0 {
		return 0
	}
	mask := len(t.slots) - 1
	tag := tagOf(hash)
	for i := t.home(hash); ; i = (i + 1) & mask {
		e := t.slots[i]
		switch {
		case e == 0:
			return 0
		case e == tombstone:
		case e>>refBits == tag:
			if ref := chunks.HeadSeriesRef(e & refMask); match(ref) {
				return ref
			}
		}
	}
}

// insert adds ref under hash. It must not be there already.
func (t *refTable) insert(hash uint64, ref chunks.HeadSeriesRef, labelsHash func(chunks.HeadSeriesRef) uint64) {
	if (t.live+t.dead+1)*4 > len(t.slots)*3 {
		t.rehash(labelsHash)
	}
	mask := len(t.slots) - 1
	for i := t.home(hash); ; i = (i + 1) & mask {
		switch t.slots[i] {
		case tombstone:
			t.dead--
			fallthrough
		case 0:
			t.slots[i] = tagOf(hash)<<refBits | uint64(ref)
			t.live++
			return
		}
	}
}

// remove deletes ref, stored under hash.
func (t *refTable) remove(hash uint64, ref chunks.HeadSeriesRef) bool {
	if len(t.slots) == 0 {
		return false
	}
	mask := len(t.slots) - 1
	want := tagOf(hash)<<refBits | uint64(ref)
	for i := t.home(hash); ; i = (i + 1) & mask {
		switch t.slots[i] {
		case 0:
			return false
		case want:
			t.slots[i] = tombstone
			t.live--
			t.dead++
			if t.live == 0 {
				*t = refTable{}
			}
			return true
		}
	}
}

// shrinkIfSparse rebuilds the table smaller once it is less than 1/8 full
// (after garbage collection removed most series).
func (t *refTable) shrinkIfSparse(labelsHash func(chunks.HeadSeriesRef) uint64) {
	if len(t.slots) > minTableLen && t.live*8 < len(t.slots) {
		t.rehash(labelsHash)
	}
}

// rehash rebuilds the table at a size where its entries fill 3/8 of it
// (growing it, or shrinking it after many removals), without tombstones.
func (t *refTable) rehash(labelsHash func(chunks.HeadSeriesRef) uint64) {
	// The smallest power of two at least 8/3 of the entries.
	n := max(minTableLen, 1<<bits.Len(uint(max(t.live*8/3, 1)-1)))
	old := t.slots
	*t = refTable{slots: make([]uint64, n)}
	mask := n - 1
	for _, e := range old {
		if e == 0 || e == tombstone {
			continue
		}
		ref := chunks.HeadSeriesRef(e & refMask)
		for i := t.home(labelsHash(ref)); ; i = (i + 1) & mask {
			if t.slots[i] == 0 {
				t.slots[i] = e
				t.live++
				break
			}
		}
	}
}
