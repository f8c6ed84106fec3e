package runtime

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/stdlib"
)

// deprecatedCalls warns, once per call site, about standard-library names
// Alloy deprecated (env, concat, json_decode, format, …): they keep working,
// and the warning names the replacement, as Alloy's validator does.
func deprecatedCalls(nodes []*gnode) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, n := range nodes {
		syntax.Walk(n.block.Body, func(a *syntax.Attribute) {
			syntax.Calls(a.Expr, func(c *syntax.CallExpr) {
				if repl, ok := stdlib.Deprecated(c.Name); ok {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagWarning,
						Summary:  fmt.Sprintf("%s is deprecated; use %s", c.Name, repl),
						Detail:   fmt.Sprintf("The flat name %s still works; Alloy's current name is %s.", c.Name, repl),
						Subject:  c.NameRange.Ptr(),
					})
				}
			})
		})
	}
	return diags
}
