package gctune

import (
	"context"
	"runtime/debug"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/testwait"
)

func TestNext(t *testing.T) {
	o := Default
	for _, c := range []struct {
		cur   int
		share float64
		want  int
	}{
		{25, 0.00, 25}, {100, 0.00, 66}, {66, 0.01, 44}, {44, 0.019, 29}, {29, 0, 25},
		{25, 0.03, 25}, {50, 0.05, 50}, {25, 0.051, 50}, {50, 0.2, 100}, {100, 0.9, 100},
	} {
		if got := o.Next(c.cur, c.share); got != c.want {
			t.Errorf("Next(%d, %v) = %d, want %d", c.cur, c.share, got, c.want)
		}
	}
}

func gogc() int {
	v := debug.SetGCPercent(100)
	debug.SetGCPercent(v)
	return v
}

// sink keeps allocations from being optimised away.
var sink []*[64]byte

// TestRunFollowsTheCollectorsShare: with a large live heap of pointers
// and garbage allocated as fast as possible, collection takes far more
// than 5 % of the CPU at GOGC=25, and GOGC rises to Max; once the
// allocation stops, collection costs nothing and GOGC falls back to Min;
// when Run returns, the GOGC it found is back.
func TestRunFollowsTheCollectorsShare(t *testing.T) {
	if !Enabled() {
		t.Fatal("GOGC or GOMEMLIMIT is set in the environment: this test tunes GOGC itself and needs neither")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	live := make([]*[64]byte, 1<<19) // 32 MiB of live objects to mark
	for i := range live {
		live[i] = new([64]byte)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	o := Default
	o.Interval = 100 * time.Millisecond
	go func() { defer close(done); Run(ctx, o) }()
	testwait.Eventually(t, 10*time.Second, func() bool { return gogc() == o.Min }, "GOGC %d, want %d at start", gogc(), o.Min)

	stop := make(chan struct{})
	allocated := make(chan struct{})
	go func() {
		defer close(allocated)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for i := 0; i < 1000; i++ {
				sink = append(sink[:0], new([64]byte))
			}
		}
	}()
	testwait.Eventually(t, 60*time.Second, func() bool { return gogc() == o.Max }, "GOGC %d while allocating, want %d", gogc(), o.Max)
	close(stop)
	<-allocated
	testwait.Eventually(t, 60*time.Second, func() bool { return gogc() == o.Min }, "GOGC %d once idle, want %d", gogc(), o.Min)
	cancel()
	<-done
	if g := gogc(); g != 100 {
		t.Errorf("GOGC %d after Run returned, want the 100 it found", g)
	}
	_ = live[len(live)-1]
}

// TestOperatorsSettingsWin: with GOGC set in the environment Run changes
// nothing.
func TestOperatorsSettingsWin(t *testing.T) {
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, map[string]string{"GOGC": "100", "GOMEMLIMIT": "1GiB"}[env])
			defer debug.SetGCPercent(debug.SetGCPercent(77))
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			o := Default
			o.Interval = 10 * time.Millisecond
			Run(ctx, o) // returns at once
			if g := gogc(); g != 77 {
				t.Errorf("GOGC %d with %s set, want the 77 in place", g, env)
			}
		})
	}
}
