package dag

import (
	"reflect"
	"testing"
)

func TestTopoOrderPutsDependenciesFirst(t *testing.T) {
	// 0 depends on 1 and 2, 1 depends on 2, 3 is alone.
	g := New(4)
	g.AddEdge(0, 1)
	g.AddEdge(0, 2)
	g.AddEdge(1, 2)
	g.AddEdge(1, 2) // duplicate, ignored
	order, ok := g.TopoOrder()
	if !ok {
		t.Fatal("acyclic graph reported as cyclic")
	}
	if want := []int{2, 1, 0, 3}; !reflect.DeepEqual(order, want) {
		t.Fatalf("order = %v, want %v", order, want)
	}
	if got := g.Dependants(2); !reflect.DeepEqual(got, []int{0, 1}) {
		t.Fatalf("dependants of 2 = %v", got)
	}
}

func TestCyclesListEveryNodeOnTheCycle(t *testing.T) {
	// 0 → 1 → 2 → 0 is a cycle; 3 → 0 hangs off it; 4 references itself; 5 → 6 is fine.
	g := New(7)
	g.AddEdge(0, 1)
	g.AddEdge(1, 2)
	g.AddEdge(2, 0)
	g.AddEdge(3, 0)
	g.AddEdge(4, 4)
	g.AddEdge(5, 6)
	got := g.Cycles()
	want := [][]int{{0, 1, 2}, {4}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("cycles = %v, want %v", got, want)
	}
	if _, ok := g.TopoOrder(); ok {
		t.Fatal("cyclic graph has a complete topological order")
	}
}

func TestCyclesDeepChainDoesNotOverflow(t *testing.T) {
	const n = 200000
	g := New(n)
	for i := 0; i < n-1; i++ {
		g.AddEdge(i, i+1)
	}
	if c := g.Cycles(); len(c) != 0 {
		t.Fatalf("chain has cycles: %v", c[:1])
	}
	g.AddEdge(n-1, 0)
	c := g.Cycles()
	if len(c) != 1 || len(c[0]) != n {
		t.Fatalf("ring of %d nodes: got %d cycles", n, len(c))
	}
}

func TestLevelsStopSourcesFirst(t *testing.T) {
	// scrape(0) → relabel(1) → discovery(2); scrape(0) → remote_write(3).
	g := New(4)
	g.AddEdge(0, 1)
	g.AddEdge(1, 2)
	g.AddEdge(0, 3)
	got := g.Levels()
	want := [][]int{{0}, {1, 3}, {2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("levels = %v, want %v", got, want)
	}
}

func TestMinQueue(t *testing.T) {
	q := NewMinQueue()
	for _, x := range []int{5, 1, 9, 1, 3} {
		q.Push(x)
	}
	var got []int
	for q.Len() > 0 {
		x := q.Pop()
		got = append(got, x)
		if x == 3 {
			q.Push(4) // added mid-walk, still popped in order
		}
	}
	if want := []int{1, 3, 4, 5, 9}; !reflect.DeepEqual(got, want) {
		t.Fatalf("popped %v, want %v", got, want)
	}
}
