package syntax

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/flow-telemetry/flow/syntax/value"
)

func evalExpr(t *testing.T, ctx *hcl.EvalContext, src string) (cty.Value, hcl.Diagnostics) {
	t.Helper()
	e, diags := ParseExpression([]byte(src), "e.river", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse %s: %s", src, diags.Error())
	}
	return e.Value(ctx)
}

// sink is not zero-sized, so that every &sink{} is a distinct pointer.
type sink struct{ _ int }

func TestEvalWalksParentContexts(t *testing.T) {
	upper := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "s", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.StringVal(strings.ToUpper(args[0].AsString())), nil
		},
	})
	root := &hcl.EvalContext{
		Variables: map[string]cty.Value{"constants": cty.ObjectVal(map[string]cty.Value{"os": cty.StringVal("linux")})},
		Functions: map[string]function.Function{"string.to_upper": upper},
	}
	child := root.NewChild()
	child.Variables = map[string]cty.Value{"local": cty.ObjectVal(map[string]cty.Value{"x": cty.StringVal("v")})}
	grandchild := child.NewChild()

	v, diags := evalExpr(t, grandchild, `string.to_upper(local.x) + constants.os`)
	if diags.HasErrors() || v.AsString() != "Vlinux" {
		t.Errorf("got %#v %v, want \"Vlinux\"", v, diags)
	}
}

func TestEvalWithoutContext(t *testing.T) {
	if v, diags := evalExpr(t, nil, `[1 + 2, "a"]`); diags.HasErrors() || !v.Equals(cty.TupleVal([]cty.Value{cty.NumberIntVal(3), cty.StringVal("a")})).True() {
		t.Errorf("constant expression without context: %#v %v", v, diags)
	}
	for _, src := range []string{`a.b`, `f(1)`} {
		if _, diags := evalExpr(t, nil, src); !diags.HasErrors() || !strings.Contains(diags[0].Summary, "not allowed here") {
			t.Errorf("%s without context: %v", src, diags)
		}
	}
}

// Capsules pass through references, arrays, objects, parentheses, indexing
// and function arguments as the very same Go value.
func TestCapsulesPassThrough(t *testing.T) {
	recv := &sink{}
	capsule := value.Capsule(recv)
	identity := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType}},
		Type:   func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
		Impl:   func(args []cty.Value, _ cty.Type) (cty.Value, error) { return args[0], nil },
	})
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"c": cty.ObjectVal(map[string]cty.Value{"receiver": capsule})},
		Functions: map[string]function.Function{"id": identity},
	}
	for _, src := range []string{
		`c.receiver`, `(c.receiver)`, `[c.receiver][0]`, `{r = c.receiver}.r`, `{r = c.receiver}["r"]`, `id(c.receiver)`, `[1, c.receiver, "x"][1]`,
	} {
		v, diags := evalExpr(t, ctx, src)
		if diags.HasErrors() {
			t.Errorf("%s: %v", src, diags)
			continue
		}
		got, ok := value.FromCapsule(v)
		if !ok || got != any(recv) {
			t.Errorf("%s: got %#v, want the same *sink", src, v)
		}
	}
	if v, diags := evalExpr(t, ctx, `c.receiver == c.receiver`); diags.HasErrors() || !v.True() {
		t.Errorf("capsule equality: %#v %v", v, diags)
	}
	if _, diags := evalExpr(t, ctx, `c.receiver + 1`); !diags.HasErrors() || !strings.Contains(diags[0].Summary, "got capsule") {
		t.Errorf("capsule arithmetic: %v", diags)
	}
}

// Secrets keep their mark through every operation, and a marked value never
// makes evaluation panic.
func TestSecretsStayMarked(t *testing.T) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"s":    value.SecretVal("hunter2"),
		"n":    cty.NumberIntVal(3).Mark(value.SecretMark),
		"b":    cty.True.Mark(value.SecretMark),
		"list": cty.ListVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")}).Mark(value.SecretMark),
		"obj":  cty.ObjectVal(map[string]cty.Value{"k": cty.StringVal("v")}).Mark(value.SecretMark),
		"i":    cty.NumberIntVal(1).Mark(value.SecretMark),
	}}
	for _, src := range []string{
		`s + "x"`, `"x" + s`, `s + s`, `n + 1`, `n - 1`, `n * 2`, `n / 2`, `n % 2`, `n ^ 2`, `-n`, `!b`, `b && true`, `false || b`,
		`s == "hunter2"`, `s != "x"`, `n < 4`, `n >= 3`, `s < "z"`, `list[0]`, `list[i]`, `["a", "b"][i]`, `obj.k`, `obj["k"]`, `obj["missing"]`, `(s)`,
	} {
		v, diags := evalExpr(t, ctx, src)
		if diags.HasErrors() {
			t.Errorf("%s: %v", src, diags)
			continue
		}
		if !v.HasMark(value.SecretMark) {
			t.Errorf("%s: result %#v lost the secret mark", src, v)
		}
	}
	// Errors involving secrets name the type, never the value.
	for _, src := range []string{`s * 2`, `s[0]`, `list[5]`, `list[i + 5]`, `s.x`, `nope(s)`} {
		_, diags := evalExpr(t, ctx, src)
		if !diags.HasErrors() {
			t.Errorf("%s: no error", src)
			continue
		}
		for _, d := range diags {
			if strings.Contains(d.Summary+d.Detail, "hunter2") || strings.Contains(d.Summary, "index 6") {
				t.Errorf("%s: diagnostic leaks the secret: %s", src, d.Summary)
			}
		}
	}
}

func TestUnknownValues(t *testing.T) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"u":  cty.DynamicVal,
		"us": cty.UnknownVal(cty.String),
		"un": cty.UnknownVal(cty.Number),
		"uo": cty.UnknownVal(cty.Object(map[string]cty.Type{"a": cty.String})),
	}}
	for _, src := range []string{
		`u + 1`, `u + "a"`, `us + "a"`, `un * 2`, `un ^ 2`, `-un`, `!u`, `u && true`, `u == 1`, `us < "a"`, `u[0]`, `u.x`, `uo.a`, `[1][u]`, `{a = 1}[us]`, `u.x.y[0]`,
	} {
		v, diags := evalExpr(t, ctx, src)
		if diags.HasErrors() {
			t.Errorf("%s: %v", src, diags)
			continue
		}
		if v.IsWhollyKnown() {
			t.Errorf("%s: got known %#v from an unknown operand", src, v)
		}
	}
	if _, diags := evalExpr(t, ctx, `uo.b`); !diags.HasErrors() {
		t.Errorf("missing attribute of an unknown object: no error")
	}
}

func TestNumbers(t *testing.T) {
	tests := map[string]string{
		`0`:                       "0",
		`007`:                     "7",
		`9223372036854775807`:     "9223372036854775807",
		`9223372036854775808`:     "9223372036854775808",
		`1.5e300 * 1e10`:          "1.5e+310",
		`0.1 + 0.2 == 0.3`:        "true",
		`3 ^ 40`:                  "12157665459056928801",
		`(-2) ^ 3`:                "-8",
		`10 % 3 + 10 / 4`:         "3.5",
		`9007199254740993 + 0`:    "9007199254740993",
		`1e3 == 1000`:             "true",
		`-9223372036854775808`:    "-9223372036854775808",
		`2 ^ 63`:                  "9223372036854775808",
		`0 ^ 0`:                   "1",
		`1 ^ 9223372036854775807`: "1",
	}
	for src, want := range tests {
		v, diags := evalExpr(t, nil, src)
		if diags.HasErrors() {
			t.Errorf("%s: %v", src, diags)
			continue
		}
		var got string
		if v.Type() == cty.Bool {
			got = map[bool]string{true: "true", false: "false"}[v.True()]
		} else {
			got = v.AsBigFloat().Text('g', 30)
		}
		if got != want {
			t.Errorf("%s = %s, want %s", src, got, want)
		}
	}
}

func TestNaNIsAnErrorNotAPanic(t *testing.T) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"inf": cty.PositiveInfinity}}
	if _, diags := evalExpr(t, ctx, `inf - inf`); !diags.HasErrors() {
		t.Errorf("inf - inf: no error")
	}
}

// Numbers are arbitrary-precision in cty; beyond ±2^4096 they are refused,
// so no expression can make a gigabyte integer.
func TestNumberRange(t *testing.T) {
	if _, diags := ParseFile([]byte("x = 1e5000\ny = 1e-5000\nz = 1e1000\n"), "t.river"); len(diags) != 2 ||
		!strings.Contains(diags[0].Summary, "number 1e5000 is out of range") || diags[1].Subject.Start.Line != 2 {
		t.Errorf("out-of-range literals: %v", diags)
	}
	huge, _ := cty.ParseNumberVal("1e2000")
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"huge": huge, "big": cty.MustParseNumberVal("1e1200")}}
	for _, src := range []string{`huge % 3`, `huge + 1`, `1 * huge`, `huge ^ 2`, `big * big`, `1 / (1 / big) / (1 / big)`} {
		if _, diags := evalExpr(t, ctx, src); !diags.HasErrors() || !strings.Contains(diags[0].Summary, "out of range") {
			t.Errorf("%s: %v", src, diags)
		}
	}
	if _, diags := evalExpr(t, ctx, `huge == huge`); diags.HasErrors() {
		t.Errorf("comparing huge numbers needs no arithmetic: %v", diags)
	}
}

// An attribute name is looked up as cty normalizes it (NFC): ASCII names
// directly, others through normalization, so Hangul written as conjoining
// jamo (letters, so an identifier) finds the syllable the object holds.
func TestEvalAttributeNamesNormalized(t *testing.T) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"obj": cty.ObjectVal(map[string]cty.Value{"\uac00": cty.StringVal("syllable"), "caf\u00e9": cty.StringVal("composed"), "plain": cty.StringVal("ascii")}),
	}}
	for src, want := range map[string]string{"obj.\u1100\u1161": "syllable", "obj.caf\u00e9": "composed", "obj.plain": "ascii"} {
		v, diags := evalExpr(t, ctx, src)
		if diags.HasErrors() || v.AsString() != want {
			t.Errorf("%q: got %#v %v, want %q", src, v, diags, want)
		}
	}
	if _, diags := evalExpr(t, ctx, "obj.missing"); !diags.HasErrors() || !strings.Contains(diags[0].Summary, `no attribute "missing"`) {
		t.Errorf("obj.missing: %v, want a missing-attribute error", diags)
	}
}
