package runtime

import (
	"context"
	goruntime "runtime"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/internal/dag"
)

// queue is the set of components whose exports changed and whose dependants
// have not been re-evaluated yet. Adding an ID already queued is a no-op,
// which is the first place bursts coalesce.
type queue struct {
	mu     sync.Mutex
	set    map[*nodeState]struct{}
	notify chan struct{}
}

func newQueue() *queue {
	return &queue{set: map[*nodeState]struct{}{}, notify: make(chan struct{}, 1)}
}

func (q *queue) add(st *nodeState) {
	q.mu.Lock()
	q.set[st] = struct{}{}
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// take removes st and reports whether it was queued.
func (q *queue) take(st *nodeState) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.set[st]
	delete(q.set, st)
	return ok
}

func (q *queue) drain() []*nodeState {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]*nodeState, 0, len(q.set))
	for st := range q.set {
		out = append(out, st)
	}
	clear(q.set)
	return out
}

// onStateChange is every component's Options.OnStateChange. It may run on
// any goroutine, including inside Build or Update while evalMu is held, so it
// takes only the node's and the queue's locks.
func (r *Runtime) onStateChange(st *nodeState, e component.Exports) {
	v, err := encodeExports(st.reg, e)
	if err != nil {
		st.log.Error("ignoring exports that cannot be encoded", "err", err)
		return
	}
	st.mu.Lock()
	// Exports that differ as Go values almost always encode differently:
	// comparing the encodings, which costs as much as encoding, is left for
	// those that do not (argsEqual never reports equal values whose
	// encodings differ, so at worst an unchanged export is announced). The
	// encodings decide when the Go values look equal: a component that
	// broke the rule and changed exports it had published in place is
	// still seen by the encoding kept.
	if st.exportsSet && argsEqual(e, st.exports) && v.RawEquals(st.exportsVal) {
		st.mu.Unlock()
		return
	}
	st.exports, st.exportsVal, st.exportsSet = e, v, true
	st.exportsVersion++
	st.mu.Unlock()
	r.queue.add(st)
}

// evaluatorLoop runs waves until ctx is done.
func (r *Runtime) evaluatorLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.queue.notify:
			r.wave()
		}
	}
}

// wave re-evaluates the dependants of every queued component, each once, in
// order of depth, continuing downstream only from dependants whose own
// exports changed meanwhile. Dependants of equal depth do not depend on each
// other and are evaluated in parallel.
func (r *Runtime) wave() {
	r.evalMu.Lock()
	defer r.evalMu.Unlock()
	g := r.graph.Load()
	changed := r.queue.drain()
	if len(changed) == 0 {
		return
	}
	depths := dag.NewMinQueue()
	pending := map[int][]*gnode{}
	causes := map[*gnode]*waveCause{}
	enqueueDependants := func(n *gnode) {
		for _, d := range n.dependants {
			c := causes[d]
			if c != nil {
				c.more++
				continue
			}
			causes[d] = &waveCause{first: n.id}
			pending[d.depth] = append(pending[d.depth], d)
			depths.Push(d.depth)
		}
	}
	for _, st := range changed {
		// Exports of a component removed by a reload no longer matter.
		if n, ok := g.byID[st.id]; ok && n.st == st {
			enqueueDependants(n)
		}
	}
	for depths.Len() > 0 {
		depth := depths.Pop()
		group := pending[depth]
		delete(pending, depth)
		slices.SortFunc(group, func(a, b *gnode) int { return a.idx - b.idx })
		parallel(group, func(n *gnode) { r.evaluateLive(n, causes[n].String()) })
		for _, n := range group {
			if r.queue.take(n.st) {
				enqueueDependants(n)
			}
		}
	}
}

// parallelMin is the smallest group worth spreading over goroutines.
const parallelMin = 16

// parallel calls f for every node, on up to GOMAXPROCS goroutines.
func parallel(nodes []*gnode, f func(*gnode)) {
	workers := min(goruntime.GOMAXPROCS(0), len(nodes)/parallelMin+1)
	if workers <= 1 {
		for _, n := range nodes {
			f(n)
		}
		return
	}
	var g errgroup.Group
	g.SetLimit(workers)
	for _, n := range nodes {
		g.Go(func() error { f(n); return nil })
	}
	_ = g.Wait() // f returns no error
}

type waveCause struct {
	first string
	more  int
}

func (c *waveCause) String() string {
	if c.more == 0 {
		return c.first + " exports changed"
	}
	return c.first + " and " + strconv.Itoa(c.more) + " more exports changed"
}
