package stdlib

import (
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
	ctystdlib "github.com/zclconf/go-cty/cty/function/stdlib"
)

var jsonSeeds = []string{
	`{"a": [1, 2.5, -3e2, "x", true, false, null], "b": {}, "c": [], "d": {"e": {"f": "g"}}}`,
	`[]`, `{}`, `"s"`, `1`, `null`, `true`, ` [ {"a" : 1} , [[]] ] `,
	`{"a": 1, "a": 2}`, `[1 2]`, `{"a" 1}`, `[`, `{"a": [}`, `1 2`, `"\u00e9\ud83d\ude00"`,
	`123456789012345678901234567890`, `1e999999999`, `[1,]`, `{1: 2}`, "\"\xff\"",
}

// encoding.from_json gives exactly what cty's decoding gives, wherever
// that succeeds within the depth and number limits, and fails where it fails.
func TestFromJSONMatchesCty(t *testing.T) {
	for _, s := range jsonSeeds {
		checkJSONAgainstCty(t, s)
	}
}

func checkJSONAgainstCty(t *testing.T, s string) {
	t.Helper()
	got, err := FromJSONFunc.Call([]cty.Value{cty.StringVal(s)})
	want, wantErr := ctystdlib.JSONDecodeFunc.Call([]cty.Value{cty.StringVal(s)})
	switch {
	case err != nil && wantErr != nil:
		if in := strings.TrimSpace(s); len(in) > 3 && strings.Contains(err.Error(), in) {
			t.Errorf("%q: the error quotes the input: %v", s, err)
		}
	case err == nil && wantErr != nil:
		if strings.Contains(wantErr.Error(), "duplicate") {
			return // a repeated key's last value wins whatever its type, as in encoding/json and Alloy
		}
		t.Errorf("%q: decoded to %#v, cty refuses it: %v", s, got, wantErr)
	case err != nil && wantErr == nil:
		// Only the limits may refuse what cty accepts, and data after the
		// value, which cty misses when it starts with "]" or "}" ("0]00").
		if !strings.Contains(err.Error(), "nested more than") && !strings.Contains(err.Error(), "out of range") &&
			!strings.Contains(err.Error(), "extra data after the value") {
			t.Errorf("%q: %v, cty decodes it to %#v", s, err, want)
		}
	case !got.RawEquals(want):
		t.Errorf("%q: got %#v, cty gives %#v", s, got, want)
	}
}

// Deep JSON is refused quickly, and decoding is linear: 3 MB of brackets
// took cty's decoder minutes (each level re-read what it holds).
func TestFromJSONDepth(t *testing.T) {
	ok := strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth)
	start := time.Now()
	if _, err := FromJSONFunc.Call([]cty.Value{cty.StringVal(ok)}); err != nil {
		t.Fatalf("%d levels: %v", MaxJSONDepth, err)
	}
	if el := time.Since(start); el > 5*time.Second { // a hang guard; it takes about a millisecond
		t.Errorf("%d levels took %v", MaxJSONDepth, el)
	}
	deep := strings.Repeat(`{"a":[`, 500_000)
	_, err := FromJSONFunc.Call([]cty.Value{cty.StringVal(deep)})
	if err == nil || !strings.Contains(err.Error(), "nested more than 1000 levels") {
		t.Fatalf("3 MB deep: %v", err)
	}
}

func FuzzFromJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkJSONAgainstCty(t, s)
	})
}
