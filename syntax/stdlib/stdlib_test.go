package stdlib

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/internal/build"
	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/value"
)

func eval(t *testing.T, ctx *hcl.EvalContext, src string) (cty.Value, hcl.Diagnostics) {
	t.Helper()
	e, diags := syntax.ParseExpression([]byte(src), "e.river", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse %s: %s", src, diags.Error())
	}
	return e.Value(ctx)
}

// Every name the issue lists is present, and each flat name is the same
// function as its namespaced one.
func TestNames(t *testing.T) {
	fns := Functions()
	pairs := [][2]string{
		{"env", "sys.env"}, {"concat", "array.concat"}, {"json_decode", "encoding.from_json"},
		{"format", "string.format"}, {"join", "string.join"}, {"split", "string.split"},
		{"replace", "string.replace"}, {"to_lower", "string.to_lower"}, {"to_upper", "string.to_upper"},
		{"trim", "string.trim"}, {"trim_prefix", "string.trim_prefix"}, {"trim_suffix", "string.trim_suffix"},
		{"trim_space", "string.trim_space"}, {"nonsensitive", "convert.nonsensitive"},
	}
	for _, p := range pairs {
		flat, ok1 := fns[p[0]]
		ns, ok2 := fns[p[1]]
		if !ok1 || !ok2 {
			t.Errorf("missing %s (%v) or %s (%v)", p[0], ok1, p[1], ok2)
			continue
		}
		if flat.Description() != ns.Description() || len(flat.Params()) != len(ns.Params()) {
			t.Errorf("%s and %s differ", p[0], p[1])
		}
	}
	for _, name := range []string{"coalesce", "encoding.to_json", "encoding.from_base64", "encoding.to_base64"} {
		if _, ok := fns[name]; !ok {
			t.Errorf("missing %s", name)
		}
	}
	// Each call returns a fresh map the caller may change.
	fns["custom"] = fns["format"]
	if _, ok := Functions()["custom"]; ok {
		t.Errorf("Functions shares its map between calls")
	}
}

func TestConstants(t *testing.T) {
	ctx := EvalContext().NewChild()
	host, _ := os.Hostname()
	for src, want := range map[string]string{
		"constants.os":       runtime.GOOS,
		"constants.arch":     runtime.GOARCH,
		"constants.hostname": host,
		"constants.version":  build.Version(),
	} {
		v, diags := eval(t, ctx, src)
		if diags.HasErrors() || v.AsString() != want {
			t.Errorf("%s = %#v %v, want %q", src, v, diags, want)
		}
	}
	if _, diags := eval(t, ctx, "constants.version_typo"); !diags.HasErrors() {
		t.Errorf("unknown constant: no error")
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("FLOW_STDLIB_TEST", "from-env")
	ctx := EvalContext()
	for _, src := range []string{`sys.env("FLOW_STDLIB_TEST")`, `env("FLOW_STDLIB_TEST")`} {
		if v, diags := eval(t, ctx, src); diags.HasErrors() || v.AsString() != "from-env" {
			t.Errorf("%s = %#v %v", src, v, diags)
		}
	}
	if v, _ := eval(t, ctx, `coalesce(sys.env("FLOW_STDLIB_TEST_UNSET"), "default")`); v.AsString() != "default" {
		t.Errorf("coalesce over an unset variable = %#v", v)
	}
}

func TestFormat(t *testing.T) {
	ctx := EvalContext()
	ok := map[string]string{
		`string.format("%s:%d", "h", 80)`:                     "h:80",
		`string.format("%v|%v|%v|%v", 1.5, true, null, "s")`:  "1.5|true|<nil>|s",
		`string.format("%s %s", 1, false)`:                    "1 false",
		`string.format("%5.1f|%-3d|%03d", 2.25, 7, 7)`:        "  2.2|7  |007",
		`string.format("%x %X %o %b", 255, "hi", 8, 5)`:       "ff 6869 10 101",
		`string.format("%d", 123456789012345678901234567890)`: "123456789012345678901234567890",
		`string.format("%e", 1234.5)`:                         "1.234500e+03",
		`string.format("%c%U", 65, 65)`:                       "AU+0041",
		`string.format("%q", "a\"b")`:                         `"a\"b"`,
		`string.format("%[1]s-%[1]s", "x")`:                   "x-x",
		`string.format("%.*f", 2, 3.14159)`:                   "3.14",
		`string.format("%v", {b = 1, a = [2]})`:               "map[a:[2] b:1]",
		`string.format("100%%")`:                              "100%",
		`string.format("ünï %s", "cødé")`:                     "ünï cødé",
	}
	for src, want := range ok {
		v, diags := eval(t, ctx, src)
		if diags.HasErrors() || v.AsString() != want {
			t.Errorf("%s = %#v %v, want %q", src, v, diags, want)
		}
	}
	bad := map[string]string{
		`string.format("%d", "x")`:          "string.format: argument 2: expected number, got string",
		`format("%d", "x")`:                 "format: argument 2: expected number, got string",
		`string.format("%t", 1)`:            "argument 2: expected bool, got number",
		`string.format("%s", [1])`:          "argument 2: expected string, got list",
		`string.format("%d", null)`:         "argument 2: %d: expected number, got null",
		`string.format("%")`:                "argument 1: the format string ends in the middle of a verb",
		`string.format("%999999d", 1)`:      "larger than 10000",
		`string.format("%*d", 99999999, 1)`: "argument 2: expected a whole number up to 10000",
		`string.format("%[3]d", 1)`:         "bad argument index",
		`string.format("%[1d", 1)`:          "unclosed argument index",
		`string.format("%s")`:               "%s needs value 1, but only 0 given",
		`string.format(1)`:                  "argument 1: expected string, got number",
		`string.format()`:                   "expected at least 1 argument, got 0",
	}
	for src, want := range bad {
		_, diags := eval(t, ctx, src)
		if !diags.HasErrors() || !strings.Contains(diags[0].Summary, want) {
			t.Errorf("%s: got %v, want an error containing %q", src, diags, want)
		}
	}
}

func TestSecrets(t *testing.T) {
	ctx := EvalContext().NewChild()
	type other struct{}
	ctx.Variables = map[string]cty.Value{
		"s":    value.SecretVal("hunter2"),
		"both": cty.StringVal("x").Mark(value.SecretMark).Mark(other{}),
		"json": value.SecretVal(`{"password": "p"}`),
	}
	for _, src := range []string{
		`string.format("%s", s)`, `format("%v", [s])`, `string.join([s, "a"], ",")`, `string.split(s, "t")`,
		`string.replace(s, "h", "H")`, `string.to_lower(s)`, `string.to_upper(s)`, `string.trim(s, "h")`,
		`string.trim_prefix(s, "h")`, `string.trim_suffix(s, "2")`, `string.trim_space(s)`,
		`encoding.to_base64(s)`, `encoding.from_base64(encoding.to_base64(s))`, `encoding.to_json(s)`,
		`encoding.from_json(json)["password"]`, `coalesce(s)`,
	} {
		v, diags := eval(t, ctx, src)
		if diags.HasErrors() {
			t.Errorf("%s: %v", src, diags)
			continue
		}
		if !value.IsSecret(v) {
			t.Errorf("%s: %#v is no longer secret", src, v)
		}
	}
	v, diags := eval(t, ctx, `nonsensitive(both)`)
	if diags.HasErrors() || v.HasMark(value.SecretMark) || !v.HasMark(other{}) {
		t.Errorf("nonsensitive removes only the secret mark: %#v %v", v, diags)
	}
	v, diags = eval(t, ctx, `convert.nonsensitive({a = [s]})`)
	if diags.HasErrors() || value.IsSecret(v) {
		t.Errorf("nonsensitive of a nested secret: %#v %v", v, diags)
	}
	// A failed decode of a secret says where, never what.
	ctx.Variables["badjson"] = value.SecretVal(`{"password": hunter2}`)
	ctx.Variables["badb64"] = value.SecretVal(`hunter2!`)
	for _, src := range []string{`encoding.from_json(badjson)`, `encoding.from_base64(badb64)`} {
		_, diags := eval(t, ctx, src)
		if !diags.HasErrors() {
			t.Errorf("%s: no error", src)
		}
		for _, d := range diags {
			if strings.Contains(d.Summary+d.Detail, "hunter") {
				t.Errorf("%s: error leaks the secret: %s", src, d.Summary)
			}
		}
	}
}

func TestCollections(t *testing.T) {
	ctx := EvalContext().NewChild()
	ctx.Variables = map[string]cty.Value{
		"l1": cty.ListVal([]cty.Value{cty.StringVal("a")}),
		"l2": cty.ListVal([]cty.Value{cty.StringVal("b")}),
		"u":  cty.UnknownVal(cty.String),
	}
	v, diags := eval(t, ctx, `array.concat(l1, l2)`)
	if diags.HasErrors() || !v.Type().IsListType() || v.LengthInt() != 2 {
		t.Errorf("concat of two lists: %#v %v", v, diags)
	}
	v, diags = eval(t, ctx, `coalesce("", u, "x")`)
	if diags.HasErrors() || v.IsKnown() {
		t.Errorf("coalesce past an unknown: %#v %v", v, diags)
	}
	v, diags = eval(t, ctx, `coalesce()`)
	if diags.HasErrors() || !v.IsNull() {
		t.Errorf("coalesce(): %#v %v", v, diags)
	}
	if _, diags := eval(t, ctx, `encoding.from_base64("/w==")`); !diags.HasErrors() || !strings.Contains(diags[0].Summary, "not UTF-8") {
		t.Errorf("from_base64 of binary data: %v", diags)
	}
	if _, diags := eval(t, ctx, `string.join([null], ",")`); !diags.HasErrors() {
		t.Errorf("join of a null item: no error")
	}
}

// No short call builds a huge result.
func TestResultBounds(t *testing.T) {
	ctx := EvalContext().NewChild()
	huge, _ := cty.ParseNumberVal("1e2000")
	ctx.Variables = map[string]cty.Value{"huge": huge, "long": cty.StringVal(strings.Repeat("ab", 5000))}
	for src, want := range map[string]string{
		`encoding.to_json([huge])`:       "out of range for JSON",
		`string.format("%d", huge)`:      "out of range",
		`string.replace(long, "", long)`: "longer than 16 MiB",
		`string.format(string.replace(long, "ab", "%9999s"), ` + strings.Repeat(`"", `, 5000) + `"")`: "longer than 16 MiB",
	} {
		_, diags := eval(t, ctx, src)
		if !diags.HasErrors() || !strings.Contains(diags[0].Summary, want) {
			t.Errorf("%.60s: got %v, want an error containing %q", src, diags, want)
		}
	}
	if v, diags := eval(t, ctx, `string.format("%v", huge)`); diags.HasErrors() || v.AsString() != "+Inf" {
		t.Errorf("%%v of a huge number: %#v %v", v, diags)
	}
}
