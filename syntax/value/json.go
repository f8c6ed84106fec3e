package value

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"

	"github.com/zclconf/go-cty/cty"
)

// ToJSON renders v as a Go value that encoding/json marshals into flow's API
// form: objects and maps as JSON objects, lists, tuples and sets as arrays,
// numbers as JSON numbers, and strings, bools and null as themselves. Any
// value marked secret, at any depth, becomes "(secret)" (a secret list as a
// whole included), so the result never holds a secret. A string marked
// URLMark is shown through MaskURL. A capsule becomes
// "capsule(<go type>)", an unknown value null, and a number beyond float64
// (an infinity included) a string such as "+Inf" or "1e+400".
func ToJSON(v cty.Value) any {
	v, marks := v.Unmark()
	if _, secret := marks[SecretMark]; secret {
		return Redacted
	}
	if !v.IsKnown() || v.IsNull() {
		return nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		if _, isURL := marks[URLMark]; isURL {
			return MaskURL(v.AsString())
		}
		return v.AsString()
	case t == cty.Bool:
		return v.True()
	case t == cty.Number:
		return number(v.AsBigFloat())
	case t.IsCapsuleType():
		return t.FriendlyName()
	case t.IsObjectType() || t.IsMapType():
		out := make(map[string]any, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			out[k.AsString()] = ToJSON(e)
		}
		return out
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		out := make([]any, 0, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, ToJSON(e))
		}
		return out
	}
	// Any other type has no JSON form; name it rather than fail.
	return t.FriendlyName()
}

// number writes integers exactly and other numbers in the shortest form that
// round-trips through float64 (what the UI's JavaScript holds anyway). A
// number too large for float64, infinities included, becomes a string, since
// JSON readers could not hold it.
func number(f *big.Float) any {
	if f.IsInt() {
		if _, acc := f.Int64(); acc == big.Exact {
			return json.Number(f.Text('f', 0))
		}
		if _, acc := f.Uint64(); acc == big.Exact {
			return json.Number(f.Text('f', 0))
		}
	}
	f64, _ := f.Float64()
	if math.IsInf(f64, 0) {
		if f.IsInf() {
			return f.String() // "+Inf" or "-Inf"
		}
		return f.Text('g', 17)
	}
	return json.Number(strconv.FormatFloat(f64, 'g', -1, 64))
}

// MarshalValueJSON is json.Marshal(ToJSON(v)).
func MarshalValueJSON(v cty.Value) ([]byte, error) { return json.Marshal(ToJSON(v)) }
