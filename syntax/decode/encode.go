package decode

import (
	"encoding"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/syntax/value"
)

// Encode converts a Go value into the cty value River sees: a struct with
// river tags becomes an object keyed by the fields' names (a block an
// object, a repeated block a list of objects, a map block a map), secrets
// become strings marked secret, URLs strings marked value.URLMark (or secret,
// if given as one), durations strings such as "1m30s", slices
// lists and maps maps. Non-data Go values (interfaces, funcs, channels,
// pointers to opaque types, structs without river tags) become capsules
// carrying the Go value itself; a nil one is null. Nil slices and maps are
// empty, so a consumer always gets a list.
//
// Encode is called on every export change, so the per-type work is done once
// and cached. A type whose river tags are invalid (see CheckType) is encoded
// as a capsule.
func Encode(v any) cty.Value {
	if v == nil {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	rv := reflect.ValueOf(v)
	return encode(rv, infoFor(rv.Type()))
}

// CheckType reports a programming error in the river tags of t (a struct
// type) or the types it contains, so registration and tests can catch it.
func CheckType(t reflect.Type) error { return infoFor(t).err }

// FieldNames returns the River names of the fields of struct type t (or a
// pointer to one), squashed structs' fields inline, in declaration order:
// the attributes and blocks decoding accepts, or the exports encoding
// writes. It is nil when t is not a struct with valid river tags.
func FieldNames(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	ti := infoFor(t)
	if ti.err != nil || ti.class != classStruct {
		return nil
	}
	names := make([]string, len(ti.st.fields))
	for i, f := range ti.st.fields {
		names[i] = f.name
	}
	return names
}

func encode(rv reflect.Value, ti *typeInfo) cty.Value {
	if ti.err != nil {
		return value.CapsuleOf(rv, ti.t)
	}
	switch ti.class {
	case classSecret:
		return value.SecretVal(rv.String())
	case classURL:
		u := rv.Interface().(value.URL)
		if u.IsSecret() {
			return value.SecretVal(u.Raw())
		}
		return value.URLVal(u.Raw())
	case classString:
		return cty.StringVal(rv.String())
	case classBool:
		return cty.BoolVal(rv.Bool())
	case classInt:
		return cty.NumberIntVal(rv.Int())
	case classUint:
		return cty.NumberUIntVal(rv.Uint())
	case classFloat:
		f := rv.Float()
		if math.IsNaN(f) {
			return cty.NullVal(cty.Number) // cty numbers cannot be NaN
		}
		return cty.NumberFloatVal(f)
	case classDuration:
		return cty.StringVal(FormatDuration(time.Duration(rv.Int())))
	case classPromDuration:
		return cty.StringVal(model.Duration(rv.Int()).String())
	case classText:
		if isNilable(rv.Kind()) && rv.IsNil() {
			return cty.NullVal(cty.String)
		}
		text, err := rv.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return cty.NullVal(cty.String)
		}
		return cty.StringVal(string(text))
	case classSlice:
		return encodeList(rv, ti)
	case classMap:
		return encodeMap(rv, ti)
	case classStruct:
		attrs := make(map[string]cty.Value, len(ti.st.fields))
		for _, f := range ti.st.fields {
			attrs[f.name] = encode(rv.FieldByIndex(f.index), f.info)
		}
		return cty.ObjectVal(attrs)
	case classPointer:
		if rv.IsNil() {
			return cty.NullVal(ti.cty)
		}
		return encode(rv.Elem(), ti.elem)
	case classAny:
		if rv.IsNil() {
			return cty.NullVal(cty.DynamicPseudoType)
		}
		e := rv.Elem()
		return encode(e, infoFor(e.Type()))
	}
	if isNilable(rv.Kind()) && rv.IsNil() {
		return cty.NullVal(ti.cty)
	}
	return value.CapsuleOf(rv, ti.t)
}

func encodeList(rv reflect.Value, ti *typeInfo) cty.Value {
	n := rv.Len()
	if n == 0 {
		return cty.ListValEmpty(ti.elem.cty)
	}
	vals := make([]cty.Value, n)
	for i := range n {
		vals[i] = encode(rv.Index(i), ti.elem)
	}
	if ti.elem.cty.HasDynamicTypes() && !sameTypes(vals) {
		return cty.TupleVal(vals) // elements of interface{} type may differ
	}
	return cty.ListVal(vals)
}

func encodeMap(rv reflect.Value, ti *typeInfo) cty.Value {
	if rv.Len() == 0 {
		return cty.MapValEmpty(ti.elem.cty)
	}
	vals := make(map[string]cty.Value, rv.Len())
	for it := rv.MapRange(); it.Next(); {
		vals[it.Key().String()] = encode(it.Value(), ti.elem)
	}
	if ti.elem.cty.HasDynamicTypes() {
		first := true
		var t cty.Type
		for _, v := range vals {
			if first {
				t, first = v.Type(), false
			} else if !v.Type().Equals(t) {
				return cty.ObjectVal(vals)
			}
		}
	}
	return cty.MapVal(vals)
}

func sameTypes(vals []cty.Value) bool {
	t := vals[0].Type()
	for _, v := range vals[1:] {
		if !v.Type().Equals(t) {
			return false
		}
	}
	return true
}

// FormatDuration writes d as time.Duration does, without the zero units it
// leaves at the end: "1h" rather than "1h0m0s", "1m30s", "15s".
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
