// Package dag is the directed graph under flow's component runtime: nodes are
// dense integer indices, an edge u → v means "u depends on v" (u references
// one of v's exports), cycles are found with Tarjan's strongly connected
// components algorithm, and the topological order lists dependencies before
// the nodes that depend on them.
//
// The package knows nothing about components; the runtime maps component IDs
// to indices. Integer nodes keep a 10,000-node graph cheap to build and walk.
package dag

import "sort"

// Graph is a directed graph over the nodes 0..N-1.
type Graph struct {
	out [][]int // out[u]: the nodes u depends on, deduplicated
	in  [][]int // in[v]: the nodes depending on v, deduplicated
	// seen deduplicates edges as they are added.
	seen map[[2]int]struct{}
}

// New returns a graph of n nodes and no edges.
func New(n int) *Graph {
	return &Graph{out: make([][]int, n), in: make([][]int, n), seen: make(map[[2]int]struct{})}
}

// Len returns the number of nodes.
func (g *Graph) Len() int { return len(g.out) }

// AddEdge records that from depends on to. Duplicate edges are ignored; a
// self-edge is kept so that Cycles reports it.
func (g *Graph) AddEdge(from, to int) {
	k := [2]int{from, to}
	if _, dup := g.seen[k]; dup {
		return
	}
	g.seen[k] = struct{}{}
	g.out[from] = append(g.out[from], to)
	g.in[to] = append(g.in[to], from)
}

// Dependencies returns the nodes u depends on, in the order the edges were added.
func (g *Graph) Dependencies(u int) []int { return g.out[u] }

// Dependants returns the nodes depending on v, in the order the edges were added.
func (g *Graph) Dependants(v int) []int { return g.in[v] }

// Cycles returns every cycle as the set of nodes on it (a strongly connected
// component of more than one node, or a node with an edge to itself), each
// sorted ascending, the cycles ordered by their smallest node. It uses an
// iterative Tarjan so deep chains cannot overflow the goroutine stack.
func (g *Graph) Cycles() [][]int {
	n := len(g.out)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var (
		stack  []int
		next   int
		cycles [][]int
	)
	type frame struct{ v, edge int }
	for root := 0; root < n; root++ {
		if index[root] >= 0 {
			continue
		}
		call := []frame{{v: root}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			if f.edge < len(g.out[v]) {
				w := g.out[v][f.edge]
				f.edge++
				if index[w] < 0 {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{v: w})
				} else if onStack[w] && index[w] < low[v] {
					low[v] = index[w]
				}
				continue
			}
			// All edges of v are explored: pop it and fold its low link into its caller.
			call = call[:len(call)-1]
			if len(call) > 0 {
				if p := call[len(call)-1].v; low[v] < low[p] {
					low[p] = low[v]
				}
			}
			if low[v] != index[v] {
				continue
			}
			var scc []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				scc = append(scc, w)
				if w == v {
					break
				}
			}
			if len(scc) > 1 || g.hasSelfEdge(v) {
				sort.Ints(scc)
				cycles = append(cycles, scc)
			}
		}
	}
	sort.Slice(cycles, func(i, j int) bool { return cycles[i][0] < cycles[j][0] })
	return cycles
}

func (g *Graph) hasSelfEdge(v int) bool {
	_, ok := g.seen[[2]int{v, v}]
	return ok
}

// TopoOrder returns the nodes with every node after all the nodes it depends
// on; among nodes whose dependencies are all placed, lower indices come first
// so the order is deterministic (and follows source order when indices do).
// ok is false if the graph has a cycle; the order then holds only the nodes
// that are not on or behind one.
func (g *Graph) TopoOrder() (order []int, ok bool) {
	n := len(g.out)
	pending := make([]int, n) // number of unplaced dependencies
	ready := &intHeap{}
	for u := 0; u < n; u++ {
		pending[u] = len(g.out[u])
		if pending[u] == 0 {
			ready.push(u)
		}
	}
	order = make([]int, 0, n)
	for ready.Len() > 0 {
		v := ready.pop()
		order = append(order, v)
		for _, u := range g.in[v] {
			pending[u]--
			if pending[u] == 0 {
				ready.push(u)
			}
		}
	}
	return order, len(order) == n
}

// Levels groups nodes for an orderly shutdown: level 0 holds the nodes no
// other node depends on (the sources of data, such as a scrape feeding a
// remote_write), level k the nodes whose dependants are all in levels below k.
// Stopping level by level stops every node after everything that feeds it.
// The graph must be acyclic.
func (g *Graph) Levels() [][]int {
	order, _ := g.TopoOrder()
	level := make([]int, len(g.out))
	max := 0
	// Walk in reverse topological order so every dependant's level is known first.
	for i := len(order) - 1; i >= 0; i-- {
		v := order[i]
		l := 0
		for _, u := range g.in[v] {
			if level[u]+1 > l {
				l = level[u] + 1
			}
		}
		level[v] = l
		if l > max {
			max = l
		}
	}
	if len(order) == 0 {
		return nil
	}
	out := make([][]int, max+1)
	for _, v := range order {
		out[level[v]] = append(out[level[v]], v)
	}
	return out
}

// intHeap is a min-heap of ints; container/heap's interface boxing is
// avoided because TopoOrder runs on every load.
type intHeap struct{ a []int }

func (h *intHeap) Len() int { return len(h.a) }

func (h *intHeap) push(x int) {
	h.a = append(h.a, x)
	i := len(h.a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h.a[p] <= h.a[i] {
			break
		}
		h.a[p], h.a[i] = h.a[i], h.a[p]
		i = p
	}
}

func (h *intHeap) pop() int {
	top := h.a[0]
	last := len(h.a) - 1
	h.a[0] = h.a[last]
	h.a = h.a[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h.a) && h.a[l] < h.a[m] {
			m = l
		}
		if r < len(h.a) && h.a[r] < h.a[m] {
			m = r
		}
		if m == i {
			return top
		}
		h.a[m], h.a[i] = h.a[i], h.a[m]
		i = m
	}
}

// MinQueue is a set of node indices popped smallest first. The scheduler uses
// it with topological positions as the indices, so nodes added while a wave
// is running are still evaluated in dependency order.
type MinQueue struct {
	h   intHeap
	has map[int]bool
}

// NewMinQueue returns an empty queue.
func NewMinQueue() *MinQueue { return &MinQueue{has: map[int]bool{}} }

// Push adds x unless it is already queued.
func (q *MinQueue) Push(x int) {
	if q.has[x] {
		return
	}
	q.has[x] = true
	q.h.push(x)
}

// Pop removes and returns the smallest queued value.
func (q *MinQueue) Pop() int {
	x := q.h.pop()
	delete(q.has, x)
	return x
}

// Len returns the number of queued values.
func (q *MinQueue) Len() int { return q.h.Len() }
