package startgc

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/testwait"
)

// restoreGC puts GOGC and the memory limit back as the test found them.
func restoreGC(t *testing.T) {
	percent := debug.SetGCPercent(100)
	debug.SetGCPercent(percent)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
}

func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// While postponed, no collection runs however much is allocated (within the
// bound); end restores GOGC and the limit, and collection resumes.
func TestPostponeAndEnd(t *testing.T) {
	restoreGC(t)
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)

	end := Postpone(1 << 30)
	if p := gcPercent(); p != -1 {
		t.Fatalf("GOGC %d while postponed, want off", p)
	}
	if l := debug.SetMemoryLimit(-1); l != 1<<30 {
		t.Fatalf("memory limit %d while postponed, want %d", l, 1<<30)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.NumGC
	keep := make([][]byte, 0, 64)
	for i := 0; i < 64; i++ { // 64 MiB, far beyond GOGC=100's goal
		keep = append(keep, make([]byte, 1<<20))
	}
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(keep)
	if ms.NumGC != before {
		t.Fatalf("%d collections while postponed, want none", ms.NumGC-before)
	}
	end()
	end() // a second call changes nothing
	if p := gcPercent(); p != 100 {
		t.Fatalf("GOGC %d after end, want 100 restored", p)
	}
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Fatalf("memory limit %d after end, want none restored", l)
	}
}

// A heap passing half of the bound ends the postponement by itself, before
// end is called, so a large config loads with the usual collector.
func TestPostponeEndsAtHalfTheBound(t *testing.T) {
	restoreGC(t)
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)

	end := Postpone(64 << 20)
	defer end()
	keep := make([][]byte, 0, 48)
	for i := 0; i < 48; i++ { // 48 MiB > 32 MiB
		keep = append(keep, make([]byte, 1<<20))
	}
	testwait.Eventually(t, 30*time.Second, func() bool { return gcPercent() == 100 },
		"GOGC not restored after the heap passed half the bound")
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Fatalf("memory limit %d, want none restored", l)
	}
	runtime.KeepAlive(keep)
}

// A memory limit already set lower than the bound is the one kept while
// postponed; GOGC=off is left as the operator set it.
func TestPostponeRespectsOperatorSettings(t *testing.T) {
	restoreGC(t)
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(100 << 20)
	end := Postpone(1 << 30)
	if l := debug.SetMemoryLimit(-1); l != 100<<20 {
		t.Fatalf("memory limit %d while postponed, want the operator's %d", l, 100<<20)
	}
	end()
	if l := debug.SetMemoryLimit(-1); l != 100<<20 {
		t.Fatalf("memory limit %d after end, want the operator's %d", l, 100<<20)
	}

	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(math.MaxInt64)
	end = Postpone(1 << 30)
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Fatalf("memory limit %d with GOGC=off, want it untouched", l)
	}
	end()
	if p := gcPercent(); p != -1 {
		t.Fatalf("GOGC %d after end, want off as set", p)
	}
}
