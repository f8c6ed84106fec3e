package stdlib

import (
	"errors"
	"maps"
	"slices"

	"github.com/ohler55/ojg/jp"
	"github.com/zclconf/go-cty/cty"
)

// A JSONPath can multiply its matches: `$..*..*..*` visits every node once
// per ancestor per ancestor, and `$[0,0,0,0,0,0,0,0,0,0]` repeated six times
// yields a million copies of one value. ojg evaluates a path with no bound
// on that work, so json_path hands it the document behind jpObject and
// jpArray, which count every value ojg reads and stop it, through a panic
// that JSONPathFunc recovers, once it has read more than the budget: 16
// values per byte of the document and the path, plus 1,000, linear in its
// input whatever the path (`$..name` reads each value of a document about
// once, and a document holds fewer values than bytes). Converting the matches to cty values spends the same
// budget.

// jpBudgetBase and jpBudgetPerByte size the budget of values a path may read.
const (
	jpBudgetBase    = 1000
	jpBudgetPerByte = 16
)

var errJSONPathBudget = errors.New("the path reads or selects too many values of this document")

type jpBudget struct{ left int }

func (b *jpBudget) spend() {
	b.left--
	if b.left < 0 {
		panic(b) // recovered by evalJSONPath
	}
}

// wrap returns v with its objects and arrays behind budget-counting views.
func (b *jpBudget) wrap(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return &jpObject{m: v, b: b}
	case []any:
		return &jpArray{a: v, b: b}
	}
	return v
}

// unwrap returns the document value a result stands for.
func unwrapJP(v any) any {
	switch v := v.(type) {
	case *jpObject:
		return v.m
	case *jpArray:
		return v.a
	}
	return v
}

// jpObject is a JSON object seen through the budget. Its keys are sorted, so
// a wildcard over an object matches in a stable order (ojg ranges over a Go
// map: a random one).
type jpObject struct {
	m    map[string]any
	keys []string
	b    *jpBudget
}

func (o *jpObject) ValueForKey(key string) (any, bool) {
	o.b.spend()
	v, ok := o.m[key]
	return o.b.wrap(v), ok
}

func (o *jpObject) Keys() []string {
	if o.keys == nil {
		o.keys = slices.Sorted(maps.Keys(o.m))
	}
	o.b.spend()
	return o.keys
}

func (o *jpObject) SetValueForKey(string, any) {}
func (o *jpObject) RemoveValueForKey(string)   {}

// jpArray is a JSON array seen through the budget.
type jpArray struct {
	a []any
	b *jpBudget
}

func (a *jpArray) ValueAtIndex(i int) any {
	a.b.spend()
	if i < 0 || i >= len(a.a) {
		return nil
	}
	return a.b.wrap(a.a[i])
}

func (a *jpArray) Size() int                { return len(a.a) }
func (a *jpArray) SetValueAtIndex(int, any) {}

var (
	_ jp.Keyed   = (*jpObject)(nil)
	_ jp.Indexed = (*jpArray)(nil)
)

// evalJSONPath returns the values expr selects from doc, as cty values,
// reading and converting at most budget values in all: a path can select
// every subtree of a deep document, each converted whole.
func evalJSONPath(expr jp.Expr, doc any, budget int) (vals []cty.Value, err error) {
	b := &jpBudget{left: budget}
	defer func() {
		if r := recover(); r != nil {
			if r != b {
				panic(r)
			}
			vals, err = nil, errJSONPathBudget
		}
	}()
	found := expr.Get(b.wrap(doc))
	vals = make([]cty.Value, 0, len(found))
	for _, r := range found {
		v, err := goToCty(unwrapJP(r), 0, b)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	return vals, nil
}
