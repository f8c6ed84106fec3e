// Package gctune sets the garbage collector's GOGC from what collection
// costs the process, so that a heap of many long-lived objects (the
// series of a metrics pipeline) is not held at twice its size when
// collecting it more often costs next to nothing.
//
// Go's default, GOGC=100, lets the heap grow to twice what was live after
// the last collection. What a collection costs is proportional to the
// live heap, and how often it runs to the allocation rate divided by the
// headroom, so the CPU share of collection is about allocation rate ×
// marking cost / headroom, whatever the heap's size. A metrics pipeline
// keeps about 0.7 KB per series live and allocates little per sample: at
// 100k series flow spent 1 % of its CPU collecting with GOGC=100 and 2 %
// with GOGC=25, for 50 MB less memory (BENCHMARKS.md, issue 14 rwmem14). A
// logs pipeline keeps little and allocates a lot per record: there a low
// GOGC would multiply the collector's share of the CPU.
//
// So Run starts at GOGC=Min and, every Interval, looks at the share of the
// process's CPU the collector took since the last look (runtime/metrics'
// /cpu/classes, which the runtime updates at the end of each cycle):
// above Raise it doubles GOGC (up to Max), below Lower it takes a third
// off (down to Min). An operator's GOGC or GOMEMLIMIT (environment) turns
// it off: Enabled reports that.
package gctune

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Options bound and pace the tuning.
type Options struct {
	Min, Max     int           // GOGC bounds
	Lower, Raise float64       // the collector's CPU share below which GOGC falls, above which it rises
	Interval     time.Duration // between looks
}

// Default: GOGC between 25 and Go's default 100; the collector may take
// 2 to 5 % of the CPU the process uses before GOGC moves.
var Default = Options{Min: 25, Max: 100, Lower: 0.02, Raise: 0.05, Interval: 10 * time.Second}

// Enabled says whether Run tunes anything: not when the operator set
// GOGC or GOMEMLIMIT.
func Enabled() bool {
	_, gogc := os.LookupEnv("GOGC")
	_, limit := os.LookupEnv("GOMEMLIMIT")
	return !gogc && !limit
}

// cpu is the runtime's cumulative CPU accounting.
type cpu struct{ gc, used float64 }

var cpuMetrics = []string{"/cpu/classes/gc/total:cpu-seconds", "/cpu/classes/total:cpu-seconds", "/cpu/classes/idle:cpu-seconds"}

func readCPU() cpu {
	s := make([]metrics.Sample, len(cpuMetrics))
	for i, n := range cpuMetrics {
		s[i].Name = n
	}
	metrics.Read(s)
	f := func(i int) float64 {
		if s[i].Value.Kind() != metrics.KindFloat64 {
			return 0
		}
		return s[i].Value.Float64()
	}
	return cpu{gc: f(0), used: f(1) - f(2)}
}

// Next is the GOGC that follows cur when the collector took share of the
// CPU used.
func (o Options) Next(cur int, share float64) int {
	switch {
	case share > o.Raise:
		return min(o.Max, cur*2)
	case share < o.Lower:
		return max(o.Min, cur*2/3)
	}
	return cur
}

// Run tunes GOGC until ctx ends, then restores the GOGC it found. It
// does nothing unless Enabled.
func Run(ctx context.Context, o Options) {
	if !Enabled() {
		return
	}
	cur := o.Min
	prev := debug.SetGCPercent(cur)
	defer debug.SetGCPercent(prev)
	last := readCPU()
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := readCPU()
		used, gc := now.used-last.used, now.gc-last.gc
		var share float64
		if used > 0 {
			share = gc / used
		}
		// No cycle ended since the last look (the runtime's figures did
		// not move): collection is rare, so cheap (share 0).
		last = now
		if n := o.Next(cur, share); n != cur {
			cur = n
			debug.SetGCPercent(cur)
		}
	}
}
