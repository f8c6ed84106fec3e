package syntax

import (
	"fmt"
	"maps"
	"math"
	"math/big"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/flow-telemetry/flow/syntax/value"
)

// Evaluation. Every path unmarks values before inspecting them and puts the
// marks back on the result, so a secret stays a secret through operators,
// indexing and calls; capsules are passed along as they are, never converted.
// On error an expression returns cty.DynamicVal with the diagnostics.

func evalError(rng hcl.Range, summary string, args ...any) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf(summary, args...),
		Subject:  rng.Ptr(),
	}}
}

// withSuggestion adds a "did you mean" detail when one of candidates is close.
func withSuggestion(diags hcl.Diagnostics, name string, candidates []string) hcl.Diagnostics {
	if s := Suggest(name, candidates); s != "" {
		diags[0].Detail = fmt.Sprintf("did you mean %q?", s)
	}
	return diags
}

// Value of a literal is fixed at parse time.
func (e *LiteralExpr) Value(*hcl.EvalContext) (cty.Value, hcl.Diagnostics) { return e.Val, nil }

// Value of a BadExpr is unknown; the parser has reported the problem.
func (e *BadExpr) Value(*hcl.EvalContext) (cty.Value, hcl.Diagnostics) { return cty.DynamicVal, nil }

// Value of an array is a cty tuple, so its items may differ in type (a
// capsule next to a string) until a decoder converts it.
func (e *ArrayExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	return evaluate(ctx, e)
}

func (ev *evaluator) array(e *ArrayExpr) (cty.Value, hcl.Diagnostics) {
	if len(e.Items) == 0 {
		return cty.EmptyTupleVal, nil
	}
	if d := ev.spend(elementCost*int64(len(e.Items)), e.SrcRange); d != nil {
		return cty.DynamicVal, d
	}
	vals, diags := ev.evalAll(e.Items)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	return cty.TupleVal(vals), diags
}

// Value of an object is a cty object.
func (e *ObjectExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	return evaluate(ctx, e)
}

func (ev *evaluator) object(e *ObjectExpr) (cty.Value, hcl.Diagnostics) {
	if len(e.Items) == 0 {
		return cty.EmptyObjectVal, nil
	}
	if d := ev.spend(2*elementCost*int64(len(e.Items)), e.SrcRange); d != nil {
		return cty.DynamicVal, d
	}
	var diags hcl.Diagnostics
	vals := make(map[string]cty.Value, len(e.Items))
	for _, it := range e.Items {
		v, d := ev.eval(it.Value)
		diags = append(diags, d...)
		vals[it.Key] = v
		if len(diags) >= MaxErrors {
			return cty.DynamicVal, tooManyErrors(diags, e.SrcRange)
		}
	}
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	return cty.ObjectVal(vals), diags
}

// Value of a reference looks up its root name in ctx.Variables, walking up
// the parent contexts, then follows its attribute steps.
func (e *ScopeTraversalExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	return evaluate(ctx, e)
}

func (ev *evaluator) traversal(e *ScopeTraversalExpr) (cty.Value, hcl.Diagnostics) {
	ctx := ev.ctx
	root, ok := e.Traversal[0].(hcl.TraverseRoot)
	if !ok {
		return cty.DynamicVal, evalError(e.SrcRange, "invalid reference")
	}
	v, found := lookupVariable(ctx, root.Name)
	if !found {
		if ctx == nil {
			return cty.DynamicVal, evalError(root.SrcRange, "references are not allowed here (found %q)", root.Name)
		}
		diags := evalError(root.SrcRange, "unknown reference %q", root.Name)
		return cty.DynamicVal, withSuggestion(diags, root.Name, variableNames(ctx))
	}
	for i, step := range e.Traversal[1:] {
		attr, ok := step.(hcl.TraverseAttr)
		if !ok {
			return cty.DynamicVal, evalError(e.SrcRange, "invalid reference")
		}
		var diags hcl.Diagnostics
		v, diags = getAttr(v, attr.Name, attr.SrcRange, func() string { return traversalString(e.Traversal[:i+1]) })
		if diags.HasErrors() {
			return cty.DynamicVal, diags
		}
	}
	return v, nil
}

func lookupVariable(ctx *hcl.EvalContext, name string) (cty.Value, bool) {
	for c := ctx; c != nil; c = c.Parent() {
		if v, ok := c.Variables[name]; ok {
			return v, true
		}
	}
	return cty.NilVal, false
}

func variableNames(ctx *hcl.EvalContext) []string {
	var names []string
	for c := ctx; c != nil; c = c.Parent() {
		for n := range c.Variables {
			if n != budgetVar {
				names = append(names, n)
			}
		}
	}
	sort.Strings(names) // a stable suggestion when two are equally close
	return names
}

// traversalString writes a reference as it is spelled: "a.b.c".
func traversalString(t hcl.Traversal) string {
	var sb strings.Builder
	for _, step := range t {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			sb.WriteString(s.Name)
		case hcl.TraverseAttr:
			sb.WriteByte('.')
			sb.WriteString(s.Name)
		}
	}
	return sb.String()
}

// getAttr reads attribute name of v; a missing attribute is an error (unlike
// a missing key in an index). what names v for the message, built only when
// an error needs it.
func getAttr(v cty.Value, name string, rng hcl.Range, what func() string) (cty.Value, hcl.Diagnostics) {
	v, marks := v.Unmark()
	t := v.Type()
	switch {
	case v.IsNull():
		return cty.DynamicVal, evalError(rng, "cannot read attribute %q of null", name)
	case t == cty.DynamicPseudoType:
		return cty.DynamicVal.WithMarks(marks), nil
	case t.IsObjectType():
		if !hasAttribute(t, name) {
			names := slices.Sorted(maps.Keys(t.AttributeTypes()))
			diags := evalError(rng, "%s has no attribute %q", orValue(what()), name)
			return cty.DynamicVal, withSuggestion(diags, name, names)
		}
		if !v.IsKnown() {
			return cty.UnknownVal(t.AttributeType(name)).WithMarks(marks), nil
		}
		return v.GetAttr(name).WithMarks(marks), nil
	case t.IsMapType():
		if !v.IsKnown() {
			return cty.UnknownVal(t.ElementType()).WithMarks(marks), nil
		}
		key := cty.StringVal(name)
		if !v.HasIndex(key).True() {
			return cty.DynamicVal, evalError(rng, "%s has no key %q", orValue(what()), name)
		}
		return v.Index(key).WithMarks(marks), nil
	}
	if w := what(); w != "" {
		return cty.DynamicVal, evalError(rng, "cannot read attribute %q of %s: expected object, got %s", name, w, value.TypeName(v.WithMarks(marks)))
	}
	return cty.DynamicVal, evalError(rng, "cannot read attribute %q: expected object, got %s", name, value.TypeName(v.WithMarks(marks)))
}

// hasAttribute is t.HasAttribute without normalizing an ASCII name, which
// NFC leaves as it is (object types hold their names normalized): that
// normalization was most of a reference's evaluation.
func hasAttribute(t cty.Type, name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return t.HasAttribute(name)
		}
	}
	_, ok := t.AttributeTypes()[name]
	return ok
}

func orValue(what string) string {
	if what == "" {
		return "the value"
	}
	return what
}

// Value of `.name` on an expression.
func (e *AccessExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	return evaluate(ctx, e)
}

func (ev *evaluator) access(e *AccessExpr) (cty.Value, hcl.Diagnostics) {
	src, diags := ev.eval(e.Source)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	v, d := getAttr(src, e.Name, e.NameRange, func() string { return "" })
	return v, append(diags, d...)
}

// Value of `collection[key]`: arrays take a whole number, objects a string;
// a missing object key gives null rather than an error.
func (e *IndexExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	return evaluate(ctx, e)
}

func (ev *evaluator) index(e *IndexExpr) (cty.Value, hcl.Diagnostics) {
	coll, diags := ev.eval(e.Collection)
	key, d := ev.eval(e.Key)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	coll, collMarks := coll.Unmark()
	key, keyMarks := key.Unmark()
	remark := func(v cty.Value) cty.Value { return v.WithMarks(collMarks, keyMarks) }
	ct := coll.Type()

	if coll.IsNull() {
		return cty.DynamicVal, append(diags, evalError(e.Collection.Range(), "cannot index null")...)
	}
	if ct == cty.DynamicPseudoType {
		return remark(cty.DynamicVal), diags
	}
	keyRange := e.Key.Range()
	switch {
	case ct.IsListType(), ct.IsTupleType():
		if key.Type() == cty.DynamicPseudoType {
			return remark(cty.DynamicVal), diags
		}
		if key.Type() != cty.Number || key.IsNull() {
			return cty.DynamicVal, append(diags, evalError(keyRange, "list index: expected number, got %s", value.TypeName(key))...)
		}
		if !key.IsKnown() || !coll.IsKnown() {
			return remark(cty.DynamicVal), diags
		}
		i, acc := key.AsBigFloat().Int64()
		if acc != big.Exact {
			return cty.DynamicVal, append(diags, evalError(keyRange, "list index must be a whole number")...)
		}
		n := coll.LengthInt()
		if i < 0 || i >= int64(n) {
			msg := "list index %d out of range for a list of length %d"
			if len(keyMarks) > 0 { // the index itself may be secret
				return cty.DynamicVal, append(diags, evalError(keyRange, "list index out of range for a list of length %d", n)...)
			}
			return cty.DynamicVal, append(diags, evalError(keyRange, msg, i, n)...)
		}
		return remark(coll.Index(cty.NumberIntVal(i))), diags
	case ct.IsObjectType(), ct.IsMapType():
		if key.Type() == cty.DynamicPseudoType {
			return remark(cty.DynamicVal), diags
		}
		if key.Type() != cty.String || key.IsNull() {
			return cty.DynamicVal, append(diags, evalError(keyRange, "object key: expected string, got %s", value.TypeName(key))...)
		}
		if !key.IsKnown() || !coll.IsKnown() {
			return remark(cty.DynamicVal), diags
		}
		k := key.AsString()
		if ct.IsObjectType() {
			if !ct.HasAttribute(k) {
				return remark(cty.NullVal(cty.DynamicPseudoType)), diags
			}
			return remark(coll.GetAttr(k)), diags
		}
		if !coll.HasIndex(key).True() {
			return remark(cty.NullVal(cty.DynamicPseudoType)), diags
		}
		return remark(coll.Index(key)), diags
	}
	return cty.DynamicVal, append(diags, evalError(e.Collection.Range(), "cannot index: expected list or object, got %s", value.TypeName(coll.WithMarks(collMarks)))...)
}

// Value of a call looks the function up by its full dotted name in
// ctx.Functions, walking up the parent contexts, converts the arguments to
// the parameter types and calls it.
func (e *CallExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	return evaluate(ctx, e)
}

func (ev *evaluator) call(e *CallExpr) (cty.Value, hcl.Diagnostics) {
	ctx := ev.ctx
	fn, found := lookupFunction(ctx, e.Name)
	if !found {
		if ctx == nil {
			return cty.DynamicVal, evalError(e.NameRange, "function calls are not allowed here (found %q)", e.Name)
		}
		diags := evalError(e.NameRange, "unknown function %q", e.Name)
		return cty.DynamicVal, withSuggestion(diags, e.Name, functionNames(ctx))
	}

	args, diags := ev.evalAll(e.Args)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}

	params, varParam := fn.Params(), fn.VarParam()
	if len(args) < len(params) || (varParam == nil && len(args) > len(params)) {
		want := fmt.Sprintf("%d argument%s", len(params), plural(len(params)))
		if varParam != nil {
			want = "at least " + want
		}
		return cty.DynamicVal, evalError(e.ArgsRange, "%s: expected %s, got %d", e.Name, want, len(args))
	}
	for i := range args {
		p := varParam
		if i < len(params) {
			p = &params[i]
		}
		argRange := e.Args[i].Range()
		if args[i].IsNull() {
			if !p.AllowNull {
				return cty.DynamicVal, evalError(argRange, "%s: argument %d: expected %s, got null", e.Name, i+1, value.TypeString(p.Type))
			}
			continue
		}
		if p.Type == cty.DynamicPseudoType {
			continue // capsules and anything else pass as they are
		}
		if msg := mismatch(args[i], p.Type); msg != "" {
			return cty.DynamicVal, evalError(argRange, "%s: argument %d: %s", e.Name, i+1, msg)
		}
		// Now only the container types change (a tuple literal becomes the
		// list(string) the function takes); items are never reinterpreted.
		conv, err := convert.Convert(args[i], p.Type)
		if err != nil {
			return cty.DynamicVal, evalError(argRange, "%s: argument %d: expected %s, got %s", e.Name, i+1, value.TypeString(p.Type), value.TypeName(args[i]))
		}
		args[i] = conv
	}

	result, err := fn.Call(args)
	if err == nil {
		if d := ev.spend(valueCost(result, ev.b.left+1), e.SrcRange); d != nil {
			return cty.DynamicVal, d
		}
	}
	if err != nil {
		if argErr, ok := err.(function.ArgError); ok && argErr.Index >= 0 && argErr.Index < len(e.Args) {
			return cty.DynamicVal, evalError(e.Args[argErr.Index].Range(), "%s: argument %d: %s", e.Name, argErr.Index+1, argErr.Error())
		}
		if _, ok := err.(function.PanicError); ok {
			return cty.DynamicVal, evalError(e.SrcRange, "%s: internal error in function; please report this", e.Name)
		}
		return cty.DynamicVal, evalError(e.SrcRange, "%s: %s", e.Name, err.Error())
	}
	return result, diags
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func lookupFunction(ctx *hcl.EvalContext, name string) (function.Function, bool) {
	for c := ctx; c != nil; c = c.Parent() {
		if f, ok := c.Functions[name]; ok {
			return f, true
		}
	}
	return function.Function{}, false
}

func functionNames(ctx *hcl.EvalContext) []string {
	var names []string
	for c := ctx; c != nil; c = c.Parent() {
		for n := range c.Functions {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Value of the expression in parentheses.
func (e *ParenExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	return evaluate(ctx, e)
}

// Value of `!x` or `-x`.
func (e *UnaryExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	return evaluate(ctx, e)
}

func (ev *evaluator) unary(e *UnaryExpr) (cty.Value, hcl.Diagnostics) {
	v, diags := ev.eval(e.Operand)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	want := cty.Number
	if e.Op == NOT {
		want = cty.Bool
	}
	if d := checkType(v, want, e.Operand.Range()); d != nil {
		return cty.DynamicVal, append(diags, d...)
	}
	if e.Op == NOT {
		return v.Not(), diags
	}
	return v.Negate(), diags
}

// checkType reports an operand that is not of type want. Unknown values of
// unknown type pass: their type is checked once they are known.
func checkType(v cty.Value, want cty.Type, rng hcl.Range) hcl.Diagnostics {
	if v.Type() == want || (v.Type() == cty.DynamicPseudoType && !v.IsKnown()) {
		if v.IsNull() {
			return evalError(rng, "expected %s, got null", value.TypeString(want))
		}
		return nil
	}
	return evalError(rng, "expected %s, got %s", value.TypeString(want), value.TypeName(v))
}

// Value of `lhs op rhs`. Both sides are always evaluated, so `&&` and `||`
// report errors on either side.
func (e *BinaryExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	return evaluate(ctx, e)
}

func (ev *evaluator) binary(e *BinaryExpr) (cty.Value, hcl.Diagnostics) {
	if l, ok := e.LHS.(*BinaryExpr); ok && e.Op == ADD && l.Op == ADD {
		return ev.addChain(e)
	}
	lhs, diags := ev.eval(e.LHS)
	rhs, d := ev.eval(e.RHS)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	switch e.Op {
	case EQ, NEQ, LT, LTE, GT, GTE, ADD: // comparisons walk both sides; + may join two strings
		if d := ev.spend(valueCost(lhs, ev.b.left+1)+valueCost(rhs, ev.b.left+1), e.OpRange); d != nil {
			return cty.DynamicVal, d
		}
	}
	v, d := e.apply(lhs, rhs)
	return v, append(diags, d...)
}

// MaxStringBytes bounds a string that + builds, as the standard library
// bounds the strings its functions build.
const MaxStringBytes = 16 << 20

// addChain evaluates a chain a + b + c + …, which parses as ((a + b) + c) +
// …, in one loop rather than by recursion, joining each run of strings with
// one builder: pairwise, a chain of n strings would copy its growing prefix
// n times, quadratic in the config's size. Operands are evaluated left to
// right, and the result, marks and errors are those of the pairwise
// evaluation.
func (ev *evaluator) addChain(e *BinaryExpr) (cty.Value, hcl.Diagnostics) {
	var nodes []*BinaryExpr // outermost first; nodes[i].RHS is an operand
	x := hcl.Expression(e)
	for {
		b, ok := x.(*BinaryExpr)
		if !ok || b.Op != ADD {
			break
		}
		nodes = append(nodes, b)
		x = b.LHS
	}
	acc, diags := ev.eval(x)
	rhs := make([]cty.Value, len(nodes))
	for i := range nodes {
		n := nodes[len(nodes)-1-i]
		v, d := ev.eval(n.RHS)
		diags = append(diags, d...)
		rhs[i] = v
	}
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}

	var sb strings.Builder
	var marks cty.ValueMarks
	joining := false // acc is in sb and marks
	for i, r := range rhs {
		n := nodes[len(nodes)-1-i]
		ru, rm := r.Unmark()
		if isPlainString(ru) {
			au, am := acc.Unmark()
			if joining || isPlainString(au) {
				if !joining {
					if d := ev.spend(int64(len(au.AsString())), n.OpRange); d != nil {
						return cty.DynamicVal, append(diags, d...)
					}
					sb.WriteString(au.AsString())
					marks = make(cty.ValueMarks, len(am)+len(rm))
					for m := range am {
						marks[m] = struct{}{}
					}
					joining = true
				}
				if sb.Len()+len(ru.AsString()) > MaxStringBytes {
					return cty.DynamicVal, append(diags, evalError(n.OpRange, "+: the string would be longer than %d MiB", MaxStringBytes>>20)...)
				}
				if d := ev.spend(int64(len(ru.AsString())), n.OpRange); d != nil {
					return cty.DynamicVal, append(diags, d...)
				}
				sb.WriteString(ru.AsString())
				for m := range rm {
					marks[m] = struct{}{}
				}
				continue
			}
		}
		if joining {
			acc, joining = cty.StringVal(sb.String()).WithMarks(marks), false
			sb.Reset()
		}
		if d := ev.spend(valueCost(acc, ev.b.left+1)+valueCost(r, ev.b.left+1), n.OpRange); d != nil {
			return cty.DynamicVal, append(diags, d...)
		}
		v, d := n.apply(acc, r)
		diags = append(diags, d...)
		if d.HasErrors() {
			return cty.DynamicVal, diags
		}
		acc = v
	}
	if joining {
		acc = cty.StringVal(sb.String()).WithMarks(marks)
	}
	return acc, diags
}

// isPlainString reports whether an unmarked v is a known, non-null string.
func isPlainString(v cty.Value) bool {
	return v.Type() == cty.String && v.IsKnown() && !v.IsNull()
}

func (e *BinaryExpr) apply(lhs, rhs cty.Value) (result cty.Value, diags hcl.Diagnostics) {
	// cty's number operations panic on NaN (infinity minus infinity); that
	// is an error in the configuration, never a crash.
	defer func() {
		if r := recover(); r != nil {
			result, diags = cty.DynamicVal, evalError(e.SrcRange, "%s: result is not a number", e.Op)
		}
	}()

	lr, rr := e.LHS.Range(), e.RHS.Range()
	switch e.Op {
	case OR, AND:
		if d := append(checkType(lhs, cty.Bool, lr), checkType(rhs, cty.Bool, rr)...); d != nil {
			return cty.DynamicVal, d
		}
		if e.Op == OR {
			return lhs.Or(rhs), nil
		}
		return lhs.And(rhs), nil

	case EQ, NEQ:
		eq := equals(lhs, rhs)
		if e.Op == NEQ {
			return eq.Not(), nil
		}
		return eq, nil

	case LT, LTE, GT, GTE:
		return e.compare(lhs, rhs)

	case ADD:
		lu, _ := lhs.Unmark()
		if lu.Type() == cty.String {
			return concat(lhs, rhs, rr, e.OpRange)
		}
		if lu.Type() == cty.DynamicPseudoType {
			if ru, _ := rhs.Unmark(); ru.Type() != cty.Number {
				// Could be a concatenation; the type is not known yet.
				return cty.DynamicVal.WithMarks(markOf(lhs), markOf(rhs)), nil
			}
		}
		if lu.Type() != cty.Number && lu.Type() != cty.DynamicPseudoType || lu.IsNull() {
			return cty.DynamicVal, evalError(lr, "expected number or string, got %s", value.TypeName(lhs))
		}
	}

	// The remaining operators take two numbers.
	if d := append(checkType(lhs, cty.Number, lr), checkType(rhs, cty.Number, rr)...); d != nil {
		return cty.DynamicVal, d
	}
	if !NumberInRange(lhs) {
		return cty.DynamicVal, evalError(lr, "number is out of range (beyond ±2^%d)", MaxNumberBits)
	}
	if !NumberInRange(rhs) {
		return cty.DynamicVal, evalError(rr, "number is out of range (beyond ±2^%d)", MaxNumberBits)
	}
	res, diags := e.arith(lhs, rhs)
	if !diags.HasErrors() && !NumberInRange(res) {
		return cty.DynamicVal, evalError(e.SrcRange, "%s: result is out of range (beyond ±2^%d)", e.Op, MaxNumberBits)
	}
	return res, diags
}

// MaxNumberBits bounds the magnitude of numbers (see value.MaxNumberBits).
const MaxNumberBits = value.MaxNumberBits

// NumberInRange reports whether v is not a number, or a number within
// MaxNumberBits.
func NumberInRange(v cty.Value) bool {
	v, _ = v.Unmark()
	if v.Type() != cty.Number || v.IsNull() || !v.IsKnown() {
		return true
	}
	return value.BigFloatInRange(v.AsBigFloat())
}

// arith applies a numeric operator to two numbers in range.
func (e *BinaryExpr) arith(lhs, rhs cty.Value) (cty.Value, hcl.Diagnostics) {
	rr := e.RHS.Range()
	switch e.Op {
	case ADD:
		return lhs.Add(rhs), nil
	case SUB:
		return lhs.Subtract(rhs), nil
	case MUL:
		return lhs.Multiply(rhs), nil
	case DIV, MOD:
		if r, _ := rhs.Unmark(); r.IsKnown() && r.AsBigFloat().Sign() == 0 {
			return cty.DynamicVal, evalError(rr, "division by zero")
		}
		if e.Op == DIV {
			return lhs.Divide(rhs), nil
		}
		return lhs.Modulo(rhs), nil
	case POW:
		return power(lhs, rhs, e.SrcRange)
	}
	return cty.DynamicVal, evalError(e.OpRange, "unknown operator %s", e.Op)
}

func markOf(v cty.Value) cty.ValueMarks {
	_, m := v.Unmark()
	return m
}

// concat joins two strings, or a string and a secret into a secret.
func concat(lhs, rhs cty.Value, rhsRange, opRange hcl.Range) (cty.Value, hcl.Diagnostics) {
	l, lm := lhs.Unmark()
	r, rm := rhs.Unmark()
	if r.Type() != cty.String && r.Type() != cty.DynamicPseudoType || r.IsNull() {
		return cty.DynamicVal, evalError(rhsRange, "expected %s, got %s", value.TypeName(lhs), value.TypeName(rhs))
	}
	if l.IsNull() {
		return cty.DynamicVal, evalError(rhsRange, "expected string, got null")
	}
	if !l.IsKnown() || !r.IsKnown() {
		return cty.UnknownVal(cty.String).WithMarks(lm, rm), nil
	}
	if len(l.AsString())+len(r.AsString()) > MaxStringBytes {
		return cty.DynamicVal, evalError(opRange, "+: the string would be longer than %d MiB", MaxStringBytes>>20)
	}
	return cty.StringVal(l.AsString()+r.AsString()).WithMarks(lm, rm), nil
}

// compare orders two numbers or two strings.
func (e *BinaryExpr) compare(lhs, rhs cty.Value) (cty.Value, hcl.Diagnostics) {
	l, lm := lhs.Unmark()
	r, rm := rhs.Unmark()
	lr, rr := e.LHS.Range(), e.RHS.Range()
	want := l.Type()
	if want == cty.DynamicPseudoType {
		want = r.Type()
	}
	switch want {
	case cty.DynamicPseudoType:
		return cty.UnknownVal(cty.Bool).WithMarks(lm, rm), nil
	case cty.Number, cty.String:
	default:
		return cty.DynamicVal, evalError(lr, "expected number or string, got %s", value.TypeName(lhs))
	}
	if d := append(checkType(l, want, lr), checkType(r, want, rr)...); d != nil {
		return cty.DynamicVal, d
	}
	if !l.IsKnown() || !r.IsKnown() {
		return cty.UnknownVal(cty.Bool).WithMarks(lm, rm), nil
	}
	var c int
	if want == cty.Number {
		c = l.AsBigFloat().Cmp(r.AsBigFloat())
	} else {
		c = strings.Compare(l.AsString(), r.AsString())
	}
	var res bool
	switch e.Op {
	case LT:
		res = c < 0
	case LTE:
		res = c <= 0
	case GT:
		res = c > 0
	case GTE:
		res = c >= 0
	}
	return cty.BoolVal(res).WithMarks(lm, rm), nil
}

// equals compares any two values: different types are unequal, except that
// arrays compare item by item and objects key by key whatever their cty
// types (a tuple literal equals a list export with the same items).
func equals(a, b cty.Value) cty.Value {
	a, am := a.Unmark()
	b, bm := b.Unmark()
	remark := func(v cty.Value) cty.Value { return v.WithMarks(am, bm) }
	switch {
	case !a.IsKnown() || !b.IsKnown():
		return remark(cty.UnknownVal(cty.Bool))
	case a.IsNull() || b.IsNull():
		return remark(cty.BoolVal(a.IsNull() && b.IsNull()))
	case a.Type().Equals(b.Type()):
		return remark(a.Equals(b))
	}
	at, bt := a.Type(), b.Type()
	isArray := func(t cty.Type) bool { return t.IsListType() || t.IsTupleType() || t.IsSetType() }
	isObject := func(t cty.Type) bool { return t.IsObjectType() || t.IsMapType() }
	switch {
	case isArray(at) && isArray(bt):
		if a.LengthInt() != b.LengthInt() {
			return remark(cty.False)
		}
		result := cty.True
		ai, bi := a.ElementIterator(), b.ElementIterator()
		for ai.Next() && bi.Next() {
			_, av := ai.Element()
			_, bv := bi.Element()
			result = result.And(equals(av, bv))
		}
		return remark(result)
	case isObject(at) && isObject(bt):
		if a.LengthInt() != b.LengthInt() {
			return remark(cty.False)
		}
		result := cty.True
		for it := a.ElementIterator(); it.Next(); {
			k, av := it.Element()
			if !b.Type().IsObjectType() && !b.HasIndex(k).True() ||
				b.Type().IsObjectType() && !b.Type().HasAttribute(k.AsString()) {
				return remark(cty.False)
			}
			var bv cty.Value
			if b.Type().IsObjectType() {
				bv = b.GetAttr(k.AsString())
			} else {
				bv = b.Index(k)
			}
			result = result.And(equals(av, bv))
		}
		return remark(result)
	}
	return remark(cty.False)
}

// power computes lhs ^ rhs. Whole numbers raised to whole non-negative
// powers are exact (3 ^ 40 keeps every digit); anything else goes through
// float64.
func power(lhs, rhs cty.Value, rng hcl.Range) (cty.Value, hcl.Diagnostics) {
	l, lm := lhs.Unmark()
	r, rm := rhs.Unmark()
	if !l.IsKnown() || !r.IsKnown() {
		return cty.UnknownVal(cty.Number).WithMarks(lm, rm), nil
	}
	lf, rf := l.AsBigFloat(), r.AsBigFloat()
	if lf.IsInt() && rf.IsInt() && rf.Sign() >= 0 {
		base, _ := lf.Int(nil)
		exp, _ := rf.Int(nil)
		absBase := new(big.Int).Abs(base)
		switch {
		case absBase.Cmp(big.NewInt(1)) <= 0 || exp.Sign() == 0:
			// 0, 1 and -1 to any power, and anything to the power 0.
			res := big.NewInt(1)
			switch {
			case exp.Sign() == 0:
			case base.Sign() == 0:
				res.SetInt64(0)
			case base.Sign() < 0 && exp.Bit(0) == 1:
				res.SetInt64(-1)
			}
			return cty.NumberVal(new(big.Float).SetInt(res)).WithMarks(lm, rm), nil
		case exp.IsInt64() && exp.Int64() <= MaxNumberBits && int64(absBase.BitLen())*exp.Int64() <= MaxNumberBits:
			res := new(big.Int).Exp(base, exp, nil)
			return cty.NumberVal(new(big.Float).SetInt(res)).WithMarks(lm, rm), nil
		}
		return cty.DynamicVal, evalError(rng, "^: result is out of range")
	}
	x, _ := lf.Float64()
	y, _ := rf.Float64()
	res := math.Pow(x, y)
	if math.IsInf(res, 0) || math.IsNaN(res) {
		return cty.DynamicVal, evalError(rng, "^: result is out of range")
	}
	return cty.NumberFloatVal(res).WithMarks(lm, rm), nil
}

// mismatch explains why v is not of type want, or returns "" if it is.
// Unlike cty's conversions it never turns a number into a string or back:
// River's types are strict, so string.to_upper(5) is an error.
func mismatch(v cty.Value, want cty.Type) string {
	u, _ := v.Unmark()
	got := u.Type()
	switch {
	case want == cty.DynamicPseudoType || got == cty.DynamicPseudoType:
		return ""
	case u.IsNull():
		return ""
	case want.IsPrimitiveType():
		if got != want {
			return fmt.Sprintf("expected %s, got %s", value.TypeString(want), value.TypeName(v))
		}
		return ""
	case want.IsListType() || want.IsSetType():
		if !got.IsListType() && !got.IsTupleType() && !got.IsSetType() {
			return fmt.Sprintf("expected %s, got %s", value.TypeString(want), value.TypeName(v))
		}
		if !u.IsKnown() {
			return ""
		}
		i := 0
		for it := u.ElementIterator(); it.Next(); i++ {
			_, ev := it.Element()
			if msg := mismatch(ev, want.ElementType()); msg != "" {
				return fmt.Sprintf("item %d: %s", i+1, msg)
			}
		}
		return ""
	case want.IsMapType():
		if !got.IsMapType() && !got.IsObjectType() {
			return fmt.Sprintf("expected %s, got %s", value.TypeString(want), value.TypeName(v))
		}
		if !u.IsKnown() {
			return ""
		}
		for it := u.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			if msg := mismatch(ev, want.ElementType()); msg != "" {
				return fmt.Sprintf("key %q: %s", k.AsString(), msg)
			}
		}
		return ""
	}
	return "" // other types: leave it to the conversion
}

// evalAll evaluates every expression of a list (array items, call
// arguments), collecting all of their diagnostics.
func (ev *evaluator) evalAll(exprs []hcl.Expression) ([]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	vals := make([]cty.Value, len(exprs))
	for i, x := range exprs {
		v, d := ev.eval(x)
		diags = append(diags, d...)
		vals[i] = v
		if len(diags) >= MaxErrors {
			return vals, tooManyErrors(diags, exprs[len(exprs)-1].Range())
		}
	}
	return vals, diags
}

// tooManyErrors ends diags, which has MaxErrors or more, with one saying
// the rest of the list was not evaluated: a list of a hundred thousand bad
// items would otherwise make as many diagnostics.
func tooManyErrors(diags hcl.Diagnostics, rng hcl.Range) hcl.Diagnostics {
	return append(diags[:MaxErrors:MaxErrors], &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("too many errors; only the first %d in this expression are reported", MaxErrors),
		Subject:  rng.Ptr(),
	})
}
