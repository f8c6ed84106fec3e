package wal

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"
)

// TestHashCollisions: series whose label hashes collide are kept apart,
// found by labels and by ref, and removed one at a time.
func TestHashCollisions(t *testing.T) {
	ix := newIndex()
	var next chunks.HeadSeriesRef
	newRef := func() chunks.HeadSeriesRef { next++; return next }
	const hash = 42 // the same for all three, as a collision would have it
	ls := []labels.Labels{labels.FromStrings("a", "1"), labels.FromStrings("a", "2"), labels.FromStrings("a", "3")}
	refs := make([]chunks.HeadSeriesRef, len(ls))
	for i, l := range ls {
		r, _, created := ix.getOrSet(hash, l, math.MinInt64, newRef)
		if !created {
			t.Fatalf("%s: not created", l)
		}
		refs[i] = r
	}
	for i, l := range ls {
		if r, ms := ix.getByHash(hash, l); ms == nil || r != refs[i] || !labels.Equal(ms.lset, l) {
			t.Fatalf("%s: found ref %d (%v), want %d", l, r, ms, refs[i])
		}
		if r, _, created := ix.getOrSet(hash, l, math.MinInt64, newRef); created || r != refs[i] {
			t.Fatalf("%s: getOrSet again gave %d created=%v", l, r, created)
		}
		if ms := ix.getByRef(refs[i], ls[(i+1)%3]); ms != nil {
			t.Fatalf("ref %d with other labels found a series", refs[i])
		}
	}
	// Remove the first (the map's own entry) and the middle one.
	h := ix.hashShard(hash)
	for _, i := range []int{0, 1} {
		h.mu.Lock()
		removed := ix.removeIfOlder(h, hash, refs[i], math.MaxInt64)
		h.mu.Unlock()
		if !removed {
			t.Fatalf("%s not removed", ls[i])
		}
		if _, ms := ix.getByHash(hash, ls[i]); ms != nil {
			t.Fatalf("%s still found", ls[i])
		}
	}
	if r, ms := ix.getByHash(hash, ls[2]); ms == nil || r != refs[2] {
		t.Fatalf("%s lost when the others were removed", ls[2])
	}
	if h.table.live != 1 {
		t.Fatalf("%d entries left in the table, want 1", h.table.live)
	}
}

// TestGCFreesPages: series without samples since mint go, their pages with
// them; series with newer samples stay.
func TestGCFreesPages(t *testing.T) {
	db, _ := openTest(t, t.TempDir(), testOptions(), nil)
	defer db.Close()
	const n = 10000
	app := db.Appender(context.Background())
	for i := range n {
		ts := int64(1000)
		if i%1000 == 0 {
			ts = 5000
		}
		if _, err := app.Append(0, labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)), ts, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := len(db.ix.gc(2000)); got != n-10 {
		t.Fatalf("gc removed %d series, want %d", got, n-10)
	}
	pages := 0
	for i := range db.ix.refs {
		for _, p := range db.ix.refs[i].pages {
			if p != nil {
				pages++
			}
		}
	}
	if pages > 10 {
		t.Fatalf("%d pages kept for 10 series", pages)
	}
	app = db.Appender(context.Background())
	for i := range n {
		l := labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))
		ref, err := app.Append(0, l, 6000, 1)
		if err != nil {
			t.Fatal(err)
		}
		if kept := i%1000 == 0; kept != (ref <= n) {
			t.Fatalf("series %d: ref %d after gc (kept: %v)", i, ref, kept)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentAppends: scrapes append and commit concurrently, some of
// the same series, while truncations run; every series gets one ref.
func TestConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	db, _ := openTest(t, dir, testOptions(), nil)
	const workers, series, rounds = 4, 300, 20
	refs := make([][]storage.SeriesRef, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			refs[w] = make([]storage.SeriesRef, series)
			for r := range rounds {
				app := db.Appender(context.Background())
				for i := range series {
					// Half the series are shared by all workers.
					l := labels.FromStrings("__name__", "m", "i", fmt.Sprint(i), "w", fmt.Sprint(w*(i%2)))
					ref, err := app.Append(refs[w][i], l, int64(r*workers+w+1), 1)
					if err == nil {
						refs[w][i] = ref
					}
				}
				if err := app.Commit(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 5 {
			if err := db.Truncate(0); err != nil {
				t.Error(err)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	for i := 0; i < series; i += 2 {
		for w := 1; w < workers; w++ {
			if refs[w][i] != 0 && refs[0][i] != 0 && refs[w][i] != refs[0][i] {
				t.Fatalf("shared series %d has refs %d and %d", i, refs[0][i], refs[w][i])
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	byLabels := map[string]chunks.HeadSeriesRef{}
	for ref, l := range readAll(t, dir).series {
		if prev, ok := byLabels[l.String()]; ok {
			t.Fatalf("%s written with refs %d and %d", l, prev, ref)
		}
		byLabels[l.String()] = ref
	}
	if want := series/2 + workers*series/2; len(byLabels) != want {
		t.Fatalf("%d series in the WAL, want %d", len(byLabels), want)
	}
}

// TestSharedLabels: the labels stored at a ref are handed out only to a
// caller holding equal labels; an unknown ref, other labels or a
// collected series give the caller's own back.
func TestSharedLabels(t *testing.T) {
	ix := newIndex()
	var next chunks.HeadSeriesRef
	newRef := func() chunks.HeadSeriesRef { next++; return next }
	a, b := labels.FromStrings("a", "1"), labels.FromStrings("a", "2")
	ref, _, _ := ix.getOrSet(a.Hash(), a, math.MinInt64, newRef)
	if got := ix.sharedLabels(ref, labels.FromStrings("a", "1")); !labels.Equal(got, a) {
		t.Fatalf("equal labels: got %s", got)
	}
	if got := ix.sharedLabels(ref, b); !labels.Equal(got, b) {
		t.Fatalf("other labels at ref %d: got %s, want the caller's %s", ref, got, b)
	}
	if got := ix.sharedLabels(ref+1000, b); !labels.Equal(got, b) {
		t.Fatalf("unknown ref: got %s, want the caller's %s", got, b)
	}
	ix.remove(ref, a)
	if got := ix.sharedLabels(ref, b); !labels.Equal(got, b) {
		t.Fatalf("removed series: got %s, want the caller's %s", got, b)
	}
}
