package scrapeloop

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

// stale returns the references forEachStale reports, sorted.
func stale(c *cache) []storage.SeriesRef {
	var out []storage.SeriesRef
	c.forEachStale(func(ref storage.SeriesRef, _ labels.Labels) bool {
		out = append(out, ref)
		return true
	})
	slices.Sort(out)
	return out
}

// scrapeOnce simulates one successful scrape exposing the series of keys
// (each name's reference is refs[name]).
func scrapeOnce(c *cache, names []string, refs map[string]storage.SeriesRef) {
	for _, n := range names {
		k := keyOf([]byte(n))
		idx, ok, _ := c.get(k)
		if !ok {
			idx = c.add(k, refs[n], labels.FromStrings("__name__", n))
		}
		c.track(idx)
	}
}

func TestCacheStaleness(t *testing.T) {
	refs := map[string]storage.SeriesRef{"a": 1, "b": 2, "c": 3, `m{x="1",y="2"}`: 4, `m{y="2",x="1"}`: 4}
	c := newCache(nil)

	scrapeOnce(c, []string{"a", "b", `m{x="1",y="2"}`}, refs)
	if got := stale(c); len(got) != 0 {
		t.Fatalf("first scrape: stale %v, want none", got)
	}
	c.iterDone(true)

	// b goes, c comes, m is respelt (same reference): only b is stale.
	scrapeOnce(c, []string{"a", "c", `m{y="2",x="1"}`}, refs)
	if got := stale(c); !slices.Equal(got, []storage.SeriesRef{2}) {
		t.Fatalf("second scrape: stale %v, want [2]", got)
	}
	c.iterDone(true)
	if _, ok := c.index[keyOf([]byte("b"))]; ok {
		t.Error("b, not seen in the second scrape, is still cached after a flush")
	}

	// Nothing changes: nothing stale, and b is not reported again.
	scrapeOnce(c, []string{"a", "c", `m{y="2",x="1"}`}, refs)
	if got := stale(c); len(got) != 0 {
		t.Fatalf("third scrape: stale %v, want none", got)
	}
	c.iterDone(true)

	// A failed scrape: everything of the last scrape is stale, once.
	if got := stale(c); !slices.Equal(got, []storage.SeriesRef{1, 3, 4}) {
		t.Fatalf("failed scrape: stale %v, want [1 3 4]", got)
	}
	c.iterDone(false)
	scrapeOnce(c, []string{"a"}, refs)
	if got := stale(c); len(got) != 0 {
		t.Fatalf("scrape after the failure: stale %v, want none (already marked)", got)
	}
	c.iterDone(true)
}

// A target that loses most of its series gives their memory back, and the
// series left are still found.
func TestCacheShrinks(t *testing.T) {
	c := newCache(nil)
	var all []string
	refs := map[string]storage.SeriesRef{}
	for i := range 5000 {
		n := fmt.Sprintf("s%d", i)
		all = append(all, n)
		refs[n] = storage.SeriesRef(i + 1)
	}
	scrapeOnce(c, all, refs)
	c.iterDone(true)
	scrapeOnce(c, all[:100], refs)
	c.iterDone(true)
	if len(c.entries) != 100 || len(c.index) != 100 {
		t.Fatalf("after losing 4,900 of 5,000 series: %d entries, %d indexed, want 100", len(c.entries), len(c.index))
	}
	for _, n := range all[:100] {
		idx, ok, _ := c.get(keyOf([]byte(n)))
		if !ok || c.entries[idx].ref != refs[n] {
			t.Fatalf("%s: found %v, ref %d, want %d", n, ok, c.entries[idx].ref, refs[n])
		}
	}
}

// The lookup that follows the last scrape's order finds the same entry as
// the index, whatever the order changes, series coming and going, and
// flushes freeing and reusing slots.
func TestCacheOrderGuess(t *testing.T) {
	c := newCache(nil)
	rng := rand.New(rand.NewPCG(1, 2))
	refs := map[string]storage.SeriesRef{}
	var all []string
	for i := range 3000 {
		n := fmt.Sprintf("s%d", i)
		all = append(all, n)
		refs[n] = storage.SeriesRef(i + 1)
	}
	for scrape := range 30 {
		names := slices.Clone(all[:1000+rng.IntN(2000)])
		if scrape%3 == 1 {
			rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		}
		for _, n := range names {
			k := keyOf([]byte(n))
			want, inIndex := c.index[k]
			idx, ok, _ := c.get(k)
			if ok != inIndex || (ok && idx != want) {
				t.Fatalf("scrape %d, %s: got %d/%v, the index has %d/%v", scrape, n, idx, ok, want, inIndex)
			}
			if !ok {
				idx = c.add(k, refs[n], labels.FromStrings("__name__", n))
			}
			if c.entries[idx].ref != refs[n] {
				t.Fatalf("scrape %d, %s: entry of ref %d, want %d", scrape, n, c.entries[idx].ref, refs[n])
			}
		}
		c.iterDone(true)
	}
}
