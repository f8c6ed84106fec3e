package gcheadroom

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/startgc"
	"github.com/flow-telemetry/flow/internal/testwait"
)

const mib = 1 << 20

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		name       string
		base       uint64
		floor      uint64
		minPercent int
		want       int
	}{
		{"no collection yet", 0, 32 * mib, 25, 100},
		{"small heap keeps Go's default", 20 * mib, 32 * mib, 25, 100},
		{"heap equal to the floor", 32 * mib, 32 * mib, 25, 100},
		{"just above the floor", 33 * mib, 32 * mib, 25, 97},            // 96.97 rounded up
		{"twice the floor", 64 * mib, 32 * mib, 25, 50},                 // headroom = floor
		{"three times", 96 * mib, 32 * mib, 25, 34},                     // 33.3 up: headroom ≥ floor
		{"four times reaches the minimum", 128 * mib, 32 * mib, 25, 25}, // floor = 25 %
		{"far above: the minimum", 1 << 34, 32 * mib, 25, 25},
		{"minimum above 100 is 100", 1 << 30, 32 * mib, 150, 100},
		{"minimum below 1 is 1", 1 << 40, 1 * mib, -5, 1},
		{"huge heap, huge floor", 1 << 50, 1 << 45, 1, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Percent(c.base, c.floor, c.minPercent)
			if got != c.want {
				t.Fatalf("Percent(%d, %d, %d) = %d, want %d", c.base, c.floor, c.minPercent, got, c.want)
			}
			// The goal it gives is live + at least the floor (or the
			// minimum's share), never more than Go's default.
			if got < 100 && got > max(1, min(c.minPercent, 100)) && c.base*uint64(got) < 100*c.floor {
				t.Fatalf("headroom %d%% of %d is below the floor %d", got, c.base, c.floor)
			}
		})
	}
}

func TestDisabled(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"GOGC": ""}, ""}, // empty is unset, as for the runtime
		{map[string]string{"GOGC": "100"}, "GOGC is set in the environment"},
		{map[string]string{"GOGC": "off"}, "GOGC is set in the environment"},
		{map[string]string{"GOMEMLIMIT": "1GiB"}, "GOMEMLIMIT is set in the environment"},
		{map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}, "GOGC is set in the environment"},
	} {
		if got := Disabled(func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("Disabled(%v) = %q, want %q", c.env, got, c.want)
		}
	}
}

// childEnv marks the test binary re-executed to run one child test alone: the
// policy changes the process's GOGC, so each real check runs in a process of
// its own, with no GOGC or GOMEMLIMIT of the caller's.
const childEnv = "FLOW_GCHEADROOM_CHILD"

// inChild re-executes the test binary to run t's test alone and reports
// whether this process is that child; the parent fails t if the child fails.
func inChild(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, childEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	t.Logf("child process:\n%s", out)
	return false
}

func readUint(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// churn allocates garbage so that the runtime collects by itself, as a
// pipeline's allocations make it, until cond holds or timeout passes.
func churn(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	var sink []byte
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		for i := 0; i < 64; i++ {
			sink = make([]byte, 64<<10)
		}
		runtime.KeepAlive(sink)
		time.Sleep(time.Millisecond)
	}
	return true
}

// GOGC follows a live heap that grows and then shrinks, set after the
// collections the runtime starts by itself (no runtime.GC), and the heap
// goal the runtime derives from it is the live heap plus the floor.
func TestGOGCFollowsLiveHeap(t *testing.T) {
	if !inChild(t) {
		return
	}
	if p := gcPercent(); p != 100 {
		t.Fatalf("GOGC %d at start, want Go's default 100", p)
	}
	const floor = 16 * mib
	var logs bytes.Buffer
	stop := Start(Options{Floor: floor, MinPercent: 25,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

	var kept [][]byte
	keep := func(total int) {
		kept = kept[:0:0]
		for i := 0; i < total/mib; i++ {
			b := make([]byte, mib)
			b[0] = 1 // touched: resident
			kept = append(kept, b)
		}
	}
	gcs := func() uint64 { return readUint("/gc/cycles/total:gc-cycles") }

	for _, step := range []struct {
		live     int
		min, max int // GOGC expected once a collection has seen this heap
	}{
		{4 * mib, 100, 100}, // below the floor: Go's default
		{32 * mib, 42, 50},  // headroom = floor: 100 × 16 / (32 + roots)
		{128 * mib, 25, 25}, // floor / live < 25 %: the minimum
		{48 * mib, 29, 34},  // shrinking: the floor again
		{2 * mib, 100, 100}, // back below the floor
		{200 * mib, 25, 25}, // and up again
		{1 * mib, 100, 100}, // and down
	} {
		keep(step.live)
		before := gcs()
		ok := churn(time.Minute, func() bool {
			p := gcPercent()
			return gcs() >= before+2 && p >= step.min && p <= step.max
		})
		live, goal := readUint("/gc/heap/live:bytes"), readUint("/gc/heap/goal:bytes")
		t.Logf("kept %d MiB: GOGC %d after %d collections, live %.1f MiB, goal %.1f MiB",
			step.live/mib, gcPercent(), gcs()-before, float64(live)/mib, float64(goal)/mib)
		if !ok {
			t.Fatalf("kept %d MiB: GOGC %d, want %d–%d\n%s", step.live/mib, gcPercent(), step.min, step.max, logs.String())
		}
		// The runtime's goal: live + floor above the floor, live × 2 below.
		var wantHeadroom uint64
		switch {
		case step.max == 100:
			wantHeadroom = live
		case step.min == 25:
			wantHeadroom = live / 4
		default:
			wantHeadroom = floor
		}
		if h := goal - live; h < wantHeadroom*9/10 || h > wantHeadroom*12/10+2*mib {
			t.Fatalf("kept %d MiB: heap goal %d = live %d + %d, want headroom about %d", step.live/mib, goal, live, h, wantHeadroom)
		}
	}
	runtime.KeepAlive(kept)
	if !strings.Contains(logs.String(), "GOGC set from the live heap") {
		t.Fatalf("no debug line for the changes:\n%s", logs.String())
	}

	// stop restores Go's default, and later collections change nothing.
	keep(64 * mib)
	churn(time.Minute, func() bool { p := gcPercent(); return p < 100 })
	stop()
	stop()
	if p := gcPercent(); p != 100 {
		t.Fatalf("GOGC %d after stop, want 100 restored", p)
	}
	before := gcs()
	churn(time.Minute, func() bool { return gcs() >= before+3 })
	if p := gcPercent(); p != 100 {
		t.Fatalf("GOGC %d after stop and %d collections, want 100", p, gcs()-before)
	}
	runtime.KeepAlive(kept)
}

// Started after internal/startgc's postponement, the policy takes over from
// the GOGC it restored; started during it, it does nothing (GOGC is off),
// so the postponement is never cut short. Forced collections (as the
// Firehose budget asks for) are readings like any other.
func TestComposesWithStartgcAndForcedCollections(t *testing.T) {
	if !inChild(t) {
		return
	}
	var kept [][]byte
	for i := 0; i < 96; i++ {
		kept = append(kept, make([]byte, mib))
	}

	end := startgc.Postpone(1 << 30)
	noop := Start(Options{Floor: 16 * mib})
	runtime.GC() // what a forced collection does while postponed
	if p := gcPercent(); p != -1 {
		t.Fatalf("GOGC %d while startgc postpones collection, want off", p)
	}
	noop()
	if p := gcPercent(); p != -1 {
		t.Fatalf("GOGC %d after stopping a policy started while postponed, want off", p)
	}
	end()
	if p := gcPercent(); p != 100 {
		t.Fatalf("GOGC %d after the postponement, want 100", p)
	}

	stop := Start(Options{Floor: 16 * mib, MinPercent: 25})
	defer stop()
	// Started after a collection, Start sets GOGC from its figures at once.
	if p := gcPercent(); p != 25 {
		t.Fatalf("GOGC %d right after Start with 96 MiB live, want 25", p)
	}
	kept = append([][]byte(nil), kept[:8]...) // the rest unreachable
	runtime.GC()
	testwait.Eventually(t, 30*time.Second, func() bool { return gcPercent() == 100 },
		"GOGC %d after a forced collection left 8 MiB live, want 100", gcPercent())
	runtime.KeepAlive(kept)
	if l := debug.SetMemoryLimit(-1); l != 1<<63-1 {
		t.Fatalf("memory limit %d, want none", l)
	}
}

func TestWorthSetting(t *testing.T) {
	for _, c := range []struct {
		current, want int
		ok            bool
	}{
		{34, 33, false}, // a point of noise
		{33, 34, false},
		{40, 38, true}, // 5 %
		{40, 42, true},
		{100, 97, false},
		{100, 95, true},
		{97, 100, true}, // the bounds are exact
		{26, 25, true},
	} {
		if got := worthSetting(c.current, c.want, 25); got != c.ok {
			t.Errorf("worthSetting(%d, %d) = %v, want %v", c.current, c.want, got, c.ok)
		}
	}
}

// What the policy costs per collection: reading the three figures and
// deciding (GOGC itself is set only when it moves by 5 % or more).
func BenchmarkAdjust(b *testing.B) {
	runtime.GC()
	p := &policy{opts: Options{Floor: DefaultFloor, MinPercent: DefaultMinPercent}, current: gcPercent(),
		samples: []metrics.Sample{{Name: liveMetric}, {Name: stackMetric}, {Name: globalsMetric}}}
	defer debug.SetGCPercent(gcPercent())
	b.ReportAllocs()
	for b.Loop() {
		p.mu.Lock()
		p.adjust()
		p.mu.Unlock()
	}
}
