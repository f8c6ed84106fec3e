package value

import (
	"github.com/zclconf/go-cty/cty"
)

// SecretVal returns s as a River secret: a cty string marked with SecretMark.
func SecretVal(s string) cty.Value { return cty.StringVal(s).Mark(SecretMark) }

// IsSecret reports whether v, or anything inside it, is marked secret.
func IsSecret(v cty.Value) bool {
	if v.HasMark(SecretMark) {
		return true
	}
	if !v.ContainsMarked() {
		return false
	}
	found := false
	_ = cty.Walk(v, func(_ cty.Path, v cty.Value) (bool, error) {
		if v.HasMark(SecretMark) {
			found = true
		}
		return !found, nil
	})
	return found
}

// TypeName names the type of v for error messages, the way River users write
// about values: "string", "secret", "number", "bool", "list", "object",
// "map", "null", "capsule(<go type>)". A string marked secret is a "secret".
func TypeName(v cty.Value) string {
	if v.HasMark(SecretMark) {
		if u, _ := v.Unmark(); u.Type() == cty.String {
			return "secret"
		}
	}
	v, _ = v.Unmark()
	if v.IsNull() {
		return "null"
	}
	return TypeString(v.Type())
}

// TypeString names a cty type as River users see it.
func TypeString(t cty.Type) string {
	switch {
	case t == cty.String:
		return "string"
	case t == cty.Number:
		return "number"
	case t == cty.Bool:
		return "bool"
	case t == cty.DynamicPseudoType:
		return "any"
	case t.IsListType(), t.IsTupleType(), t.IsSetType():
		return "list"
	case t.IsMapType():
		return "map"
	case t.IsObjectType():
		return "object"
	case t.IsCapsuleType():
		return t.FriendlyName()
	}
	return t.FriendlyName()
}
