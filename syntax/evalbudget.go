package syntax

import (
	"fmt"
	"reflect"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Evaluation is linear in the config, with one exception: work on large
// values. A 7-byte verb of string.format writes up to 10,000 bytes, + joins
// two 16 MiB strings, `x == x` walks all of x, and an export can be
// megabytes: each is bounded, but a config can repeat it a hundred thousand
// times. An EvalBudget bounds the total: every node evaluated, every array
// item and object attribute, every byte of a string + builds, every value a
// function returns (its strings' bytes and its items) and both sides of a
// comparison are charged, in bytes, and evaluation stops with an error where
// the budget runs out. The budget is EvalBytesPerByte per byte of config,
// plus EvalBytesBase for the data a config processes from its components'
// exports (a targets file decoded with encoding.from_json); a generated 2 MB
// config of 7,000 components spends about 2 bytes per byte.
const (
	EvalBytesPerByte = 16
	EvalBytesBase    = 64 << 20
)

// Costs charged besides the values built: a node evaluated, an array item
// (or a list element returned or compared), an object attribute.
const (
	nodeCost    = 16
	elementCost = 32
)

// An EvalBudget is the work an evaluation may still do, in bytes of values
// built or walked. The runtime gives a load (or validation) one budget for
// all its components, and each later evaluation of a component its own; an
// expression evaluated in a context without one gets a budget of its own
// (NewEvalBudget of its source's length). A budget is used by one goroutine
// at a time.
type EvalBudget struct {
	limit, left int64
	reported    bool
}

// NewEvalBudget returns the budget of evaluating a config of size bytes.
func NewEvalBudget(size int) *EvalBudget {
	n := int64(EvalBytesPerByte)*int64(size) + EvalBytesBase
	return &EvalBudget{limit: n, left: n}
}

// Exhausted reports whether the budget has run out: an evaluation has
// failed with an error saying so, and further ones return unknown values.
func (b *EvalBudget) Exhausted() bool { return b.left < 0 }

// Spent returns the bytes charged so far.
func (b *EvalBudget) Spent() int64 { return b.limit - b.left }

var budgetType = cty.Capsule("evaluation budget", reflect.TypeOf(EvalBudget{}))

// budgetVar holds a context's budget: "" is no identifier, so no config can
// refer to it, and variableNames leaves it out.
const budgetVar = ""

// WithBudget returns a child of ctx whose evaluations spend b.
func WithBudget(ctx *hcl.EvalContext, b *EvalBudget) *hcl.EvalContext {
	var child *hcl.EvalContext
	if ctx == nil {
		child = &hcl.EvalContext{}
	} else {
		child = ctx.NewChild()
	}
	SetBudget(child, b)
	return child
}

// SetBudget makes evaluations in ctx (and its children) spend b. It adds to
// ctx.Variables, so ctx must be the caller's own, not a shared parent; it
// saves the allocations of WithBudget's extra context.
func SetBudget(ctx *hcl.EvalContext, b *EvalBudget) {
	if ctx.Variables == nil {
		ctx.Variables = make(map[string]cty.Value, 1)
	}
	ctx.Variables[budgetVar] = cty.CapsuleVal(budgetType, b)
}

func budgetOf(ctx *hcl.EvalContext) *EvalBudget {
	if v, ok := lookupVariable(ctx, budgetVar); ok && v.Type().Equals(budgetType) {
		return v.EncapsulatedValue().(*EvalBudget)
	}
	return nil
}

// evaluator evaluates the nodes of one expression, spending one budget.
type evaluator struct {
	ctx *hcl.EvalContext
	b   *EvalBudget
}

// evaluate is the Value of every node: it finds ctx's budget (or makes
// one for e alone) and evaluates e.
func evaluate(ctx *hcl.EvalContext, e hcl.Expression) (cty.Value, hcl.Diagnostics) {
	b := budgetOf(ctx)
	if b == nil {
		r := e.Range()
		b = NewEvalBudget(r.End.Byte - r.Start.Byte)
	}
	ev := evaluator{ctx: ctx, b: b}
	return ev.eval(e)
}

func (ev *evaluator) eval(e hcl.Expression) (cty.Value, hcl.Diagnostics) {
	switch e := e.(type) {
	case *LiteralExpr:
		return e.Val, nil
	case *BadExpr:
		return cty.DynamicVal, nil
	}
	if ev.b.Exhausted() {
		return cty.DynamicVal, nil // reported where it ran out
	}
	if d := ev.spend(nodeCost, e.Range()); d != nil {
		return cty.DynamicVal, d
	}
	switch e := e.(type) {
	case *ArrayExpr:
		return ev.array(e)
	case *ObjectExpr:
		return ev.object(e)
	case *ScopeTraversalExpr:
		return ev.traversal(e)
	case *AccessExpr:
		return ev.access(e)
	case *IndexExpr:
		return ev.index(e)
	case *CallExpr:
		return ev.call(e)
	case *UnaryExpr:
		return ev.unary(e)
	case *BinaryExpr:
		return ev.binary(e)
	case *ParenExpr:
		return ev.eval(e.Inner)
	case nil:
		return cty.DynamicVal, nil
	}
	return e.Value(ev.ctx) // an expression from elsewhere (hcl's own, in tools)
}

// spend charges n bytes, returning the error once the budget runs out.
func (ev *evaluator) spend(n int64, rng hcl.Range) hcl.Diagnostics {
	b := ev.b
	b.left -= n
	if b.left >= 0 || b.reported {
		return nil
	}
	b.reported = true
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary: fmt.Sprintf("evaluation budget exhausted: this config builds or compares more than %d MiB of values (%d bytes per byte of config, plus %d MiB)",
			b.limit>>20, EvalBytesPerByte, EvalBytesBase>>20),
		Detail: "an expression repeats large work: a function building long strings (string.format widths, string.replace), " +
			"+ joining large strings, or converting or comparing a large value, many times over; do it once",
		Subject: rng.Ptr(),
	}}
}

// valueCost is what building (or walking) v costs: its strings' bytes and
// elementCost per item, counted up to limit (the walk stops there).
func valueCost(v cty.Value, limit int64) int64 {
	var n int64
	var walk func(v cty.Value)
	walk = func(v cty.Value) {
		if n > limit {
			return
		}
		v, _ = v.Unmark()
		if !v.IsKnown() || v.IsNull() {
			return
		}
		t := v.Type()
		switch {
		case t == cty.String:
			n += int64(len(v.AsString()))
		case t.IsListType(), t.IsTupleType(), t.IsSetType(), t.IsMapType(), t.IsObjectType():
			for it := v.ElementIterator(); it.Next() && n <= limit; {
				_, ev := it.Element()
				n += elementCost
				walk(ev)
			}
		}
	}
	walk(v)
	return n
}
