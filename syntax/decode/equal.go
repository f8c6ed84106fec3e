package decode

import (
	"bytes"
	"encoding"
	"math"
	"reflect"

	"github.com/flow-telemetry/flow/syntax/value"
)

// Equal reports whether a and b, two values such as a component's
// Arguments, would encode to equal values (Encode(a).RawEquals(Encode(b))),
// comparing the Go values directly: no cty value is built, which makes it
// several times cheaper than encoding both.
//
// It may report false where the encodings are equal (values of different Go
// types, interface{} fields holding different types, text values whose
// MarshalText fails), never true where they differ: the runtime uses it to
// skip an Update, and a needless Update costs only time.
func Equal(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ra, rb := reflect.ValueOf(a), reflect.ValueOf(b)
	if ra.Type() != rb.Type() {
		return false
	}
	return equal(ra, rb, infoFor(ra.Type()))
}

func equal(a, b reflect.Value, ti *typeInfo) bool {
	if ti.err != nil {
		return value.Identical(a, b) // encoded as a capsule
	}
	switch ti.class {
	case classSecret, classString:
		return a.String() == b.String()
	case classURL:
		ua, ub := a.Interface().(value.URL), b.Interface().(value.URL)
		return ua.IsSecret() == ub.IsSecret() && ua.Raw() == ub.Raw()
	case classBool:
		return a.Bool() == b.Bool()
	case classInt, classDuration, classPromDuration:
		return a.Int() == b.Int()
	case classUint:
		return a.Uint() == b.Uint()
	case classFloat:
		fa, fb := a.Float(), b.Float()
		if math.IsNaN(fa) || math.IsNaN(fb) {
			return math.IsNaN(fa) && math.IsNaN(fb) // both encode to null
		}
		return math.Float64bits(fa) == math.Float64bits(fb)
	case classText:
		return equalText(a, b)
	case classSlice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equal(a.Index(i), b.Index(i), ti.elem) {
				return false
			}
		}
		return true
	case classMap:
		if a.Len() != b.Len() {
			return false
		}
		for it := a.MapRange(); it.Next(); {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() || !equal(it.Value(), bv, ti.elem) {
				return false
			}
		}
		return true
	case classStruct:
		for _, f := range ti.st.fields {
			if !equal(a.FieldByIndex(f.index), b.FieldByIndex(f.index), f.info) {
				return false
			}
		}
		return true
	case classPointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() && b.IsNil()
		}
		return equal(a.Elem(), b.Elem(), ti.elem)
	case classAny:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() && b.IsNil()
		}
		ea, eb := a.Elem(), b.Elem()
		if ea.Type() != eb.Type() {
			return false
		}
		return equal(ea, eb, infoFor(ea.Type()))
	}
	// A capsule, or null for a nil one.
	if isNilable(a.Kind()) && (a.IsNil() || b.IsNil()) {
		return a.IsNil() && b.IsNil()
	}
	return value.Identical(a, b)
}

// equalText compares text values as Encode writes them: null when nil or
// when MarshalText fails.
func equalText(a, b reflect.Value) bool {
	ta, oka := marshalText(a)
	tb, okb := marshalText(b)
	if !oka || !okb {
		return !oka && !okb
	}
	return bytes.Equal(ta, tb)
}

func marshalText(rv reflect.Value) ([]byte, bool) {
	if isNilable(rv.Kind()) && rv.IsNil() {
		return nil, false
	}
	text, err := rv.Interface().(encoding.TextMarshaler).MarshalText()
	return text, err == nil
}
