package runtime

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// mayName decides which attributes a reload evaluates again: a false "no"
// would apply a stale value, so whatever it cannot tell is a "yes".
func TestMayName(t *testing.T) {
	path := []string{"discovery", "relabel", "d1"}
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{"discovery.relabel.d1.output", true},
		{"discovery.relabel.d1", true},
		{"discovery.relabel", true}, // an object holding it
		{"discovery", true},
		{"discovery.relabel.d10.output", false},
		{"discovery.relabel.d2.output", false},
		{"prometheus.relabel.d1.receiver", false},
		{"discovery[\"relabel\"].d1.output", true}, // an index: cannot tell
		{"discovery.relabel.dé.output", true},      // not ASCII: normalized when evaluated
	} {
		e, diags := hclsyntax.ParseExpression([]byte(tc.expr), "x", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", tc.expr, diags)
		}
		trs := e.Variables()
		if len(trs) != 1 {
			t.Fatalf("%s: %d traversals", tc.expr, len(trs))
		}
		if got := mayName(trs[0], path); got != tc.want {
			t.Errorf("mayName(%s) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}
