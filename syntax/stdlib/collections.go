package stdlib

import (
	"fmt"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/flow-telemetry/flow/syntax/value"
)

// maxCombined bounds the number of maps array.combine_maps builds: a join of
// two 10,000-target lists on a key every target shares would otherwise make
// 100 million maps.
const maxCombined = 1 << 20

// CombineMapsFunc joins two lists of maps on the keys whose values match in
// both, as Alloy's array.combine_maps: every pair (l, r) whose values for all
// the keys are equal gives one map holding l's entries overwritten by r's.
// Maps lacking any of the keys match nothing. With the optional fourth
// argument true, an item of the first list that matched nothing is kept as
// it is (a left join), so targets without extra labels are not lost.
var CombineMapsFunc = function.New(&function.Spec{
	Description: "Joins two lists of maps on the values of the given keys.",
	Params: []function.Parameter{
		{Name: "left", Type: cty.DynamicPseudoType},
		{Name: "right", Type: cty.DynamicPseudoType},
		{Name: "keys", Type: cty.List(cty.String)},
	},
	VarParam: &function.Parameter{Name: "passthrough", Type: cty.Bool},
	Type:     function.StaticReturnType(cty.DynamicPseudoType),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if len(args) > 4 {
			return cty.NilVal, fmt.Errorf("expected 3 or 4 arguments, got %d", len(args))
		}
		left, err := mapItems(args[0], 0)
		if err != nil {
			return cty.NilVal, err
		}
		right, err := mapItems(args[1], 1)
		if err != nil {
			return cty.NilVal, err
		}
		var keys []string
		for it := args[2].ElementIterator(); it.Next(); {
			_, k := it.Element()
			if k.IsNull() {
				return cty.NilVal, function.NewArgErrorf(2, "a key is null")
			}
			keys = append(keys, k.AsString())
		}
		if len(keys) == 0 {
			return cty.NilVal, function.NewArgErrorf(2, "the list of keys to match must not be empty")
		}
		passthrough := len(args) == 4 && !args[3].IsNull() && args[3].True()

		out := []cty.Value{}
		for _, l := range left {
			matched := false
			for _, r := range right {
				if !keysMatch(l, r, keys) {
					continue
				}
				matched = true
				if len(out) >= maxCombined {
					return cty.NilVal, fmt.Errorf("the result would hold more than %d maps", maxCombined)
				}
				out = append(out, mergeMaps(l, r))
			}
			if !matched && passthrough {
				out = append(out, cty.ObjectVal(l))
			}
		}
		return cty.TupleVal(out), nil
	},
})

// GroupByFunc groups a list of maps by the value of one key, as Alloy's
// array.group_by: the result is a list of objects {<key> = value, items =
// [maps…]}, in the order each value first appears. Maps without the key form
// the group whose value is "", unless drop_missing is true.
var GroupByFunc = function.New(&function.Spec{
	Description: "Groups a list of maps by the value of a key.",
	Params: []function.Parameter{
		{Name: "list", Type: cty.DynamicPseudoType},
		{Name: "key", Type: cty.String},
		{Name: "drop_missing", Type: cty.Bool},
	},
	Type: function.StaticReturnType(cty.DynamicPseudoType),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		items, err := mapItems(args[0], 0)
		if err != nil {
			return cty.NilVal, err
		}
		key := args[1].AsString()
		drop := args[2].True()

		var order []string
		groups := map[string][]cty.Value{}
		for i, m := range items {
			group := ""
			if v, ok := m[key]; ok && !v.IsNull() {
				u, _ := v.Unmark()
				if u.Type() != cty.String {
					return cty.NilVal, function.NewArgErrorf(0, "item %d: %q must be a string to group by, got %s", i+1, key, value.TypeName(v))
				}
				group = u.AsString()
			} else if drop {
				continue
			}
			if _, seen := groups[group]; !seen {
				order = append(order, group)
			}
			groups[group] = append(groups[group], cty.ObjectVal(m))
		}
		out := make([]cty.Value, 0, len(order))
		for _, g := range order {
			out = append(out, cty.ObjectVal(map[string]cty.Value{
				key:     cty.StringVal(g),
				"items": cty.TupleVal(groups[g]),
			}))
		}
		return cty.TupleVal(out), nil
	},
})

// mapItems returns the items of a list or tuple of maps or objects as
// attribute maps, argument idx of the call.
func mapItems(list cty.Value, idx int) ([]map[string]cty.Value, error) {
	if list.IsNull() {
		return nil, function.NewArgErrorf(idx, "expected a list of maps, got null")
	}
	t := list.Type()
	if !t.IsListType() && !t.IsTupleType() && !t.IsSetType() {
		return nil, function.NewArgErrorf(idx, "expected a list of maps, got %s", value.TypeName(list))
	}
	items := make([]map[string]cty.Value, 0, list.LengthInt())
	for it := list.ElementIterator(); it.Next(); {
		_, v := it.Element()
		vt := v.Type()
		if v.IsNull() || !(vt.IsMapType() || vt.IsObjectType()) {
			return nil, function.NewArgErrorf(idx, "item %d: expected a map, got %s", len(items)+1, value.TypeName(v))
		}
		m := make(map[string]cty.Value, v.LengthInt())
		for mi := v.ElementIterator(); mi.Next(); {
			k, e := mi.Element()
			m[k.AsString()] = e
		}
		items = append(items, m)
	}
	return items, nil
}

func keysMatch(l, r map[string]cty.Value, keys []string) bool {
	for _, k := range keys {
		lv, ok1 := l[k]
		rv, ok2 := r[k]
		if !ok1 || !ok2 || !lv.RawEquals(rv) {
			return false
		}
	}
	return true
}

// mergeMaps is l's entries overwritten by r's.
func mergeMaps(l, r map[string]cty.Value) cty.Value {
	m := make(map[string]cty.Value, len(l)+len(r))
	for k, v := range l {
		m[k] = v
	}
	for k, v := range r {
		m[k] = v
	}
	return cty.ObjectVal(m)
}
