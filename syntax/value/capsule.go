package value

import (
	"reflect"
	"sync"

	"github.com/zclconf/go-cty/cty"
)

// capsuleTypes caches one cty capsule type per Go type: cty compares capsule
// types by identity, so two values carrying the same Go type must share one.
var capsuleTypes sync.Map // reflect.Type -> cty.Type

// CapsuleType returns the cty capsule type carrying Go values of type t,
// named "capsule(<go type>)". It is safe for concurrent use and always returns
// the same cty.Type for the same t.
//
// Values of a capsule type are equal when they hold the identical Go value:
// the same pointer, channel, map or slice, or equal comparable values. A func
// is equal only to the very same capsule value, since Go cannot compare funcs.
func CapsuleType(t reflect.Type) cty.Type {
	if ct, ok := capsuleTypes.Load(t); ok {
		return ct.(cty.Type)
	}
	ct := cty.CapsuleWithOps(capsuleName(t), t, &cty.CapsuleOps{
		GoString:     func(v any) string { return "value.Capsule(" + t.String() + ")" },
		TypeGoString: func(reflect.Type) string { return "value.CapsuleType(" + t.String() + ")" },
		RawEquals: func(a, b any) bool {
			return identical(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem())
		},
		HashKey: func(v any) string { return hashKey(reflect.ValueOf(v).Elem()) },
	})
	actual, _ := capsuleTypes.LoadOrStore(t, ct)
	return actual.(cty.Type)
}

func capsuleName(t reflect.Type) string { return "capsule(" + t.String() + ")" }

// Capsule wraps v in a capsule of v's dynamic type, so it passes through
// expressions untouched. A nil v gives a null value.
func Capsule(v any) cty.Value {
	if v == nil {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return CapsuleOf(reflect.ValueOf(v), reflect.TypeOf(v))
}

// CapsuleOf wraps rv in a capsule of type t, which rv's type must be
// assignable to. Encoding uses it with a field's static type, so an exported
// interface (a metrics receiver) is named by its interface type whatever
// implements it. A nil interface, pointer, map, slice, chan or func of an
// interface type gives a null of the capsule type.
func CapsuleOf(rv reflect.Value, t reflect.Type) cty.Value {
	ct := CapsuleType(t)
	if !rv.IsValid() || (t.Kind() == reflect.Interface && isNil(rv)) {
		return cty.NullVal(ct)
	}
	p := reflect.New(t)
	p.Elem().Set(rv)
	return cty.CapsuleVal(ct, p.Interface())
}

// FromCapsule returns the Go value inside a known, non-null capsule (marks
// are ignored), and false for any other value.
func FromCapsule(v cty.Value) (any, bool) {
	v, _ = v.Unmark()
	if !v.Type().IsCapsuleType() || v.IsNull() || !v.IsKnown() {
		return nil, false
	}
	return reflect.ValueOf(v.EncapsulatedValue()).Elem().Interface(), true
}

// IsCapsuleType reports whether t is a capsule type made by CapsuleType.
func IsCapsuleType(t cty.Type) bool {
	if !t.IsCapsuleType() {
		return false
	}
	ct, ok := capsuleTypes.Load(t.EncapsulatedType())
	return ok && ct.(cty.Type).Equals(t)
}

func isNil(rv reflect.Value) bool {
	switch rv.Kind() {
	case reflect.Interface, reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}

// Identical reports whether a and b hold the same Go value as capsules
// compare them (two capsules are equal exactly when their values are
// identical): identity for reference kinds, equality for comparable values.
func Identical(a, b reflect.Value) bool { return identical(a, b) }

// identical reports whether a and b hold the same Go value: identity for
// reference kinds, equality for comparable values.
func identical(a, b reflect.Value) bool {
	for a.Kind() == reflect.Interface {
		if a.IsNil() || b.IsNil() {
			return a.IsNil() && b.IsNil()
		}
		a, b = a.Elem(), b.Elem()
	}
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Chan, reflect.Map, reflect.UnsafePointer:
		return a.Pointer() == b.Pointer()
	case reflect.Slice:
		return a.Pointer() == b.Pointer() && a.Len() == b.Len() && a.Cap() == b.Cap()
	case reflect.Func:
		// Funcs cannot be compared; treating them as different only costs a
		// needless re-evaluation, treating them as equal could hide a change.
		return a.IsNil() && b.IsNil()
	}
	if a.Comparable() && b.Comparable() {
		return a.Equal(b)
	}
	return false
}

// hashKey must agree with identical: equal values give equal keys.
func hashKey(v reflect.Value) string {
	for v.Kind() == reflect.Interface && !v.IsNil() {
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Chan, reflect.Map, reflect.UnsafePointer, reflect.Slice:
		return v.Type().String() + "@" + uintptrString(v.Pointer())
	}
	return v.Type().String()
}

func uintptrString(p uintptr) string {
	const hex = "0123456789abcdef"
	if p == 0 {
		return "0"
	}
	var buf [16]byte
	i := len(buf)
	for p > 0 {
		i--
		buf[i] = hex[p&0xf]
		p >>= 4
	}
	return string(buf[i:])
}
