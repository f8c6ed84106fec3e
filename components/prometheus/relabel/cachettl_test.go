package relabel

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
)

// cache_ttl drops the entries of series that stopped, while series still
// sent stay cached; without it only max_cache_size bounds the cache.
// max_cache_size = 0 with cache_ttl is Alloy's TTL mode: age alone bounds
// the cache.
func TestCacheTTLDropsStoppedSeries(t *testing.T) {
	for _, size := range []int{DefaultMaxCacheSize, 0} {
		t.Run(fmt.Sprintf("max_cache_size=%d", size), func(t *testing.T) { testCacheTTL(t, size) })
	}
}

func testCacheTTL(t *testing.T, maxCacheSize int) {
	rec := promtest.NewRecorder()
	opts, ex, _ := promtest.Options(t, "prometheus.relabel.ttl")
	a := args([]storage.Appendable{rec}, addEnv)
	a.CacheTTL = time.Minute
	a.MaxCacheSize = maxCacheSize
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(opts, a); err != nil {
		t.Fatal(err)
	}
	recv := ex.Last().(Exports).Receiver.(*Receiver)
	send := func(names ...string) {
		app := recv.Appender(context.Background())
		for _, n := range names {
			if _, err := app.Append(0, labels.FromStrings("__name__", n), 1, 1); err != nil {
				t.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	var stopped, live []string
	for i := 0; i < 100; i++ {
		stopped = append(stopped, fmt.Sprintf("old_%d", i))
		live = append(live, fmt.Sprintf("live_%d", i))
	}
	s := recv.state.Load()
	start := time.Now()
	send(append(stopped, live...)...)
	if n := s.len(); n != 200 {
		t.Fatalf("cache holds %d entries, want 200", n)
	}
	// 40 s later only the live series are sent again; 70 s after the start
	// the stopped ones have been unused for over a minute.
	s.sweep(start.Add(40 * time.Second))
	send(live...)
	if removed := s.sweep(start.Add(70 * time.Second)); removed != 100 {
		t.Errorf("sweep removed %d entries, want the 100 stopped series", removed)
	}
	if n := s.len(); n != 100 {
		t.Errorf("cache holds %d entries after the sweep, want 100", n)
	}
	// The live series hit the cache, the stopped ones are relabelled anew.
	hitsBefore, missesBefore := counts(t, recv)
	send(live...)
	send(stopped[:10]...)
	hits, misses := counts(t, recv)
	if hits-hitsBefore != 100 || misses-missesBefore != 10 {
		t.Errorf("hits +%v misses +%v, want +100 and +10", hits-hitsBefore, misses-missesBefore)
	}
}

func counts(t *testing.T, r *Receiver) (hits, misses float64) {
	t.Helper()
	return testutil.ToFloat64(r.metrics.hits), testutil.ToFloat64(r.metrics.misses)
}

func TestCacheTTLOffKeepsEverything(t *testing.T) {
	opts, ex, _ := promtest.Options(t, "prometheus.relabel.nottl")
	if _, err := New(opts, args([]storage.Appendable{promtest.NewRecorder()}, addEnv)); err != nil {
		t.Fatal(err)
	}
	recv := ex.Last().(Exports).Receiver.(*Receiver)
	app := recv.Appender(context.Background())
	_, _ = app.Append(0, labels.FromStrings("__name__", "x"), 1, 1)
	_ = app.Commit()
	s := recv.state.Load()
	if removed := s.sweep(time.Now().Add(24 * time.Hour)); removed != 0 || s.len() != 1 {
		t.Errorf("without cache_ttl a sweep removed %d entries", removed)
	}
	a := args(nil)
	a.CacheTTL = -time.Second
	if err := a.Validate(); err == nil {
		t.Error("negative cache_ttl accepted")
	}
}

// Sweeps scan every entry, so they run every tenth of the ttl, between
// 1 s and 1 min, not every second.
func TestSweepEvery(t *testing.T) {
	for ttl, want := range map[time.Duration]time.Duration{
		5 * time.Second:   time.Second,
		100 * time.Second: 10 * time.Second,
		time.Hour:         time.Minute,
	} {
		if got := sweepEvery(ttl); got != want {
			t.Errorf("sweepEvery(%s) = %s, want %s", ttl, got, want)
		}
	}
}
