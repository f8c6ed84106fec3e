package syntax

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/syntax/stdlib"
	"github.com/flow-telemetry/flow/syntax/value"
)

// deepShape is one way to nest an expression far beyond MaxDepth in n
// bytes: chains of operators, indexes and accesses that the parser builds
// with loops, and brackets it builds by recursion.
type deepShape struct {
	name string
	expr func(n int) string
	// at is the column, on the attribute's line, of the operator or
	// bracket where the nesting crosses MaxDepth.
	at int
}

// The attribute is `x = <expr>`, so the expression starts at column 5 and
// the top-level parse is one level deep: an item `[1]` is two levels high,
// and the first index on it makes three.
var deepShapes = []deepShape{
	{"unary not", func(n int) string { return strings.Repeat("!", n) + "true" }, 5},
	{"unary minus", func(n int) string { return strings.Repeat("-", n) + "1" }, 5},
	{"short unary run", func(int) string { return strings.Repeat("!", MaxDepth-1) + "true" }, 5 + 0},
	{"parentheses", func(n int) string { return strings.Repeat("(", n/2) + "1" + strings.Repeat(")", n/2) }, 5 + MaxDepth - 1},
	{"index chain", func(n int) string { return "[1]" + strings.Repeat("[0]", n/3) }, 5 + 3 + 3*(MaxDepth-3)},
	{"access chain", func(n int) string { return "{a = 1}" + strings.Repeat(".a", n/2) }, 5 + 7 + 2*(MaxDepth-3) + 1},
	{"reference", func(n int) string { return "a" + strings.Repeat(".a", n/2) }, 5 + 1 + 2*(MaxDepth-2) + 1},
	{"binary chain", func(n int) string { return "1" + strings.Repeat(" + 1", n/4) }, 5 + 1 + 4*(MaxDepth-2) + 1},
	{"concatenation", func(n int) string { return `"a"` + strings.Repeat(` + "a"`, n/6) }, 5 + 3 + 6*(MaxDepth-2) + 1},
	{"power chain", func(n int) string { return "1" + strings.Repeat("^1", n/2) }, 0},
	{"arrays", func(n int) string { return strings.Repeat("[", n/2) + strings.Repeat("]", n/2) }, 0},
	{"objects", func(n int) string { return strings.Repeat("{a = ", n/6) + "1" + strings.Repeat("}", n/6) }, 0},
	{"calls", func(n int) string {
		return strings.Repeat("string.to_upper(", n/17) + `"a"` + strings.Repeat(")", n/17)
	}, 0},
}

// Every deep shape, 3 MB of it, is refused by the parser with one clear
// diagnostic, and nothing that walks what it returns (evaluation, reference
// collection, rendering the diagnostic) recurses without bound. Before the
// parser measured the depth of the tree it builds, the unary, index, access
// and binary chains parsed "fine" and evaluating them overflowed the stack,
// killing the process.
func TestDeepExpressionsAreRefused(t *testing.T) {
	ctx := stdlib.EvalContext()
	for _, sh := range deepShapes {
		t.Run(sh.name, func(t *testing.T) {
			src := "x = " + sh.expr(3_000_000) + "\ny = 2\n"
			start := time.Now()
			file, diags := ParseFile([]byte(src), "deep.river")
			if !diags.HasErrors() {
				t.Fatalf("%d bytes nested %s: no error", len(src), sh.name)
			}
			d := diags[0]
			if !strings.Contains(d.Summary, fmt.Sprintf("nesting is too deep (more than %d levels)", MaxDepth)) ||
				!strings.Contains(d.Detail, "string.join") {
				t.Errorf("first diagnostic: %s; %s", d.Summary, d.Detail)
			}
			if d.Subject.Start.Line != 1 || (sh.at != 0 && d.Subject.Start.Column != sh.at) {
				t.Errorf("diagnostic at %d:%d, want 1:%d", d.Subject.Start.Line, d.Subject.Start.Column, sh.at)
			}
			if len(diags) > 3 {
				t.Errorf("%d diagnostics for one deep expression, want at most 3: %s", len(diags), diags.Error())
			}
			if d := bodyDepth(file.Body); d > MaxDepth {
				t.Errorf("the tree returned is %d levels deep", d)
			}
			// The parser went on after the expression: y is there.
			var names []string
			walkAttrs(file.Body, func(a *Attribute) {
				names = append(names, a.Name)
				_ = a.Expr.Variables()
				_, _ = a.Expr.Value(ctx)
			})
			if names[len(names)-1] != "y" {
				t.Errorf("attributes after recovery: %v", names)
			}
			out := DiagnosticsString(map[string][]byte{"deep.river": []byte(src)}, diags)
			if !strings.Contains(out, "deep.river:1:") || len(out) > 4000 {
				t.Errorf("rendered diagnostics (%d bytes) must name the position and quote little of the 3 MB line:\n%.2000s", len(out), out)
			}
			// A hang guard only: this takes well under a second.
			if el := time.Since(start); el > time.Minute {
				t.Errorf("took %v", el)
			}
		})
	}
}

// Up to MaxDepth, every shape parses, evaluates and yields its references.
func TestNestingUpToTheLimitWorks(t *testing.T) {
	const n = MaxDepth - 10
	ctx := stdlib.EvalContext().NewChild()
	ctx.Variables = map[string]cty.Value{"v": cty.ObjectVal(map[string]cty.Value{"s": cty.StringVal("s")})}
	for _, tt := range []struct {
		expr string
		want cty.Value
		refs int
	}{
		{strings.Repeat("!", n) + "true", cty.BoolVal(n%2 == 0), 0},
		{strings.Repeat("-", n) + "1", cty.NumberIntVal([]int64{1, -1}[n%2]), 0},
		{"1" + strings.Repeat(" + 1", n), cty.NumberIntVal(n + 1), 0},
		{"v.s" + strings.Repeat(" + v.s", n), cty.StringVal(strings.Repeat("s", n+1)), n + 1},
		{strings.Repeat("[", n/2) + "1" + strings.Repeat("]", n/2) + strings.Repeat("[0]", n/2), cty.NumberIntVal(1), 0},
		{strings.Repeat("{a = ", n/2) + "1" + strings.Repeat("}", n/2) + strings.Repeat(".a", n/2), cty.NumberIntVal(1), 0},
		{strings.Repeat("(", n) + "v.s" + strings.Repeat(")", n), cty.StringVal("s"), 1},
		{"2" + strings.Repeat(" ^ 1", n/2), cty.NumberIntVal(2), 0},
	} {
		file, diags := ParseFile([]byte("x = "+tt.expr+"\n"), "t.river")
		if diags.HasErrors() {
			t.Errorf("%.30s…: %s", tt.expr, diags.Error())
			continue
		}
		if d := bodyDepth(file.Body); d < MaxDepth/3 || d > MaxDepth {
			t.Errorf("%.30s…: a tree %d levels deep", tt.expr, d)
		}
		e := file.Body.Attributes()[0].Expr
		got, diags := e.Value(ctx)
		if diags.HasErrors() {
			t.Errorf("%.30s…: %s", tt.expr, diags.Error())
			continue
		}
		if tt.want != cty.NilVal && !got.RawEquals(tt.want) {
			t.Errorf("%.30s… = %.60s, want %.60s", tt.expr, got.GoString(), tt.want.GoString())
		}
		if refs := len(e.Variables()); refs != tt.refs {
			t.Errorf("%.30s…: %d references, want %d", tt.expr, refs, tt.refs)
		}
	}
}

// Blocks count too, and the depth of an expression adds to its block's.
func TestBlockNestingCounts(t *testing.T) {
	src := strings.Repeat("a {\n", MaxDepth+5) + strings.Repeat("}\n", MaxDepth+5)
	if _, diags := ParseFile([]byte(src), "t.river"); !diags.HasErrors() || !strings.Contains(diags[0].Summary, "nesting is too deep") {
		t.Errorf("deep blocks: %v", diags)
	}
	half := MaxDepth / 2
	src = strings.Repeat("a {\n", half) + "x = " + strings.Repeat("!", half+10) + "true\n" + strings.Repeat("}\n", half)
	if _, diags := ParseFile([]byte(src), "t.river"); !diags.HasErrors() || diags[0].Subject.Start.Line != half+1 {
		t.Errorf("deep expression in deep blocks: %v", diags)
	}
}

// A file with an error on every line reports MaxErrors of them and says
// there were more, rather than holding millions of diagnostics.
func TestParseErrorsAreCapped(t *testing.T) {
	src := strings.Repeat("x = = 1\n", 200_000)
	_, diags := ParseFile([]byte(src), "t.river")
	if len(diags) != MaxErrors+1 || !strings.Contains(diags[MaxErrors].Summary, "too many errors") {
		t.Fatalf("%d diagnostics, last %q", len(diags), diags[len(diags)-1].Summary)
	}
}

// A diagnostic in the middle of a long line quotes the part around it, and
// its caret stays under the right character.
func TestDiagnosticQuotesPartOfALongLine(t *testing.T) {
	src := "x = [" + strings.Repeat("1, ", 1000) + "@, 1]\n"
	_, diags := ParseFile([]byte(src), "t.river")
	if !diags.HasErrors() {
		t.Fatal("no error")
	}
	out := DiagnosticsString(map[string][]byte{"t.river": []byte(src)}, diags)
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || len(lines[1]) > 2*maxShown+40 || !strings.Contains(lines[1], "…") {
		t.Fatalf("quoted line not cut:\n%s", out)
	}
	caret := strings.IndexByte(lines[2], '^')
	if at := strings.Index(lines[1], "@"); caret < 0 || len([]rune(lines[1][:at])) != caret {
		t.Errorf("caret at %d, \"@\" at rune %d:\n%s", caret, len([]rune(lines[1][:at])), out)
	}
}

// A chain of + joining strings costs the length of its result: 1,000
// strings of 3 KB (the largest chain MaxDepth allows, 3 MB of config) used
// to copy the growing prefix at every step, 1.5 GB in all.
func TestConcatenationChainIsLinear(t *testing.T) {
	const terms, size = MaxDepth - 10, 3000
	part := `"` + strings.Repeat("a", size-2) + `"`
	src := "x = " + part + strings.Repeat(" + "+part, terms-1) + "\n"
	file, diags := ParseFile([]byte(src), "t.river")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	e := file.Body.Attributes()[0].Expr
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	v, diags := e.Value(nil)
	goruntime.ReadMemStats(&after)
	if diags.HasErrors() || len(v.AsString()) != terms*(size-2) {
		t.Fatalf("%d-byte result, %v", len(v.AsString()), diags)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 10*uint64(terms*size) {
		t.Errorf("evaluating a %d-byte concatenation allocated %d bytes", terms*size, alloc)
	}
}

// The chain gives exactly what pairwise evaluation gives, parenthesised
// so that it is not a chain: values, secrets, unknowns, numbers mixed in,
// and errors at the same positions.
func TestConcatenationChainMatchesPairwise(t *testing.T) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"s":  cty.StringVal("s"),
		"p":  value.SecretVal("p"),
		"u":  cty.UnknownVal(cty.String),
		"d":  cty.DynamicVal,
		"n":  cty.NumberIntVal(2),
		"nl": cty.NullVal(cty.String),
		"e":  cty.StringVal("e\u0301"), // NFC joins it into é
	}}
	operands := []string{`"a"`, "s", "p", "u", "d", "n", "nl", "e", "1", `"\u0301"`, "true"}
	var chains [][]string
	for _, a := range operands {
		for _, b := range operands {
			for _, c := range operands {
				chains = append(chains, []string{a, b, c, `"z"`})
			}
		}
	}
	for _, ops := range chains {
		chain := strings.Join(ops, " + ")
		pairwise := "((" + ops[0] + " + " + ops[1] + ") + " + ops[2] + ") + " + ops[3]
		got, gd := parseEval(t, ctx, chain)
		want, wd := parseEval(t, ctx, pairwise)
		if !got.RawEquals(want) {
			t.Errorf("%s = %#v, pairwise %#v", chain, got, want)
		}
		if len(gd) != len(wd) || (len(gd) > 0 && (gd[0].Summary != wd[0].Summary)) {
			t.Errorf("%s: diagnostics %v, pairwise %v", chain, gd, wd)
		}
	}
}

func parseEval(t *testing.T, ctx *hcl.EvalContext, src string) (cty.Value, hcl.Diagnostics) {
	t.Helper()
	e, diags := ParseExpression([]byte(src), "t.river", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return e.Value(ctx)
}

// A chain of + may not build a string longer than MaxStringBytes, however
// large its operands.
func TestConcatenationIsBounded(t *testing.T) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"x": cty.StringVal(strings.Repeat("x", 1<<20))}}
	for _, src := range []string{"x" + strings.Repeat(" + x", 20), "(x + x) + (x + x + x + x + x + x + x + x + x + x + x + x + x + x + x)"} {
		_, diags := parseEval(t, ctx, src)
		if !diags.HasErrors() || !strings.Contains(diags[0].Summary, "longer than 16 MiB") {
			t.Errorf("%s: %v", src, diags)
		}
	}
}

// A config of nothing but tiny expressions is refused where its syntax
// tree outgrows TreeBytesPerByte times its size: 2 MB of `[1,1,1,…]` or of
// packed operator chains used to take 130 to 300 times their size in memory.
// Parsing stops there, so the refusal costs no more than the budget.
func TestDenseConfigsAreRefused(t *testing.T) {
	const size = 2 << 20
	packed := func(item string) string {
		return "x = [" + strings.Repeat(item+",", size/(len(item)+1)) + item + "]\n"
	}
	for name, src := range map[string]string{
		"numbers":        packed("1"),
		"empty arrays":   packed("[]"),
		"empty objects":  packed("{}"),
		"unary chains":   packed(strings.Repeat("!", MaxDepth-10) + "true"),
		"binary chains":  packed("1" + strings.Repeat("+1", MaxDepth-10)),
		"string chains":  packed(`""` + strings.Repeat(`+""`, MaxDepth-10)),
		"references":     packed("a.b"),
		"index chains":   packed("[1]" + strings.Repeat("[0]", MaxDepth-10)),
		"many attribute": strings.Repeat("a=1\n", size/4),
	} {
		t.Run(name, func(t *testing.T) {
			var before, after goruntime.MemStats
			goruntime.ReadMemStats(&before)
			_, diags := ParseFile([]byte(src), "dense.river")
			goruntime.ReadMemStats(&after)
			if len(diags) != 1 || !strings.Contains(diags[0].Summary, "too dense to hold in memory") || diags[0].Subject.Start.Byte < size/10 {
				t.Fatalf("%d diagnostics: %v", len(diags), diags)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2*uint64(NewTreeBudget(len(src)).limit) {
				t.Errorf("refusing it allocated %d MiB", alloc>>20)
			}
		})
	}
}

// Real configs are well inside the budget: the examples, and the densest
// realistic shape, a config of histogram bucket lists alongside components.
func TestRealConfigsFitTheTreeBudget(t *testing.T) {
	examples, _ := filepath.Glob("../examples/*.river")
	if len(examples) == 0 {
		t.Fatal("no examples")
	}
	var all []byte
	for _, p := range examples {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, src...)
		all = append(all, '\n')
	}
	for len(all) < 2<<20 {
		all = append(all, all...)
	}
	b := NewTreeBudget(len(all))
	if _, diags := ParseFileIn(all, "examples.river", b); diags.HasErrors() {
		t.Fatalf("%.300s", diags.Error())
	}
	if ratio := float64(b.Spent()) / float64(len(all)); ratio > TreeBytesPerByte/2 {
		t.Errorf("the examples cost %.1f bytes of tree per byte, over half the limit", ratio)
	}
}

// A file or config over MaxConfigBytes is refused at its first byte.
func TestConfigSizeLimit(t *testing.T) {
	big := bytes.Repeat([]byte("// comment\n"), MaxConfigBytes/11+1)
	if _, diags := ParseFile(big, "big.river"); len(diags) != 1 || !strings.Contains(diags[0].Summary, "the file is 4.0 MiB; the limit is 4 MiB") ||
		diags[0].Subject.Start.Line != 1 {
		t.Errorf("big file: %v", diags)
	}
	half := big[:len(big)/2+1]
	if d := ConfigTooLarge(map[string][]byte{"b.river": half, "a.river": half}); d == nil || d.Subject.Filename != "a.river" ||
		!strings.Contains(d.Summary, "the config (2 files) is 4.0 MiB") {
		t.Errorf("two halves: %v", d)
	}
	if d := ConfigTooLarge(map[string][]byte{"a.river": big[:MaxConfigBytes]}); d != nil {
		t.Errorf("exactly the limit: %v", d)
	}
}

// amplifier is a 16 KB call that builds a 16 MB string: each 10-byte verb
// writes 10,000 bytes.
var amplifier = `string.format("` + strings.Repeat("%[1]10000d", 1600) + `", 1)`

// The work of evaluating a config is bounded by its EvalBudget: 40 calls
// that each build a 16 MB string (640 KB of config, 640 MB of strings) stop
// with an error at the call where the budget runs out, having built no more
// than the budget.
func TestEvalBudgetBoundsAmplification(t *testing.T) {
	src := "x = [" + strings.Repeat(amplifier+",\n", 40) + "1]\n"
	file, diags := ParseFile([]byte(src), "amp.river")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	b := NewEvalBudget(len(src))
	ctx := WithBudget(stdlib.EvalContext(), b)
	_, diags = file.Body.Attributes()[0].Expr.Value(ctx)
	if len(diags) != 1 || !strings.Contains(diags[0].Summary, "evaluation budget exhausted") || !b.Exhausted() {
		t.Fatalf("%v", diags)
	}
	// The budget (64 MiB and 16 bytes per byte) runs out at the fifth
	// call: 35 of them, 560 MB of strings, are never built.
	if line := diags[0].Subject.Start.Line; line != 5 {
		t.Errorf("exhausted at line %d, want 5", line)
	}
	// Once exhausted, evaluating anything more is free and silent.
	if v, d := file.Body.Attributes()[0].Expr.Value(ctx); v.IsKnown() || len(d) != 0 {
		t.Errorf("after exhaustion: %#v %v", v, d)
	}
}

// Comparing and joining large values is charged too: `x == x` over an
// export of 8,192 items, or `s + s` of a 256 KiB string, a thousand times.
func TestEvalBudgetChargesComparisonsAndJoins(t *testing.T) {
	ctx := stdlib.EvalContext().NewChild()
	big := make([]cty.Value, 1<<13)
	for i := range big {
		big[i] = cty.StringVal("item")
	}
	ctx.Variables = map[string]cty.Value{"x": cty.ListVal(big), "s": cty.StringVal(strings.Repeat("s", 1<<18))}
	for _, expr := range []string{"x == x", "s + s", "s < s", `string.join([s, s, s, s], "")`} {
		src := "y = [" + strings.Repeat(expr+", ", 1000) + "1]\n"
		file, diags := ParseFile([]byte(src), "t.river")
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		_, diags = file.Body.Attributes()[0].Expr.Value(WithBudget(ctx, NewEvalBudget(len(src))))
		if !diags.HasErrors() || !strings.Contains(diags[0].Summary, "evaluation budget exhausted") {
			t.Errorf("%s a thousand times: %v", expr, diags)
		}
	}
}

// An expression with fifty thousand bad items reports MaxErrors of them
// and says so, rather than making a diagnostic per item.
func TestEvalErrorsAreCapped(t *testing.T) {
	for _, src := range []string{
		"x = [" + strings.Repeat(`1 + "a longer string, so the config is not too dense", `, 50_000) + "1]\n",
		"x = {" + func() string {
			var b strings.Builder
			for i := 0; i < 50_000; i++ {
				fmt.Fprintf(&b, "key_number_%d = -\"a longer string, so the config is not too dense\", ", i)
			}
			return b.String()
		}() + "}\n",
	} {
		file, diags := ParseFile([]byte(src), "t.river")
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		_, diags = file.Body.Attributes()[0].Expr.Value(nil)
		if len(diags) != MaxErrors+1 || !strings.Contains(diags[MaxErrors].Summary, "too many errors") {
			t.Errorf("%d diagnostics, last %v", len(diags), diags[len(diags)-1])
		}
	}
}

// A parenthesized callee, ((f))(x), is part of the call's tree: deep
// parentheses around the name plus indexes on the result cross MaxDepth.
func TestParenthesizedCalleeCounts(t *testing.T) {
	callee := strings.Repeat("(", MaxDepth-20) + "string.to_upper" + strings.Repeat(")", MaxDepth-20)
	if _, diags := ParseFile([]byte("x = "+callee+`("a")`+"\n"), "t.river"); diags.HasErrors() {
		t.Fatalf("within the limit: %v", diags)
	}
	_, diags := ParseFile([]byte("x = "+callee+`("a")`+strings.Repeat("[0]", 30)+"\n"), "t.river")
	if !diags.HasErrors() || !strings.Contains(diags[0].Summary, "nesting is too deep") {
		t.Errorf("%d parentheses and 30 indexes: %v", MaxDepth-20, diags)
	}
}
