package stdlib

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/flow-telemetry/flow/syntax/value"
)

// maxWidth bounds a verb's width and precision: "%999999999d" would
// otherwise allocate a gigabyte.
const maxWidth = 10000

// maxResult bounds the length of a string a function builds, so that a
// short configuration cannot make a huge one.
const maxResult = 16 << 20

// FormatFunc formats values with Go's fmt verbs, as Alloy's string.format
// does: %v %s %q %d %b %o %x %X %c %U %e %E %f %F %g %G %t, flags, width,
// precision, `*` and explicit argument indexes (%[2]d). Unlike Go's
// Sprintf, a value of the wrong type for its verb, a missing value or an
// unused one is an error naming the argument, not "%!d(string=x)" in the
// output.
var FormatFunc = function.New(&function.Spec{
	Description: "Formats values according to a format string of Go fmt verbs.",
	Params:      []function.Parameter{{Name: "format", Type: cty.String}},
	VarParam: &function.Parameter{
		Name:             "values",
		Type:             cty.DynamicPseudoType,
		AllowNull:        true,
		AllowDynamicType: true,
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		s, err := format(args[0].AsString(), args[1:])
		if err != nil {
			return cty.NilVal, err
		}
		return cty.StringVal(s), nil
	},
})

// format implements FormatFunc. Argument errors use the call's numbering,
// where the format string is argument 0 and vals[i] is argument i+1.
func format(f string, vals []cty.Value) (string, error) {
	var out strings.Builder
	used := make([]bool, len(vals))
	next := 0 // the value the next verb takes, as in Go

	// take returns the next value, for a verb or a `*`.
	take := func(what string) (cty.Value, int, error) {
		if next >= len(vals) {
			return cty.NilVal, 0, function.NewArgErrorf(0, "%s needs value %d, but only %d given", what, next+1, len(vals))
		}
		i := next
		used[i] = true
		next++
		return vals[i], i, nil
	}
	// index reads an explicit argument index "[n]" at f[i:], if any.
	index := func(i int) (int, error) {
		if i >= len(f) || f[i] != '[' {
			return i, nil
		}
		end := strings.IndexByte(f[i:], ']')
		if end < 0 {
			return 0, function.NewArgErrorf(0, "unclosed argument index %q", f[i:])
		}
		n, err := strconv.Atoi(f[i+1 : i+end])
		if err != nil || n < 1 || n > len(vals) {
			return 0, function.NewArgErrorf(0, "bad argument index %q: there are %d values", f[i:i+end+1], len(vals))
		}
		next = n - 1
		return i + end + 1, nil
	}
	// number reads a width or precision: digits, or `*` taking a value.
	number := func(i int, spec *strings.Builder) (int, error) {
		if i < len(f) && f[i] == '*' {
			v, vi, err := take("*")
			if err != nil {
				return 0, err
			}
			n, ok := wholeNumber(v)
			if !ok || n < -maxWidth || n > maxWidth {
				return 0, function.NewArgErrorf(vi+1, "expected a whole number up to %d for *, got %s", maxWidth, value.TypeName(v))
			}
			spec.WriteString(strconv.FormatInt(n, 10))
			return i + 1, nil
		}
		start := i
		for i < len(f) && '0' <= f[i] && f[i] <= '9' {
			i++
		}
		if i-start > 5 {
			return 0, function.NewArgErrorf(0, "width or precision %s is larger than %d", f[start:i], maxWidth)
		}
		if n, _ := strconv.Atoi(f[start:i]); n > maxWidth {
			return 0, function.NewArgErrorf(0, "width or precision %d is larger than %d", n, maxWidth)
		}
		spec.WriteString(f[start:i])
		return i, nil
	}

	for i := 0; i < len(f); {
		j := strings.IndexByte(f[i:], '%')
		if j < 0 {
			out.WriteString(f[i:])
			break
		}
		out.WriteString(f[i : i+j])
		i += j + 1
		if i < len(f) && f[i] == '%' {
			out.WriteByte('%')
			i++
			continue
		}

		var spec strings.Builder
		spec.WriteByte('%')
		for i < len(f) && strings.IndexByte("+-# 0", f[i]) >= 0 {
			spec.WriteByte(f[i])
			i++
		}
		var err error
		if i, err = index(i); err != nil {
			return "", err
		}
		if i, err = number(i, &spec); err != nil {
			return "", err
		}
		if i < len(f) && f[i] == '.' {
			spec.WriteByte('.')
			if i, err = index(i + 1); err != nil {
				return "", err
			}
			if i, err = number(i, &spec); err != nil {
				return "", err
			}
		}
		if i, err = index(i); err != nil {
			return "", err
		}
		if i >= len(f) {
			return "", function.NewArgErrorf(0, "the format string ends in the middle of a verb")
		}
		verb, size := utf8.DecodeRuneInString(f[i:])
		i += size

		v, vi, err := take(fmt.Sprintf("%%%c", verb))
		if err != nil {
			return "", err
		}
		goVal, err := goValue(verb, v)
		if err != nil {
			return "", function.NewArgErrorf(vi+1, "%s", err)
		}
		spec.WriteRune(verb)
		fmt.Fprintf(&out, spec.String(), goVal)
		if out.Len() > maxResult {
			return "", fmt.Errorf("the result is longer than %d MiB", maxResult>>20)
		}
	}

	for i, u := range used {
		if !u {
			return "", function.NewArgErrorf(i+1, "not used by the format string")
		}
	}
	return out.String(), nil
}

// wholeNumber returns v as an int64 if it is a whole number that fits.
func wholeNumber(v cty.Value) (int64, bool) {
	if v.IsNull() || v.Type() != cty.Number {
		return 0, false
	}
	n, acc := v.AsBigFloat().Int64()
	return n, acc == big.Exact
}

// goValue converts v to the Go value fmt formats for verb, or explains why
// it does not suit the verb.
func goValue(verb rune, v cty.Value) (any, error) {
	if v.IsNull() {
		if verb == 'v' {
			return nil, nil
		}
		return nil, fmt.Errorf("%%%c: expected %s, got null", verb, verbWants(verb))
	}
	t := v.Type()
	switch verb {
	case 'v':
		return natural(v), nil
	case 'd', 'b', 'o', 'c', 'U':
		if t != cty.Number {
			return nil, fmt.Errorf("expected number, got %s", value.TypeName(v))
		}
		return integer(v, verb)
	case 'x', 'X':
		if t == cty.String {
			return v.AsString(), nil
		}
		if t != cty.Number {
			return nil, fmt.Errorf("expected number or string, got %s", value.TypeName(v))
		}
		return integer(v, verb)
	case 'e', 'E', 'f', 'F', 'g', 'G':
		if t != cty.Number {
			return nil, fmt.Errorf("expected number, got %s", value.TypeName(v))
		}
		f, _ := v.AsBigFloat().Float64()
		return f, nil
	case 's', 'q':
		switch t {
		case cty.String:
			return v.AsString(), nil
		case cty.Number, cty.Bool:
			return fmt.Sprint(natural(v)), nil
		}
		return nil, fmt.Errorf("expected string, got %s", value.TypeName(v))
	case 't':
		if t != cty.Bool {
			return nil, fmt.Errorf("expected bool, got %s", value.TypeName(v))
		}
		return v.True(), nil
	}
	return nil, fmt.Errorf("unknown verb %%%c in the format string", verb)
}

func verbWants(verb rune) string {
	switch verb {
	case 'd', 'b', 'o', 'c', 'U', 'e', 'E', 'f', 'F', 'g', 'G':
		return "number"
	case 'x', 'X':
		return "number or string"
	case 't':
		return "bool"
	}
	return "string"
}

func integer(v cty.Value, verb rune) (any, error) {
	bf := v.AsBigFloat()
	if !value.BigFloatInRange(bf) || bf.IsInf() {
		return nil, fmt.Errorf("%%%c: the number is out of range", verb)
	}
	if !bf.IsInt() {
		return nil, fmt.Errorf("%%%c: expected a whole number, got a fraction", verb)
	}
	if n, acc := bf.Int64(); acc == big.Exact {
		return n, nil
	}
	bi, _ := bf.Int(nil)
	return bi, nil
}

// natural converts v to the Go value %v prints: whole numbers as integers,
// lists as slices, objects as maps (printed with sorted keys).
func natural(v cty.Value) any {
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return nil
	}
	if !v.IsKnown() {
		return "(unknown)"
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString()
	case t == cty.Bool:
		return v.True()
	case t == cty.Number:
		bf := v.AsBigFloat()
		if bf.IsInt() && value.BigFloatInRange(bf) && !bf.IsInf() {
			if n, acc := bf.Int64(); acc == big.Exact {
				return n
			}
			bi, _ := bf.Int(nil)
			return bi
		}
		f, _ := bf.Float64()
		return f
	case t.IsListType(), t.IsTupleType(), t.IsSetType():
		out := make([]any, 0, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, natural(e))
		}
		return out
	case t.IsMapType(), t.IsObjectType():
		out := make(map[string]any, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			out[k.AsString()] = natural(e)
		}
		return out
	}
	// A capsule's Go value could hold anything, credentials included: only
	// its type is shown.
	return value.TypeString(t)
}
