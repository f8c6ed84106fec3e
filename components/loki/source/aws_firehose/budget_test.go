package awsfirehose

import (
	"runtime"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/testwait"
)

// heapObjects is the memory of heap objects, live and not yet swept garbage.
func heapObjects() uint64 {
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

var budgetSink atomic.Pointer[[]byte]

// TestBudgetBoundsHeap has requests come and go as fast as they can, each
// reserving 4 MiB before it allocates them, 16 at once against a 64 MiB
// budget: the heap (live and garbage) must stay within the budget. Before
// the budget counted released bytes until collected, the heap grew with the
// collector's pacing to about twice the budget (what was live at the last
// collection, plus as much garbage), whatever max_inflight_size said.
func TestBudgetBoundsHeap(t *testing.T) {
	const (
		total   = 64 << 20
		size    = 4 << 20
		workers = 16
		slack   = 12 << 20 // the test's own allocations, rounding, a late sweep
	)
	runtime.GC()
	base := heapObjects()
	b := newMemBudget(total)
	l := limits{decoded: 1 << 30}
	var peak atomic.Uint64
	var served, shed atomic.Int64
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				a := newAccount(b, &l)
				if rerr := a.reserve(size); rerr != nil {
					a.done()
					shed.Add(1)
					time.Sleep(time.Millisecond)
					continue
				}
				buf := make([]byte, size)
				for i := 0; i < len(buf); i += 4096 {
					buf[i] = 1
				}
				budgetSink.Store(&buf)
				if h := heapObjects(); h > peak.Load() {
					peak.Store(h) // racy max: good enough, samples are many
				}
				if u := b.used.Load(); u > total {
					t.Errorf("the budget counts %d bytes, over its %d", u, total)
				}
				budgetSink.Store(nil)
				a.done()
				served.Add(1)
			}
		}()
	}
	wg.Wait()
	growth := int64(peak.Load()) - int64(base)
	t.Logf("%d requests served, %d shed; heap grew by %d MiB at most (budget %d MiB); %d collections forced",
		served.Load(), shed.Load(), growth>>20, total>>20, b.forced.Load())
	if growth > total+slack {
		t.Errorf("the heap grew by %d MiB with a budget of %d MiB: released bytes were reused before they were collected", growth>>20, total>>20)
	}
	if served.Load() < workers {
		t.Errorf("only %d requests were served in 2 s: the budget sheds what it should serve", served.Load())
	}
	if h := b.held.Load(); h != 0 {
		t.Errorf("%d bytes still held after every request ended", h)
	}
	// What was released comes back once it is collected.
	testwait.Eventually(t, 30*time.Second, func() bool { runtime.GC(); return b.used.Load() == 0 },
		"released bytes did not come back to the budget after collections")
}

// A reservation that fits only once released bytes are collected waits for
// the collection instead of being shed; one that does not fit even then is
// refused at once.
func TestBudgetWaitsForCollection(t *testing.T) {
	b := newMemBudget(10 << 20)
	if !b.tryReserve(8 << 20) {
		t.Fatal("an empty budget refused 8 MiB")
	}
	b.release(4 << 20) // half of the budget awaits collection: one starts
	if !b.tryReserve(6 << 20) {
		t.Fatalf("6 MiB did not fit after 4 MiB of 8 were released and collected (used %d, held %d)", b.used.Load(), b.held.Load())
	}
	if b.tryReserve(1 << 20) {
		t.Fatal("1 MiB fit into a budget held whole by requests")
	}
	if f := b.forced.Load(); f == 0 {
		t.Error("no collection was asked for")
	}
}
