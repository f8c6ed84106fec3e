// Package stdlib is River's standard library: cty functions under both
// River's flat names (format, join) and Grafana Alloy's namespaced names
// (string.format, string.join), and the constants object (constants.os).
//
// The functions are thin wrappers over go-cty's function/stdlib where its
// behaviour matches Alloy's, and small implementations where it does not
// (argument order, Go's format verbs, coalesce skipping empty values).
// Arguments marked secret make a secret result (cty re-applies the marks);
// only nonsensitive removes the mark.
package stdlib

import (
	"encoding/base64"
	"fmt"
	"os"
	"runtime"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	ctystdlib "github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/flow-telemetry/flow/internal/build"
	"github.com/flow-telemetry/flow/syntax/value"
)

// Functions returns the standard library, keyed by the full name a call
// uses: both "format" and "string.format". The map is new on every call, so
// the caller may add to it.
func Functions() map[string]function.Function {
	m := make(map[string]function.Function, 2*len(library))
	for _, e := range library {
		for _, name := range e.names {
			m[name] = e.fn
		}
	}
	return m
}

// library lists each function once with all its names: Alloy's namespaced
// name first, then River's flat one. The flat names are deprecated in Alloy
// (see Deprecated); they keep working.
var library = []struct {
	names []string
	fn    function.Function
}{
	{[]string{"sys.env", "env"}, EnvFunc},
	{[]string{"array.concat", "concat"}, ConcatFunc},
	{[]string{"array.combine_maps"}, CombineMapsFunc},
	{[]string{"array.group_by"}, GroupByFunc},
	{[]string{"coalesce"}, CoalesceFunc},
	{[]string{"json_path"}, JSONPathFunc},
	{[]string{"file.path_join"}, PathJoinFunc},
	{[]string{"encoding.from_json", "json_decode"}, FromJSONFunc},
	{[]string{"encoding.to_json"}, ToJSONFunc},
	{[]string{"encoding.from_yaml", "yaml_decode"}, FromYAMLFunc},
	{[]string{"encoding.from_base64", "base64_decode"}, FromBase64Func},
	{[]string{"encoding.to_base64"}, ToBase64Func},
	{[]string{"encoding.from_URLbase64"}, FromURLBase64Func},
	{[]string{"encoding.to_URLbase64"}, ToURLBase64Func},
	{[]string{"encoding.url_encode"}, URLEncodeFunc},
	{[]string{"encoding.url_decode"}, URLDecodeFunc},
	{[]string{"string.format", "format"}, FormatFunc},
	{[]string{"string.join", "join"}, JoinFunc},
	{[]string{"string.split", "split"}, SplitFunc},
	{[]string{"string.replace", "replace"}, ReplaceFunc},
	{[]string{"string.to_lower", "to_lower"}, ctystdlib.LowerFunc},
	{[]string{"string.to_upper", "to_upper"}, ctystdlib.UpperFunc},
	{[]string{"string.trim", "trim"}, ctystdlib.TrimFunc},
	{[]string{"string.trim_prefix", "trim_prefix"}, ctystdlib.TrimPrefixFunc},
	{[]string{"string.trim_suffix", "trim_suffix"}, ctystdlib.TrimSuffixFunc},
	{[]string{"string.trim_space", "trim_space"}, ctystdlib.TrimSpaceFunc},
	{[]string{"convert.nonsensitive", "nonsensitive"}, NonsensitiveFunc},
}

// Deprecated reports whether name is one of the flat names Alloy deprecated
// in favour of a namespaced one, and that one. The flat names keep working;
// the runtime warns once per name and position.
func Deprecated(name string) (replacement string, ok bool) {
	replacement, ok = deprecated[name]
	return replacement, ok
}

var deprecated = func() map[string]string {
	m := map[string]string{}
	for _, e := range library {
		for _, n := range e.names[1:] {
			m[n] = e.names[0]
		}
	}
	return m
}()

// Constants returns the attributes of the `constants` object: hostname, os
// and arch of the machine flow runs on, and flow's version (Alloy's
// constants.version).
func Constants() map[string]cty.Value {
	host, err := os.Hostname()
	if err != nil {
		host = "" // an unnamed host is better than failing every config
	}
	return map[string]cty.Value{
		"hostname": cty.StringVal(host),
		"os":       cty.StringVal(runtime.GOOS),
		"arch":     cty.StringVal(runtime.GOARCH),
		"version":  cty.StringVal(build.Version()),
	}
}

// EvalContext returns a context holding the standard library's functions
// and the `constants` variable. It is meant to be the parent of the
// runtime's per-component contexts (ctx.NewChild()), whose lookups walk up to
// it. Each call returns a new context.
func EvalContext() *hcl.EvalContext {
	return &hcl.EvalContext{
		Functions: Functions(),
		Variables: map[string]cty.Value{"constants": cty.ObjectVal(Constants())},
	}
}

// EvalContextUnknownEnvironment is EvalContext for checking a config away
// from the machine that will run it (flow validate): sys.env (and env)
// return an unknown string, so a value read from the environment is
// checked only for what holds whatever the variable says.
func EvalContextUnknownEnvironment() *hcl.EvalContext {
	ctx := EvalContext()
	for _, e := range library {
		if e.names[0] == "sys.env" {
			for _, n := range e.names {
				ctx.Functions[n] = unknownEnvFunc
			}
		}
	}
	return ctx
}

var unknownEnvFunc = function.New(&function.Spec{
	Description: "Returns an unknown string: the environment of the machine that will run the config is not known.",
	Params:      []function.Parameter{{Name: "name", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func([]cty.Value, cty.Type) (cty.Value, error) {
		return cty.UnknownVal(cty.String), nil
	},
})

// EnvFunc returns the value of an environment variable, "" when unset.
var EnvFunc = function.New(&function.Spec{
	Description: "Returns the value of the environment variable name, or an empty string if it is not set.",
	Params:      []function.Parameter{{Name: "name", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(os.Getenv(args[0].AsString())), nil
	},
})

// ConcatFunc joins lists into one; concat() with no argument is [].
var ConcatFunc = function.New(&function.Spec{
	Description: "Concatenates lists into one list, keeping their order.",
	VarParam: &function.Parameter{
		Name:             "lists",
		Type:             cty.DynamicPseudoType,
		AllowMarked:      true, // keep a secret item's mark on that item only
		AllowDynamicType: true,
	},
	Type: func(args []cty.Value) (cty.Type, error) {
		if len(args) == 0 {
			return cty.EmptyTuple, nil
		}
		for i, a := range args {
			u, _ := a.Unmark()
			t := u.Type()
			if t == cty.DynamicPseudoType {
				return cty.DynamicPseudoType, nil
			}
			if !t.IsListType() && !t.IsTupleType() {
				return cty.NilType, function.NewArgErrorf(i, "expected list, got %s", value.TypeName(a))
			}
		}
		return ctystdlib.ConcatFunc.ReturnTypeForValues(args)
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if len(args) == 0 {
			return cty.EmptyTupleVal, nil
		}
		return ctystdlib.ConcatFunc.Call(args)
	},
})

// CoalesceFunc returns the first argument that is not null, an empty
// string, an empty list or an empty object; if all are, the last one.
var CoalesceFunc = function.New(&function.Spec{
	Description: "Returns the first argument that is not null, an empty string, an empty list or an empty object.",
	VarParam: &function.Parameter{
		Name:             "values",
		Type:             cty.DynamicPseudoType,
		AllowNull:        true,
		AllowUnknown:     true,
		AllowMarked:      true, // the chosen value keeps its own marks, no others
		AllowDynamicType: true,
	},
	Type: function.StaticReturnType(cty.DynamicPseudoType),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if len(args) == 0 {
			return cty.NullVal(cty.DynamicPseudoType), nil
		}
		for _, a := range args {
			u, _ := a.Unmark()
			if !u.IsKnown() {
				return cty.DynamicVal, nil // cannot tell yet whether it is empty
			}
			if !isEmpty(u) {
				return a, nil
			}
		}
		return args[len(args)-1], nil
	},
})

func isEmpty(v cty.Value) bool {
	if v.IsNull() {
		return true
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString() == ""
	case t.IsListType(), t.IsTupleType(), t.IsSetType(), t.IsMapType(), t.IsObjectType():
		return v.LengthInt() == 0
	}
	return false
}

// JoinFunc joins a list of strings with a separator: join(list, sep), the
// argument order of Alloy's string.join (cty's join takes sep first).
var JoinFunc = function.New(&function.Spec{
	Description: "Joins the strings of list with separator between them.",
	Params: []function.Parameter{
		{Name: "list", Type: cty.List(cty.String)},
		{Name: "separator", Type: cty.String},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		parts := make([]string, 0, args[0].LengthInt())
		for it := args[0].ElementIterator(); it.Next(); {
			_, v := it.Element()
			if v.IsNull() {
				return cty.NilVal, function.NewArgErrorf(0, "item %d: expected string, got null", len(parts)+1)
			}
			parts = append(parts, v.AsString())
		}
		return cty.StringVal(strings.Join(parts, args[1].AsString())), nil
	},
})

// SplitFunc splits a string at each separator: split(str, sep), the
// argument order of Alloy's string.split (cty's split takes sep first).
var SplitFunc = function.New(&function.Spec{
	Description: "Splits str into the strings between each separator.",
	Params: []function.Parameter{
		{Name: "str", Type: cty.String},
		{Name: "separator", Type: cty.String},
	},
	Type: function.StaticReturnType(cty.List(cty.String)),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		parts := strings.Split(args[0].AsString(), args[1].AsString())
		if len(parts) == 0 {
			return cty.ListValEmpty(cty.String), nil
		}
		vals := make([]cty.Value, len(parts))
		for i, p := range parts {
			vals[i] = cty.StringVal(p)
		}
		return cty.ListVal(vals), nil
	},
})

// ToJSONFunc encodes a value as JSON text. It is cty's json encoding,
// refusing numbers so large their digits alone would be megabytes.
var ToJSONFunc = function.New(&function.Spec{
	Description: "Encodes a value as a JSON string.",
	Params: []function.Parameter{{
		Name:             "value",
		Type:             cty.DynamicPseudoType,
		AllowNull:        true,
		AllowDynamicType: true,
	}},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		err := cty.Walk(args[0], func(_ cty.Path, v cty.Value) (bool, error) {
			if v.Type() == cty.Number && v.IsKnown() && !v.IsNull() && !value.BigFloatInRange(v.AsBigFloat()) {
				return false, function.NewArgErrorf(0, "a number is out of range for JSON")
			}
			return true, nil
		})
		if err != nil {
			return cty.NilVal, err
		}
		return ctystdlib.JSONEncodeFunc.Call(args)
	},
})

// ReplaceFunc replaces every occurrence of a substring; the result may not
// exceed 16 MiB (replacing "" in a long string grows it quadratically).
var ReplaceFunc = function.New(&function.Spec{
	Description: "Replaces every occurrence of substr in str with replacement.",
	Params: []function.Parameter{
		{Name: "str", Type: cty.String},
		{Name: "substr", Type: cty.String},
		{Name: "replacement", Type: cty.String},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		str, old, repl := args[0].AsString(), args[1].AsString(), args[2].AsString()
		n := strings.Count(str, old)
		if size := len(str) + n*(len(repl)-len(old)); n > 0 && size > maxResult {
			return cty.NilVal, fmt.Errorf("the result would be longer than %d MiB", maxResult>>20)
		}
		return cty.StringVal(strings.ReplaceAll(str, old, repl)), nil
	},
})

// FromBase64Func decodes standard base64 into a string.
var FromBase64Func = function.New(&function.Spec{
	Description: "Decodes a standard base64 string.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		b, err := base64.StdEncoding.DecodeString(args[0].AsString())
		if err != nil {
			// The error says where, not what: the input may be secret.
			return cty.NilVal, function.NewArgErrorf(0, "invalid base64 data")
		}
		if !utf8.Valid(b) {
			return cty.NilVal, function.NewArgErrorf(0, "the decoded data is not UTF-8 text")
		}
		return cty.StringVal(string(b)), nil
	},
})

// ToBase64Func encodes a string as standard base64.
var ToBase64Func = function.New(&function.Spec{
	Description: "Encodes str as standard base64.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(args[0].AsString()))), nil
	},
})

// NonsensitiveFunc removes the secret mark from a value and everything in
// it: the only way a secret becomes a plain string. Other marks stay.
var NonsensitiveFunc = function.New(&function.Spec{
	Description: "Returns a secret as a plain string.",
	Params: []function.Parameter{{
		Name:             "value",
		Type:             cty.DynamicPseudoType,
		AllowNull:        true,
		AllowUnknown:     true,
		AllowMarked:      true,
		AllowDynamicType: true,
	}},
	Type: func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, paths := args[0].UnmarkDeepWithPaths()
		kept := paths[:0]
		for _, pm := range paths {
			if _, ok := pm.Marks[value.SecretMark]; !ok {
				kept = append(kept, pm)
				continue
			}
			marks := make(cty.ValueMarks, len(pm.Marks))
			for m := range pm.Marks {
				if m != value.SecretMark {
					marks[m] = struct{}{}
				}
			}
			if len(marks) > 0 {
				kept = append(kept, cty.PathValueMarks{Path: pm.Path, Marks: marks})
			}
		}
		return v.MarkWithPaths(kept), nil
	},
})
