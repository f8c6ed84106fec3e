package runtime

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// rateWindow is the window per-edge rates are averaged over.
const rateWindow = 5 * time.Second

// edgeKey names one edge into a component: the exporting component and the
// export read.
type edgeKey struct{ from, export string }

// edgeCounter counts the items that passed along one edge.
type edgeCounter struct {
	total atomic.Int64

	mu      sync.Mutex
	samples []rateSample // oldest first, spanning about rateWindow
}

type rateSample struct {
	t time.Time
	v int64
}

func (c *edgeCounter) sample(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.samples = append(c.samples, rateSample{now, c.total.Load()})
	// Keep one sample at or before the window's start so the rate always
	// spans the whole window once it has been running that long.
	for len(c.samples) > 2 && now.Sub(c.samples[1].t) >= rateWindow {
		c.samples = c.samples[1:]
	}
}

// rate returns items per second over about the last rateWindow.
func (c *edgeCounter) rate(now time.Time) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.samples) == 0 {
		return 0
	}
	first := c.samples[0]
	dt := now.Sub(first.t).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(c.total.Load()-first.v) / dt
}

// edgeSet holds the counters and counting wrappers of the edges into one
// component.
type edgeSet struct {
	mu       sync.Mutex
	counters map[edgeKey]*edgeCounter
	// wrappers caches WithCounter results per edge and underlying value so
	// the referencing component's arguments stay identical across
	// evaluations (and Update is not called for nothing).
	wrappers map[wrapperKey]any
	used     map[wrapperKey]bool
}

type wrapperKey struct {
	edge       edgeKey
	underlying any
}

func newEdgeSet() *edgeSet {
	return &edgeSet{counters: map[edgeKey]*edgeCounter{}, wrappers: map[wrapperKey]any{}}
}

func (s *edgeSet) counter(k edgeKey) *edgeCounter {
	c := s.counters[k]
	if c == nil {
		c = &edgeCounter{}
		s.counters[k] = c
	}
	return c
}

// wrap returns the counting wrapper for c along edge k.
func (s *edgeSet) wrap(k edgeKey, c component.Countable) any {
	key := wrapperKey{edge: k, underlying: c}
	if !reflect.TypeOf(c).Comparable() {
		// An uncomparable Countable cannot be cached; it still counts.
		key.underlying = nil
	}
	if w, ok := s.wrappers[key]; ok && key.underlying != nil {
		if s.used != nil {
			s.used[key] = true
		}
		return w
	}
	ctr := s.counter(k)
	w := safeWithCounter(c, func(n int) { ctr.total.Add(int64(n)) })
	if w == nil {
		return nil
	}
	if key.underlying != nil {
		s.wrappers[key] = w
		if s.used != nil {
			s.used[key] = true
		}
	}
	return w
}

func safeWithCounter(c component.Countable, f func(int)) (w any) {
	defer func() {
		if recover() != nil {
			w = nil
		}
	}()
	return c.WithCounter(f)
}

// noWrappers reports whether no counting wrapper is kept (nothing for a
// context without capsules to prune).
func (s *edgeSet) noWrappers() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.wrappers) == 0
}

// beginEvaluation and endEvaluation bracket building a component's context:
// with prune, wrappers not used by this evaluation are dropped so replaced
// receivers do not pile up.
func (s *edgeSet) beginEvaluation(prune bool) {
	s.mu.Lock()
	if prune {
		s.used = map[wrapperKey]bool{}
	}
}

func (s *edgeSet) endEvaluation() {
	if s.used != nil {
		for k := range s.wrappers {
			if !s.used[k] {
				delete(s.wrappers, k)
			}
		}
	}
	s.used = nil
	s.mu.Unlock()
}

// countExports replaces every capsule in v (the export named export of the
// component from) that holds a component.Countable with its counting wrapper
// for this edge. The caller holds s.mu (between begin and endEvaluation).
func (s *edgeSet) countExports(from, export string, v cty.Value) cty.Value {
	if !v.IsKnown() || v.IsNull() {
		return v
	}
	t := v.Type()
	if !t.IsCapsuleType() && !t.IsListType() && !t.IsTupleType() && !t.IsObjectType() && !t.IsMapType() && !t.IsSetType() {
		return v
	}
	out, err := cty.Transform(v, func(_ cty.Path, v cty.Value) (cty.Value, error) {
		raw, marks := v.Unmark()
		if !raw.Type().IsCapsuleType() {
			return v, nil
		}
		gv, ok := value.FromCapsule(raw)
		if !ok {
			return v, nil
		}
		c, ok := gv.(component.Countable)
		if !ok {
			return v, nil
		}
		w := s.wrap(edgeKey{from, export}, c)
		et := raw.Type().EncapsulatedType()
		if w == nil || !reflect.TypeOf(w).AssignableTo(et) {
			// A wrapper of the wrong kind would not decode; hand over the
			// original so data still flows, just uncounted.
			return v, nil
		}
		return value.CapsuleOf(reflect.ValueOf(w), et).WithMarks(marks), nil
	})
	if err != nil {
		return v
	}
	return out
}

// lookup returns the counter of edge k, nil if nothing countable was
// handed along it (it is not a data edge).
func (s *edgeSet) lookup(k edgeKey) *edgeCounter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters[k]
}

// keepOnly drops the counters of edges the component no longer has and
// reports whether it dropped any.
func (s *edgeSet) keepOnly(refs []reference) (dropped bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := make(map[edgeKey]bool, len(refs))
	for _, r := range refs {
		// A reference to a whole component counts under each export.
		keep[edgeKey{r.target.id, r.export}] = true
	}
	for k := range s.counters {
		if !keep[k] && !keep[edgeKey{k.from, ""}] {
			dropped = true
			delete(s.counters, k)
			for wk := range s.wrappers {
				if wk.edge == k {
					delete(s.wrappers, wk)
				}
			}
		}
	}
	return dropped
}

func (s *edgeSet) sampleAll(now time.Time) {
	s.mu.Lock()
	cs := make([]*edgeCounter, 0, len(s.counters))
	for _, c := range s.counters {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.sample(now)
	}
}

// sampleLoop samples edge counters every second for rates, and polls
// component-reported health, until ctx is done.
func (r *Runtime) sampleLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, n := range r.graph.Load().nodes {
				n.st.edges.sampleAll(now)
			}
			r.pollHealth()
		}
	}
}
