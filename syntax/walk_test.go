package syntax

import (
	"slices"
	"testing"
)

// Walk visits every attribute in source order, descending into nested
// blocks where they stand; Calls finds the calls of each.
func TestWalk(t *testing.T) {
	f, diags := ParseFile([]byte(`a "x" {
  one = f(g(1))
  inner {
    two = 2
    deeper "l" { three = [h()] }
  }
  four = 4
}
`), "w.river")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var names, calls []string
	Walk(f.Body, func(a *Attribute) {
		names = append(names, a.Name)
		Calls(a.Expr, func(c *CallExpr) { calls = append(calls, c.Name) })
	})
	if want := []string{"one", "two", "three", "four"}; !slices.Equal(names, want) {
		t.Errorf("attributes %v, want %v", names, want)
	}
	if want := []string{"f", "g", "h"}; !slices.Equal(calls, want) {
		t.Errorf("calls %v, want %v", calls, want)
	}
	Walk(nil, func(*Attribute) { t.Error("a nil body has no attributes") })
}
