package stdlib

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/flow-telemetry/flow/syntax/value"
)

// MaxJSONDepth bounds the nesting of arrays and objects encoding.from_json
// accepts, as syntax.MaxDepth bounds a config's own: values stay shallow
// enough for every recursive walk of them (conversion, equality, decoding,
// encoding.to_json) however they were made.
const MaxJSONDepth = 1000

// FromJSONFunc decodes JSON text into a value: objects, arrays, strings,
// numbers, bools and null, as cty's json decoding does, in one linear pass
// (cty's re-reads each nested value once per level it is nested at, which
// made 2 KB of brackets cost 0.1 s), with nesting bounded by MaxJSONDepth
// and error messages that never quote the input, which may be secret.
var FromJSONFunc = function.New(&function.Spec{
	Description: "Decodes a JSON string into a value.",
	Params:      []function.Parameter{{Name: "str", Type: cty.String}},
	Type:        function.StaticReturnType(cty.DynamicPseudoType),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return decodeJSON(args[0].AsString())
	},
})

func decodeJSON(s string) (cty.Value, error) {
	r := bytes.NewReader([]byte(s))
	dec := json.NewDecoder(r)
	dec.UseNumber()
	d := &jsonDecoder{dec: dec}
	v, err := d.value(0)
	if err != nil {
		return cty.NilVal, jsonError(err, dec.InputOffset())
	}
	if _, err := dec.Token(); err != io.EOF {
		return cty.NilVal, function.NewArgErrorf(0, "invalid JSON: extra data after the value at byte %d", dec.InputOffset())
	}
	return v, nil
}

type jsonDecoder struct{ dec *json.Decoder }

var errJSONDepth = fmt.Errorf("invalid JSON: nested more than %d levels", MaxJSONDepth)

// value decodes the next value, depth arrays and objects deep.
func (d *jsonDecoder) value(depth int) (cty.Value, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return cty.NilVal, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= MaxJSONDepth {
			return cty.NilVal, errJSONDepth
		}
		if t == '[' {
			var items []cty.Value
			for d.dec.More() {
				v, err := d.value(depth + 1)
				if err != nil {
					return cty.NilVal, err
				}
				items = append(items, v)
			}
			if _, err := d.dec.Token(); err != nil { // ]
				return cty.NilVal, err
			}
			if len(items) == 0 {
				return cty.EmptyTupleVal, nil
			}
			return cty.TupleVal(items), nil
		}
		attrs := map[string]cty.Value{}
		for d.dec.More() {
			kt, err := d.dec.Token()
			if err != nil {
				return cty.NilVal, err
			}
			key := kt.(string) // the decoder allows only strings here; a repeated key's last value wins, as in encoding/json and Alloy (cty refuses it when the types differ)
			v, err := d.value(depth + 1)
			if err != nil {
				return cty.NilVal, err
			}
			attrs[key] = v
		}
		if _, err := d.dec.Token(); err != nil { // }
			return cty.NilVal, err
		}
		if len(attrs) == 0 {
			return cty.EmptyObjectVal, nil
		}
		return cty.ObjectVal(attrs), nil
	case string:
		return cty.StringVal(t), nil
	case json.Number:
		v, err := cty.ParseNumberVal(string(t))
		if err != nil || !value.BigFloatInRange(v.AsBigFloat()) {
			return cty.NilVal, errJSONNumber
		}
		return v, nil
	case bool:
		return cty.BoolVal(t), nil
	case nil:
		return cty.NullVal(cty.DynamicPseudoType), nil
	}
	return cty.NilVal, fmt.Errorf("unexpected JSON token %T", tok)
}

var (
	errJSONNumber = errors.New("invalid JSON: a number is out of range")
)

// jsonError turns a decoding error into an argument error that says where,
// never what: the input may be secret.
func jsonError(err error, offset int64) error {
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &syntaxErr):
		return function.NewArgErrorf(0, "invalid JSON at byte %d", syntaxErr.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return function.NewArgErrorf(0, "invalid JSON: unexpected end of input")
	case err == errJSONDepth, err == errJSONNumber:
		return function.NewArgErrorf(0, "%s (at byte %d)", err, offset)
	}
	return function.NewArgErrorf(0, "invalid JSON at byte %d", offset)
}
