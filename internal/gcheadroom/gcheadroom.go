// Package gcheadroom sets the collector's headroom from the size of the live
// heap: after each collection, GOGC is set so that the next collection comes
// when the heap has grown by max(Floor, live × MinPercent/100), never by more
// than Go's default would let it (live × 100 %).
//
// Why the live heap. With GOGC=100 the heap grows to twice what the last
// collection left, so every byte a pipeline keeps costs two in RSS. What a
// lower GOGC costs in CPU is the marking of the live heap once per
// collection, and collections come allocation-rate / headroom apart. A
// metrics pipeline keeps a large heap (series, labels, the scrape cache:
// ~0.85 KB per series) and allocates little per sample, so a smaller
// headroom there costs ~1 % of its CPU and saves a third of its memory; a
// logs pipeline keeps a few tens of MiB and allocates per record, so the same
// GOGC costs it ~30 % more CPU (BENCHMARKS.md, "rwmem14"). The size of the
// live heap tells the two apart where the runtime's GC CPU estimate did not
// (a tuner that followed that estimate was tried and reverted): below Floor
// the policy leaves GOGC at 100, so a process that keeps little (a logs
// agent) runs exactly as with Go's default; above it, the headroom stays
// Floor until it is MinPercent of the live heap, so memory grows by about
// the live heap per added series instead of twice it.
//
// It runs once per collection: a sentinel object's finalizer reads three
// runtime/metrics values, sets GOGC if it changed, and allocates the next
// sentinel. Nothing polls. It works with internal/startgc (start it after
// the postponement ends: Start does nothing while GOGC is off) and with any
// code that forces collections (each is one more reading).
//
// A GOGC or GOMEMLIMIT set by the operator in the environment turns it off
// (Disabled says why): the operator's setting stands as set.
package gcheadroom

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Defaults, chosen by measurement (BENCHMARKS.md, "GC headroom by live heap").
const (
	// DefaultFloor is the smallest headroom: a process whose live heap is
	// below it keeps GOGC=100. The logs pipelines of bench/logs keep
	// 15–25 MiB live.
	DefaultFloor = 32 << 20
	// DefaultMinPercent is the lowest GOGC set, reached at a live heap of
	// DefaultFloor × 100 / DefaultMinPercent.
	DefaultMinPercent = 25
)

// Percent is the GOGC that gives a heap of base bytes (the live heap plus the
// stacks and globals the collector scans, which the runtime's heap goal also
// counts) a headroom of floor bytes, within [minPercent, 100].
func Percent(base, floor uint64, minPercent int) int {
	minPercent = max(1, min(minPercent, 100))
	if base == 0 || floor >= base {
		return 100
	}
	// Rounded up so the headroom is at least floor; base > floor, so the
	// quotient is below 100 and 100 × floor cannot overflow for any
	// floor a process could use.
	p := (100*floor + base - 1) / base
	return max(minPercent, int(p))
}

// Disabled says why the policy must stay off, or "" if it may run: a GOGC
// (including GOGC=off) or GOMEMLIMIT in the environment (getenv is
// os.Getenv). Empty variables count as unset, as they do for the runtime.
func Disabled(getenv func(string) string) string {
	if v := getenv("GOGC"); v != "" {
		return "GOGC is set in the environment"
	}
	if v := getenv("GOMEMLIMIT"); v != "" {
		return "GOMEMLIMIT is set in the environment"
	}
	return ""
}

// Options configure Start; zero values take the defaults.
type Options struct {
	Floor      uint64
	MinPercent int
	// Logger, if set, gets a debug line for each change of GOGC.
	Logger *slog.Logger
}

// Start sets GOGC after every collection from now on, until stop is called;
// stop puts GOGC back to what it was when Start was called. Start does
// nothing (and stop nothing) if GOGC is off when it is called, which is the
// case while internal/startgc postpones collection: call it after that ends.
func Start(o Options) (stop func()) {
	if o.Floor == 0 {
		o.Floor = DefaultFloor
	}
	if o.MinPercent == 0 {
		o.MinPercent = DefaultMinPercent
	}
	prev := gcPercent()
	if prev < 0 {
		return func() {}
	}
	p := &policy{
		opts:    o,
		current: prev,
		samples: []metrics.Sample{{Name: liveMetric}, {Name: stackMetric}, {Name: globalsMetric}},
	}
	p.mu.Lock()
	p.adjust() // from the last collection's figures, if any
	p.mu.Unlock()
	p.arm()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.stopped = true
			debug.SetGCPercent(prev)
		})
	}
}

const (
	liveMetric    = "/gc/heap/live:bytes"
	stackMetric   = "/gc/scan/stack:bytes"
	globalsMetric = "/gc/scan/globals:bytes"
)

type policy struct {
	opts Options

	mu      sync.Mutex // held by adjust and stop, so stop's GOGC is the last one set
	stopped bool
	current int // GOGC as last set
	samples []metrics.Sample
}

// sentinel is a heap object whose finalizer runs after the collection that
// finds it unreachable. (It holds a pointer so that it is not a tiny
// allocation, whose finalizer may never run.)
type sentinel struct {
	_ *byte
	_ [2]int64
}

// arm allocates a sentinel whose finalizer runs after the next collection.
func (p *policy) arm() {
	runtime.SetFinalizer(new(sentinel), p.collected)
}

// collected runs on the finalizer goroutine once per collection.
func (p *policy) collected(*sentinel) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.adjust()
	p.arm()
}

// adjust sets GOGC from the last collection's live heap. p.mu is held.
func (p *policy) adjust() {
	metrics.Read(p.samples)
	var base uint64
	for _, s := range p.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			base += s.Value.Uint64()
		}
	}
	if p.samples[0].Value.Kind() != metrics.KindUint64 || p.samples[0].Value.Uint64() == 0 {
		return // no collection yet
	}
	want := Percent(base, p.opts.Floor, p.opts.MinPercent)
	if want == p.current || !worthSetting(p.current, want, p.opts.MinPercent) {
		return
	}
	debug.SetGCPercent(want)
	if p.opts.Logger != nil {
		p.opts.Logger.Debug("GOGC set from the live heap", "gogc", want, "previous", p.current,
			"live_bytes", p.samples[0].Value.Uint64(), "scanned_roots_bytes", base-p.samples[0].Value.Uint64())
	}
	p.current = want
}

// worthSetting reports whether GOGC should move from current to want: a change of
// under 5 % is noise of the live heap's figure from one collection to the next
// (a point up and down each time), except to the bounds, which are set exactly.
func worthSetting(current, want, minPercent int) bool {
	if want == 100 || want == max(1, min(minPercent, 100)) {
		return true
	}
	d := want - current
	return d*20 >= current || -d*20 >= current
}

// gcPercent reads GOGC without setting it (debug.SetGCPercent(-1) would turn
// collection off for a moment and wait for a collection under way).
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 100
	}
	return int(int64(s[0].Value.Uint64()))
}
