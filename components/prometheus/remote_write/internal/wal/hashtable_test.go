package wal

import (
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunks"
)

// TestRefTableAgainstMap: random inserts and removals, with many colliding
// hashes (same tag and home slot) among them, give the same answers as a
// map, through growth, tombstones and shrinking.
func TestRefTableAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tab refTable
	hashOf := map[chunks.HeadSeriesRef]uint64{}
	labelsHash := func(r chunks.HeadSeriesRef) uint64 { return hashOf[r] }
	var next chunks.HeadSeriesRef
	live, removed := []chunks.HeadSeriesRef{}, []chunks.HeadSeriesRef{}
	check := func() {
		t.Helper()
		for _, r := range live {
			got := tab.find(hashOf[r], func(c chunks.HeadSeriesRef) bool { return c == r })
			if got != r {
				t.Fatalf("ref %d (hash %x) not found; table %d live %d dead %d slots", r, hashOf[r], tab.live, tab.dead, len(tab.slots))
			}
		}
		if tab.live != len(live) {
			t.Fatalf("table holds %d, want %d", tab.live, len(live))
		}
	}
	for round := range 20 {
		for range 2000 {
			next++
			h := rng.Uint64()
			if rng.IntN(4) == 0 {
				h = uint64(rng.IntN(8)) * 0x9e3779b97f4a7c15 // a few hashes, many times
			}
			hashOf[next] = h
			tab.insert(h, next, labelsHash)
			live = append(live, next)
		}
		check()
		// Remove most in some rounds (shrinking), a few in others.
		keep := live[:0]
		for _, r := range live {
			if (round%3 == 0 && rng.IntN(10) > 0) || rng.IntN(10) == 0 {
				if !tab.remove(hashOf[r], r) {
					t.Fatalf("remove %d: not found", r)
				}
				tab.shrinkIfSparse(labelsHash)
				removed = append(removed, r)
				continue
			}
			keep = append(keep, r)
		}
		live = keep
		check()
		for _, r := range removed[max(0, len(removed)-100):] {
			if tab.find(hashOf[r], func(c chunks.HeadSeriesRef) bool { return c == r }) != 0 || tab.remove(hashOf[r], r) {
				t.Fatalf("removed ref %d still there", r)
			}
		}
	}
	for _, r := range live {
		tab.remove(hashOf[r], r)
	}
	if len(tab.slots) != 0 {
		t.Fatalf("empty table keeps %d slots", len(tab.slots))
	}
	// Removing most entries shrinks the table.
	for r := range chunks.HeadSeriesRef(10000) {
		hashOf[next+r+1] = rng.Uint64()
		tab.insert(hashOf[next+r+1], next+r+1, labelsHash)
	}
	big := len(tab.slots)
	for r := range chunks.HeadSeriesRef(9990) {
		tab.remove(hashOf[next+r+1], next+r+1)
		tab.shrinkIfSparse(labelsHash)
	}
	if len(tab.slots) > big/64 {
		t.Fatalf("10 entries left in %d slots (%d before)", len(tab.slots), big)
	}
}
