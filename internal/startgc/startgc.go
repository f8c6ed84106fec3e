// Package startgc postpones garbage collection while a process starts.
//
// A process starts with an almost empty heap, so with GOGC=100 the
// collector runs every time the heap doubles from a few MiB: loading a
// config of 1,000 components (about 30 MiB allocated, much of it kept) ran
// five or six collections, each marking everything kept so far, and the
// collector's worker took the second core from the load meanwhile. Postponing
// collection until the first load is done spends that work once, after the
// process is ready.
//
// The postponement is bounded: a memory limit (the smaller of MaxHeap and any
// GOMEMLIMIT already set) makes the runtime collect if the heap nears it, and
// a watcher ends the postponement as soon as the heap passes half of that
// limit, so a config much larger than usual is loaded with the usual
// collector instead of one pinned at its limit. GOGC=off is left alone.
package startgc

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// MaxHeap is the default bound on the heap while collection is postponed
// (docs/security.md).
const MaxHeap = 256 << 20

// pollEvery is how often the watcher reads the heap size. Allocating half of
// MaxHeap takes far longer than this.
const pollEvery = 2 * time.Millisecond

const heapMetric = "/memory/classes/heap/objects:bytes"

// Postpone turns garbage collection off until end is called or the heap
// passes half of limit (the smaller of maxHeap and the memory limit already
// set), whichever is first. end restores GOGC and the memory limit as they
// were; it may be called more than once and from any goroutine.
func Postpone(maxHeap int64) (end func()) {
	prevPercent := debug.SetGCPercent(-1)
	if prevPercent < 0 {
		return func() {} // GOGC=off: already the operator's choice
	}
	prevLimit := debug.SetMemoryLimit(-1)
	limit := min(maxHeap, prevLimit)
	debug.SetMemoryLimit(limit)

	stop := make(chan struct{})
	var once sync.Once
	end = func() {
		once.Do(func() {
			close(stop)
			debug.SetMemoryLimit(prevLimit)
			debug.SetGCPercent(prevPercent)
		})
	}
	go func() {
		sample := []metrics.Sample{{Name: heapMetric}}
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				metrics.Read(sample)
				if sample[0].Value.Kind() == metrics.KindUint64 && int64(sample[0].Value.Uint64()) >= limit/2 {
					end()
					return
				}
			}
		}
	}()
	return end
}
