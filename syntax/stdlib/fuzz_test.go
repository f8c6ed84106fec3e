package stdlib

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ohler55/ojg/jp"
	"github.com/ohler55/ojg/oj"
	"github.com/zclconf/go-cty/cty"
)

// watchdog fails the fuzz worker if one input takes over 10 s: the fuzzer
// keeps a panicking input, and a hang is a bug here.
func watchdog(what string, input ...any) func() bool {
	return time.AfterFunc(10*time.Second, func() {
		panic(fmt.Sprintf("%s took over 10s on %q", what, input))
	}).Stop
}

var jsonPathSeeds = []struct{ doc, path string }{
	{`{"name": "Demo", "tags": [{"k": "a"}, {"k": "b"}]}`, "$.tags[*].k"},
	{`{"a": {"b": [1, 2, {"c": 3}]}}`, "$..c"},
	{`{"a": [1, 2, 3, 4]}`, "$.a[1:3]"},
	{`{"a": [{"x": 1}, {"x": 2}]}`, "$.a[?(@.x > 1)]"},
	{`[[1]]`, "$[0,0][0,0,-1]"},
	{`{"a": {"a": {"a": 1}}}`, "$..*..*"},
	{`{}`, "$["}, {`[`, "$"}, {`{"a": 1}`, ".a"},
	// Numbers ojg leaves as json.Number: beyond int64, and beyond float64.
	{`92270000000000000000`, "$"}, {`{"":[{"":}]}`, ".*"}, {`[1e400, 0.1000000000000000000000001]`, "$[*]"},
	// A path cty normalises to NFC: "=\u0338" becomes "≠", a name ojg accepts.
	{`{"≠": 1}`, "=\u0338"},
}

// json_path selects what ojg selects from the same document, where it stays
// within its budget (the order of matches in an object aside: ojg's is
// random, ours sorted by key).
func TestJSONPathMatchesOJG(t *testing.T) {
	for _, s := range jsonPathSeeds {
		checkJSONPath(t, s.doc, s.path)
	}
}

func checkJSONPath(t *testing.T, doc, path string) {
	t.Helper()
	// cty normalises every string to NFC, so the function sees "=\u0338"
	// (which ojg refuses) as "≠" (a name): compare with ojg on the strings
	// the function receives, as a config can hold no others.
	docVal, pathVal := cty.StringVal(doc), cty.StringVal(path)
	doc, path = docVal.AsString(), pathVal.AsString()
	got, err := JSONPathFunc.Call([]cty.Value{docVal, pathVal})
	expr, perr := jp.ParseString(path)
	data, derr := oj.ParseString(doc)
	if perr != nil || derr != nil || !json.Valid([]byte(doc)) {
		if err == nil {
			t.Fatalf("json_path(%q, %q) = %#v, but ojg refuses it", doc, path, got)
		}
		return
	}
	if err != nil {
		if strings.Contains(err.Error(), "too many values") || strings.Contains(err.Error(), "nested more than") ||
			strings.Contains(err.Error(), "cannot be represented") {
			return
		}
		t.Fatalf("json_path(%q, %q): %v", doc, path, err)
	}
	var want []string
	for _, r := range expr.Get(data) {
		v, err := goToCty(r, 0, nil)
		if err != nil {
			t.Fatalf("json_path(%q, %q) succeeded where converting ojg's %v fails: %v", doc, path, r, err)
		}
		want = append(want, v.GoString())
	}
	var have []string
	for it := got.ElementIterator(); it.Next(); {
		_, v := it.Element()
		have = append(have, v.GoString())
	}
	sort.Strings(want)
	sort.Strings(have)
	if strings.Join(have, "\n") != strings.Join(want, "\n") {
		t.Fatalf("json_path(%q, %q) = %v, ojg selects %v", doc, path, have, want)
	}
}

// FuzzJSONPath: json_path never panics or hangs, and selects what ojg does.
//
//	go test -fuzz FuzzJSONPath ./syntax/stdlib/
func FuzzJSONPath(f *testing.F) {
	for _, s := range jsonPathSeeds {
		f.Add(s.doc, s.path)
	}
	f.Fuzz(func(t *testing.T, doc, path string) {
		defer watchdog("json_path", doc, path)()
		checkJSONPath(t, doc, path)
	})
}

// FuzzDecoders feeds one string to every standard-library function that
// decodes text: none may panic or hang, a decoded value nests no deeper than
// the limits, and an error never quotes the input, which may be secret.
//
//	go test -fuzz FuzzDecoders ./syntax/stdlib/
func FuzzDecoders(f *testing.F) {
	for _, s := range []string{
		"a: 1\nb: [x, y]\nc: {d: e}\n", "- &a [1, 2]\n- *a\n", "!!binary aGVsbG8=", "a: 2001-12-14t21:59:43.10-05:00",
		"aGVsbG8=", "aGVsbG8", "a%20b+c", "%zz", `{"a": [1, 2.5e3, "x", null, true]}`, "[[[[[[]]]]]]",
		"%d %s %[2]q %*d %.3f %x", "%!", "%[9]d",
	} {
		f.Add(s)
	}
	lib := Functions()
	f.Fuzz(func(t *testing.T, s string) {
		defer watchdog("a decoder", s)()
		arg := []cty.Value{cty.StringVal(s)}
		for _, name := range []string{"encoding.from_yaml", "encoding.from_json", "encoding.from_base64",
			"encoding.from_URLbase64", "encoding.url_decode"} {
			v, err := lib[name].Call(arg)
			if err != nil {
				if secret := strings.TrimSpace(s); len(secret) >= 16 && strings.Contains(err.Error(), secret) {
					t.Fatalf("%s: the error quotes the input: %v", name, err)
				}
				continue
			}
			if d := valueDepth(v); d > MaxJSONDepth+1 {
				t.Fatalf("%s: a value %d levels deep", name, d)
			}
		}
		// The string as a format, with values of each kind.
		vals := []cty.Value{cty.StringVal(s), cty.NumberIntVal(42), cty.NumberFloatVal(-1.5), cty.True,
			cty.TupleVal([]cty.Value{cty.StringVal("a")}), cty.NullVal(cty.String)}
		if v, err := lib["string.format"].Call(append([]cty.Value{cty.StringVal(s)}, vals...)); err == nil && len(v.AsString()) > maxResult {
			t.Fatalf("string.format made %d bytes", len(v.AsString()))
		}
	})
}

func valueDepth(v cty.Value) int {
	if !v.IsKnown() || v.IsNull() || !v.CanIterateElements() {
		return 0
	}
	d := 0
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		d = max(d, valueDepth(e))
	}
	return d + 1
}
