package relabel

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
)

// appendRef appends one sample of l with ref and returns the reference.
func appendRef(t *testing.T, r storage.Appendable, ref storage.SeriesRef, l labels.Labels, ts int64) storage.SeriesRef {
	t.Helper()
	app := r.Appender(context.Background())
	ref, err := app.Append(ref, l, ts, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	return ref
}

// The reference the receiver returns is a cache slot. A slot reused by
// another series after an eviction, or a reference from another
// prometheus.relabel, must never give a series another one's labels.
func TestStaleReferencesAreNotTrusted(t *testing.T) {
	rec := promtest.NewRecorder()
	opts, ex, _ := promtest.Options(t, "prometheus.relabel.slots")
	a := args([]storage.Appendable{rec}, addEnv)
	a.MaxCacheSize = 1
	if _, err := New(opts, a); err != nil {
		t.Fatal(err)
	}
	recv := ex.Last().(Exports).Receiver
	sa, sb, sc := labels.FromStrings("__name__", "a"), labels.FromStrings("__name__", "b"), labels.FromStrings("__name__", "c")
	ra := appendRef(t, recv, 0, sa, 1)
	appendRef(t, recv, 0, sb, 2)       // evicts a, freeing its slot
	rc := appendRef(t, recv, 0, sc, 3) // evicts b; c takes a's old slot
	if rc != ra {
		t.Fatalf("c got reference %d, a had %d: the freed slot was not reused, so this test no longer covers reuse", rc, ra)
	}
	ra2 := appendRef(t, recv, ra, sa, 4) // a's old reference now names c's slot
	if ra2 == 0 {
		t.Error("a got reference 0")
	}

	// A reference from another prometheus.relabel (another cache).
	opts2, ex2, _ := promtest.Options(t, "prometheus.relabel.slots2")
	if _, err := New(opts2, args([]storage.Appendable{rec})); err != nil {
		t.Fatal(err)
	}
	other := ex2.Last().(Exports).Receiver
	appendRef(t, other, 0, sc, 5)
	appendRef(t, other, 0, sa, 5)   // other's slots 1 and 2 are taken
	appendRef(t, other, ra2, sb, 6) // ra2 is the first receiver's, for a

	want := []string{`{__name__="a", env="prod"}`, `{__name__="b", env="prod"}`, `{__name__="c", env="prod"}`, `{__name__="a", env="prod"}`, `{__name__="c"}`, `{__name__="a"}`, `{__name__="b"}`}
	got := rec.Samples()
	if len(got) != len(want) {
		t.Fatalf("got %d samples, want %d", len(got), len(want))
	}
	for i, s := range got {
		if s.Labels.String() != want[i] {
			t.Errorf("sample %d has labels %s, want %s", i, s.Labels, want[i])
		}
	}
	if rec.RefMismatches != 0 {
		t.Errorf("the receiver was handed %d references of other series", rec.RefMismatches)
	}
}

// With more series than max_cache_size, visited in a cycle as scrapes do,
// most samples still hit the cache: eviction is random. (With LRU every
// sample missed: the evicted series was always the next one scraped.)
func TestMoreSeriesThanTheCacheStillMostlyHit(t *testing.T) {
	rec := promtest.NewRecorder()
	opts, ex, _ := promtest.Options(t, "prometheus.relabel.cycle")
	a := args([]storage.Appendable{rec}, addEnv)
	a.MaxCacheSize = 1000
	if _, err := New(opts, a); err != nil {
		t.Fatal(err)
	}
	recv := ex.Last().(Exports).Receiver.(*Receiver)
	const series, rounds = 1050, 20
	lsets := make([]labels.Labels, series)
	for i := range lsets {
		lsets[i] = labels.FromStrings("__name__", fmt.Sprintf("s_%d", i))
	}
	refs := make([]storage.SeriesRef, series)
	for r := range rounds {
		app := recv.Appender(context.Background())
		for i, l := range lsets {
			var err error
			if refs[i], err = app.Append(refs[i], l, int64(r), 1); err != nil {
				t.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if n := recv.state.Load().len(); n != 1000 {
		t.Errorf("cache holds %d entries, want max_cache_size (1000)", n)
	}
	hits, misses := counts(t, recv)
	// The first round misses 1050 times; after it, random eviction keeps
	// roughly 90% hits (LRU: none).
	rate := hits / (hits + misses - series)
	t.Logf("hit rate after the first round: %.3f", rate)
	if rate < 0.6 {
		t.Errorf("hit rate after the first round is %.2f (hits %v, misses %v), want most samples to hit", rate, hits, misses)
	}
	for _, s := range rec.Samples() {
		if s.Labels.Get("env") != "prod" {
			t.Fatalf("sample not relabelled: %s", s.Labels)
		}
	}
}

// Several scrape loops append at once, over more series than the cache
// holds, each passing back the references it got: every sample keeps its
// own series' labels (run with -race).
func TestConcurrentAppendsThroughEvictions(t *testing.T) {
	rec := promtest.NewRecorder()
	opts, ex, _ := promtest.Options(t, "prometheus.relabel.concurrent")
	a := args([]storage.Appendable{rec}, addEnv)
	a.MaxCacheSize = 100
	if _, err := New(opts, a); err != nil {
		t.Fatal(err)
	}
	recv := ex.Last().(Exports).Receiver
	const loops, series, rounds = 4, 300, 5
	lsets := make([]labels.Labels, series)
	for i := range lsets {
		lsets[i] = labels.FromStrings("__name__", fmt.Sprintf("s_%d", i))
	}
	var wg sync.WaitGroup
	for g := range loops {
		wg.Go(func() {
			refs := make([]storage.SeriesRef, series)
			for r := range rounds {
				app := recv.Appender(context.Background())
				for i := range series {
					var err error
					if refs[i], err = app.Append(refs[i], lsets[i], int64(g*1_000_000+r*series+i), 1); err != nil {
						t.Error(err)
						return
					}
				}
				if err := app.Commit(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got := rec.Samples()
	if len(got) != loops*series*rounds {
		t.Fatalf("got %d samples, want %d", len(got), loops*series*rounds)
	}
	for _, s := range got {
		want := fmt.Sprintf(`{__name__="s_%d", env="prod"}`, (s.T%1_000_000)%series)
		if s.Labels.String() != want {
			t.Fatalf("sample at %d has labels %s, want %s", s.T, s.Labels, want)
		}
	}
}
