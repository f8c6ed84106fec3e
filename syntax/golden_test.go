package syntax_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
	"golang.org/x/tools/txtar"

	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/stdlib"
	"github.com/flow-telemetry/flow/syntax/value"
)

var update = flag.Bool("update", false, "rewrite the golden sections of testdata/*/*.txtar")

// The golden archives hold a River file ("input.river") and the expected
// output ("output"): for testdata/parse, the parser's diagnostics as
// DiagnosticsString renders them; for testdata/eval, each top-level
// attribute's value or diagnostics, evaluated in the standard library's
// context plus the variables of testVariables.

func TestParseGolden(t *testing.T) {
	runGolden(t, "testdata/parse/*.txtar", func(src []byte) string {
		_, diags := syntax.ParseFile(src, "input.river")
		out := syntax.DiagnosticsString(map[string][]byte{"input.river": src}, diags)
		if out == "" {
			return "(no diagnostics)\n"
		}
		return out
	})
}

func TestEvalGolden(t *testing.T) {
	runGolden(t, "testdata/eval/*.txtar", func(src []byte) string {
		files := map[string][]byte{"input.river": src}
		f, diags := syntax.ParseFile(src, "input.river")
		if diags.HasErrors() {
			return "parse error:\n" + syntax.DiagnosticsString(files, diags)
		}
		ctx := stdlib.EvalContext().NewChild()
		ctx.Variables = testVariables()
		var sb strings.Builder
		for _, a := range f.Body.Attributes() {
			v, diags := a.Expr.Value(ctx)
			if diags.HasErrors() {
				fmt.Fprintf(&sb, "%s: error\n", a.Name)
				sb.WriteString(syntax.DiagnosticsString(files, diags))
				continue
			}
			fmt.Fprintf(&sb, "%s = %s\n", a.Name, render(v))
		}
		return sb.String()
	})
}

// testVariables stands in for the runtime's component exports.
func testVariables() map[string]cty.Value {
	return map[string]cty.Value{
		"aws": cty.ObjectVal(map[string]cty.Value{
			"credentials": cty.ObjectVal(map[string]cty.Value{
				"default": cty.ObjectVal(map[string]cty.Value{
					"access_key_id":     cty.StringVal("AKIDEXAMPLE"),
					"secret_access_key": value.SecretVal("wJalrXUtnFEMI"),
					"token":             value.SecretVal("tok"),
				}),
			}),
		}),
		"local": cty.ObjectVal(map[string]cty.Value{
			"file": cty.ObjectVal(map[string]cty.Value{
				"targets": cty.ObjectVal(map[string]cty.Value{
					"content": cty.StringVal(`[{"__address__": "localhost:9100"}]`),
				}),
			}),
		}),
		"prometheus": cty.ObjectVal(map[string]cty.Value{
			"remote_write": cty.ObjectVal(map[string]cty.Value{
				"default": cty.ObjectVal(map[string]cty.Value{
					"receiver": value.Capsule(&testReceiver{name: "rw"}),
				}),
			}),
		}),
		"labels": cty.MapVal(map[string]cty.Value{
			"job":      cty.StringVal("node"),
			"instance": cty.StringVal("a:9100"),
		}),
		"ports": cty.ListVal([]cty.Value{cty.NumberIntVal(9100), cty.NumberIntVal(9090)}),
	}
}

type testReceiver struct{ name string }

// render writes a value in River-like syntax. A secret shows as (secret), so
// the golden output proves the mark survived.
func render(v cty.Value) string {
	if v.HasMark(value.SecretMark) {
		return "(secret)"
	}
	v, _ = v.Unmark()
	if !v.IsKnown() {
		return "(unknown)"
	}
	if v.IsNull() {
		return "null"
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return strconv.Quote(v.AsString())
	case t == cty.Number:
		return v.AsBigFloat().Text('g', -1)
	case t == cty.Bool:
		return strconv.FormatBool(v.True())
	case t.IsCapsuleType():
		if r, ok := value.FromCapsule(v); ok {
			if tr, ok := r.(*testReceiver); ok {
				return "capsule(" + tr.name + ")"
			}
		}
		return t.FriendlyName()
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		var parts []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			parts = append(parts, render(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case t.IsObjectType() || t.IsMapType():
		var parts []string
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			parts = append(parts, strconv.Quote(k.AsString())+" = "+render(e))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return t.FriendlyName()
}

func runGolden(t *testing.T, pattern string, run func(src []byte) string) {
	t.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden files match %s (err %v)", pattern, err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var src []byte
			outIdx := -1
			for i, f := range ar.Files {
				switch f.Name {
				case "input.river":
					src = f.Data
				case "output":
					outIdx = i
				}
			}
			if src == nil {
				t.Fatalf("%s: no input.river section", path)
			}
			got := run(src)
			if *update {
				if outIdx < 0 {
					ar.Files = append(ar.Files, txtar.File{Name: "output"})
					outIdx = len(ar.Files) - 1
				}
				ar.Files[outIdx].Data = []byte(got)
				if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if outIdx < 0 {
				t.Fatalf("%s: no output section (run with -update to create it)", path)
			}
			if want := string(ar.Files[outIdx].Data); got != want {
				t.Errorf("%s: output differs\n--- got ---\n%s--- want ---\n%s", path, got, want)
			}
		})
	}
}
