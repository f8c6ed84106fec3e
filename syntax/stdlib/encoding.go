package stdlib

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"path/filepath"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/flow-telemetry/flow/syntax/value"
	"github.com/ohler55/ojg/jp"
	"github.com/ohler55/ojg/oj"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	yaml "go.yaml.in/yaml/v3"
)

// maxDecodeDepth bounds the nesting of a decoded YAML or JSON document, so
// that converting it cannot exhaust the stack.
const maxDecodeDepth = 100

// FromYAMLFunc decodes YAML text into a value, as Alloy's
// encoding.from_yaml: mappings become objects, sequences lists. yaml.v3
// refuses documents whose aliases expand excessively (a "billion laughs").
var FromYAMLFunc = function.New(&function.Spec{
	Description: "Decodes a YAML string into a value.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.DynamicPseudoType),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		var doc any
		if err := yaml.Unmarshal([]byte(args[0].AsString()), &doc); err != nil {
			// Only the line: some of yaml's messages quote the input, which
			// may be secret (a file read with is_secret).
			return cty.NilVal, function.NewArgErrorf(0, "invalid YAML%s", yamlErrorLine(err))
		}
		v, err := goToCty(doc, 0, nil)
		if err != nil {
			return cty.NilVal, function.NewArgErrorf(0, "%s", err)
		}
		return v, nil
	},
})

// yamlErrorLine is " at line N" from a yaml error, or "".
func yamlErrorLine(err error) string {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		return " at line " + m[1]
	}
	return ""
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// JSONPathFunc evaluates a JSONPath expression against JSON text, as
// Alloy's json_path (which uses the same library): the result is the list of
// every match, empty when nothing matches.
var JSONPathFunc = function.New(&function.Spec{
	Description: "Returns the list of values a JSONPath expression selects from a JSON string.",
	Params: []function.Parameter{
		{Name: "json", Type: cty.String},
		{Name: "path", Type: cty.String},
	},
	Type: function.StaticReturnType(cty.DynamicPseudoType),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		expr, err := jp.ParseString(args[1].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgErrorf(1, "invalid JSONPath: %s", err)
		}
		// ojg accepts some text that is not JSON (`{"a":}` parses, with a
		// value of its own internal type), so the document must first be
		// valid JSON; Alloy, which hands the text to ojg alone, would accept it.
		if !json.Valid([]byte(args[0].AsString())) {
			return cty.NilVal, function.NewArgErrorf(0, "invalid JSON")
		}
		doc, err := oj.ParseString(args[0].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgErrorf(0, "invalid JSON")
		}
		limit := jpBudgetBase + jpBudgetPerByte*(len(args[0].AsString())+len(args[1].AsString()))
		vals, err := evalJSONPath(expr, doc, limit)
		if err == errJSONPathBudget {
			return cty.NilVal, function.NewArgErrorf(1, "%s: at most %d, %d per byte of the document and the path, plus %d", err, limit, jpBudgetPerByte, jpBudgetBase)
		}
		if err != nil {
			return cty.NilVal, err
		}
		return cty.TupleVal(vals), nil
	},
})

// FromURLBase64Func decodes URL-safe base64 (RFC 4648 §5) into a string.
var FromURLBase64Func = function.New(&function.Spec{
	Description: "Decodes a URL-safe base64 string.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		b, err := base64.URLEncoding.DecodeString(args[0].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgErrorf(0, "invalid URL-safe base64 data")
		}
		if !utf8.Valid(b) {
			return cty.NilVal, function.NewArgErrorf(0, "the decoded data is not UTF-8 text")
		}
		return cty.StringVal(string(b)), nil
	},
})

// ToURLBase64Func encodes a string as URL-safe base64 (RFC 4648 §5).
var ToURLBase64Func = function.New(&function.Spec{
	Description: "Encodes str as URL-safe base64.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(base64.URLEncoding.EncodeToString([]byte(args[0].AsString()))), nil
	},
})

// URLEncodeFunc percent-encodes a string for use in a URL query (RFC 3986;
// a space becomes "+"), as Alloy's encoding.url_encode.
var URLEncodeFunc = function.New(&function.Spec{
	Description: "Percent-encodes str for a URL query.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(url.QueryEscape(args[0].AsString())), nil
	},
})

// URLDecodeFunc reverses URLEncodeFunc.
var URLDecodeFunc = function.New(&function.Spec{
	Description: "Decodes a percent-encoded string.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		s, err := url.QueryUnescape(args[0].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgErrorf(0, "invalid percent-encoding")
		}
		return cty.StringVal(s), nil
	},
})

// PathJoinFunc joins path elements with the OS separator and cleans the
// result, as Go's filepath.Join (Alloy's file.path_join).
var PathJoinFunc = function.New(&function.Spec{
	Description: "Joins path elements into one path.",
	VarParam:    &function.Parameter{Name: "elements", Type: cty.String},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		parts := make([]string, len(args))
		for i, a := range args {
			parts[i] = a.AsString()
		}
		return cty.StringVal(filepath.Join(parts...)), nil
	},
})

// goToCty converts a decoded YAML or JSON document into a cty value:
// mappings are objects, sequences tuples. A non-nil budget is spent by one
// per value converted.
func goToCty(v any, depth int, budget *jpBudget) (cty.Value, error) {
	if budget != nil {
		budget.spend()
	}
	if depth > maxDecodeDepth {
		return cty.NilVal, fmt.Errorf("the document is nested more than %d levels deep", maxDecodeDepth)
	}
	switch v := v.(type) {
	case nil:
		return cty.NullVal(cty.DynamicPseudoType), nil
	case string:
		return cty.StringVal(v), nil
	case bool:
		return cty.BoolVal(v), nil
	case int:
		return cty.NumberIntVal(int64(v)), nil
	case int64:
		return cty.NumberIntVal(v), nil
	case uint64:
		return cty.NumberUIntVal(v), nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return cty.NilVal, fmt.Errorf("the number %v cannot be represented", v)
		}
		return cty.NumberFloatVal(v), nil
	case *big.Int:
		return cty.NumberVal(new(big.Float).SetInt(v)), nil
	case json.Number: // ojg's form of an integer beyond int64 and of a float beyond float64's precision
		n, err := cty.ParseNumberVal(string(v))
		if err != nil || !value.BigFloatInRange(n.AsBigFloat()) {
			return cty.NilVal, fmt.Errorf("the number %s cannot be represented", v)
		}
		return n, nil
	case time.Time:
		return cty.StringVal(v.Format(time.RFC3339Nano)), nil
	case []byte:
		return cty.StringVal(base64.StdEncoding.EncodeToString(v)), nil
	case []any:
		vals := make([]cty.Value, len(v))
		for i, e := range v {
			c, err := goToCty(e, depth+1, budget)
			if err != nil {
				return cty.NilVal, err
			}
			vals[i] = c
		}
		return cty.TupleVal(vals), nil
	case map[string]any:
		attrs := make(map[string]cty.Value, len(v))
		for k, e := range v {
			c, err := goToCty(e, depth+1, budget)
			if err != nil {
				return cty.NilVal, err
			}
			attrs[k] = c
		}
		return cty.ObjectVal(attrs), nil
	case map[any]any:
		attrs := make(map[string]cty.Value, len(v))
		for k, e := range v {
			c, err := goToCty(e, depth+1, budget)
			if err != nil {
				return cty.NilVal, err
			}
			attrs[fmt.Sprint(k)] = c // YAML allows non-string keys; Alloy prints them too
		}
		return cty.ObjectVal(attrs), nil
	}
	return cty.NilVal, fmt.Errorf("unsupported value of type %T", v)
}
