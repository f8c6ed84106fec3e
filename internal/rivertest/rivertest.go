// Package rivertest decodes River text in tests, as the runtime decodes a
// component's block body, so that a test of arguments starts from the text
// a user writes.
package rivertest

import (
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/decode"
)

// Decode parses src as a block body and decodes it into target (a pointer;
// its current value holds the defaults), failing the test on any error.
func Decode(t testing.TB, src string, target any) {
	t.Helper()
	if diags := DecodeErr(src, target); diags.HasErrors() {
		t.Fatal(diags)
	}
}

// DecodeErr is Decode for the tests of what is refused: it returns the
// parse or decode diagnostics instead of failing.
func DecodeErr(src string, target any) hcl.Diagnostics {
	file, diags := syntax.ParseFile([]byte(src), "test.river")
	if diags.HasErrors() {
		return diags
	}
	return decode.Body(file.Body, &hcl.EvalContext{}, target)
}
