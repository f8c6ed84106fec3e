package decode

import (
	"reflect"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/syntax/value"
)

// labelSet is shaped like discovery.Target: a named map of strings.
type labelSet map[string]string

// labelText is a string type of its own, which keeps a map of it on the
// general (reflective) conversion.
type labelText string

// Maps of plain strings take a conversion without reflection; it must agree
// with the general one, which a map of another string type still takes, on
// every value: results, and errors word for word.
func TestStringMapFastPathAgreesWithGeneral(t *testing.T) {
	obj := func(m map[string]cty.Value) cty.Value { return cty.ObjectVal(m) }
	cases := []struct {
		name string
		v    cty.Value
	}{
		{"object of strings", obj(map[string]cty.Value{"__address__": cty.StringVal("a:1"), "job": cty.StringVal("x")})},
		{"map of strings", cty.MapVal(map[string]cty.Value{"a": cty.StringVal("1"), "b": cty.StringVal("")})},
		{"empty object", cty.EmptyObjectVal},
		{"a number", obj(map[string]cty.Value{"a": cty.StringVal("1"), "port": cty.NumberIntVal(80)})},
		{"a null", obj(map[string]cty.Value{"a": cty.NullVal(cty.String)})},
		{"an unknown", obj(map[string]cty.Value{"a": cty.UnknownVal(cty.String)})},
		{"a secret", obj(map[string]cty.Value{"a": cty.StringVal("s").Mark(value.SecretMark)})},
		{"a secret map", obj(map[string]cty.Value{"a": cty.StringVal("s")}).Mark(value.SecretMark)},
		{"a list", cty.ListVal([]cty.Value{cty.StringVal("a")})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var plain map[string]string
			var named labelSet
			var general map[string]labelText
			errPlain := Value(tc.v, &plain)
			errNamed := Value(tc.v, &named)
			errGeneral := Value(tc.v, &general)
			if errString(errPlain) != errString(errGeneral) || errString(errNamed) != errString(errGeneral) {
				t.Fatalf("errors differ: map[string]string %v, labelSet %v, general %v", errPlain, errNamed, errGeneral)
			}
			if errGeneral != nil {
				return
			}
			want := map[string]string{}
			for k, v := range general {
				want[k] = string(v)
			}
			if !reflect.DeepEqual(plain, want) || !reflect.DeepEqual(map[string]string(named), want) {
				t.Fatalf("got %v and %v, want %v", plain, named, want)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
