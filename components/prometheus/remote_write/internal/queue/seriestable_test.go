package queue

import (
	"math/rand/v2"
	"testing"
)

// TestSeriesTableMatchesMap drives the table and a map with the same
// random sets and deletes (dense refs, refs across pages, refs past the
// paged range) and checks every lookup, the count and the iteration.
func TestSeriesTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tab seriesTable
	want := map[uint64]*series{}
	refOf := func() uint64 {
		switch rng.IntN(10) {
		case 0:
			return maxPagedRef + rng.Uint64N(1<<40) // past the pages: the map
		case 1:
			return maxPagedRef - 1 - rng.Uint64N(4) // the last paged refs
		default:
			return rng.Uint64N(5 * seriesPageLen) // dense, five pages
		}
	}
	for i := 0; i < 50_000; i++ {
		ref := refOf()
		if rng.IntN(3) == 0 {
			tab.delete(ref)
			delete(want, ref)
		} else {
			s := &series{ref: ref}
			tab.set(ref, s)
			want[ref] = s
		}
		if probe := refOf(); tab.get(probe) != want[probe] {
			t.Fatalf("step %d: get(%d) = %p, want %p", i, probe, tab.get(probe), want[probe])
		}
	}
	if tab.len() != len(want) {
		t.Fatalf("len = %d, want %d", tab.len(), len(want))
	}
	seen := map[uint64]bool{}
	tab.each(func(ref uint64, s *series) {
		if want[ref] != s || seen[ref] {
			t.Fatalf("each gave ref %d with %p (seen before: %v), want %p", ref, s, seen[ref], want[ref])
		}
		seen[ref] = true
	})
	if len(seen) != len(want) {
		t.Fatalf("each visited %d series, want %d", len(seen), len(want))
	}
	// Deleting everything while iterating (as SeriesReset does) frees
	// every page.
	tab.each(func(ref uint64, _ *series) { tab.delete(ref) })
	if tab.len() != 0 || len(tab.big) != 0 {
		t.Fatalf("after deleting all: len %d, %d in the map", tab.len(), len(tab.big))
	}
	for p, pg := range tab.pages {
		if pg != nil {
			t.Fatalf("page %d kept after its last series was deleted", p)
		}
	}
}
