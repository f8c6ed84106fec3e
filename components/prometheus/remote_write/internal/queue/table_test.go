package queue

import "testing"

// TestSeriesTable: series are found by ref across pages, replaced,
// removed (a page is freed with its last series, also while iterating),
// and a pageCache sees what the table holds.
func TestSeriesTable(t *testing.T) {
	tb := newSeriesTable()
	refs := []uint64{1, 2, 255, 256, 257, 1 << 20, 1<<40 + 3}
	for _, r := range refs {
		tb.set(r, &series{ref: r})
	}
	if tb.len() != len(refs) || len(tb.pages) != 4 {
		t.Fatalf("%d series in %d pages, want %d in 4", tb.len(), len(tb.pages), len(refs))
	}
	var pc pageCache
	for _, r := range refs {
		if s := tb.get(r); s == nil || s.ref != r {
			t.Fatalf("ref %d: got %v", r, s)
		}
		if s := pc.get(&tb, r); s == nil || s.ref != r {
			t.Fatalf("ref %d through the cache: got %v", r, s)
		}
		if tb.get(r+1<<30) != nil || pc.get(&tb, r+1<<30) != nil {
			t.Fatalf("ref %d: found a series never set", r+1<<30)
		}
	}
	repl := &series{ref: 2}
	tb.set(2, repl)
	if tb.get(2) != repl || tb.len() != len(refs) {
		t.Fatalf("replacing: got %v, %d series", tb.get(2), tb.len())
	}
	tb.set(3, nil) // nothing there
	tb.set(1<<41, nil)
	if tb.len() != len(refs) || len(tb.pages) != 4 {
		t.Fatalf("removing absent refs changed the table: %d series, %d pages", tb.len(), len(tb.pages))
	}
	// Remove all but 257 while iterating.
	seen := 0
	tb.each(func(s *series) {
		seen++
		if s.ref != 257 {
			tb.set(s.ref, nil)
		}
	})
	if seen != len(refs) || tb.len() != 1 || len(tb.pages) != 1 || tb.get(257) == nil || tb.get(256) != nil {
		t.Fatalf("after removing: saw %d, %d series in %d pages", seen, tb.len(), len(tb.pages))
	}
}
