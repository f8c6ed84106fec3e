package syntax

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// The expression node types. Each is an hcl.Expression; evaluation lives in
// eval.go. Fields are exported so the formatter and tools can walk the tree.

// LiteralExpr is a string, raw string, number, bool or null literal.
type LiteralExpr struct {
	Val cty.Value
	// Token is the literal as written, so a formatter keeps a string's
	// escapes and a number's spelling; its Range is the expression's.
	Token Token
}

// ArrayExpr is `[a, b, c]`.
type ArrayExpr struct {
	Items    []hcl.Expression
	SrcRange hcl.Range // brackets included
}

// ObjectItem is one `key = value` of an ObjectExpr.
type ObjectItem struct {
	Key string
	// KeyToken is the key as written: an IDENT or a STRING.
	KeyToken Token
	Value    hcl.Expression
}

// ObjectExpr is `{ key = v, "quoted.key" = v }`.
type ObjectExpr struct {
	Items    []ObjectItem
	SrcRange hcl.Range // braces included
}

// ScopeTraversalExpr is a reference such as `aws.credentials.default.token`:
// a root name followed by attribute steps. An index or a call ends it, so
// `a.b[0].c` is an AccessExpr over an IndexExpr over the reference `a.b`.
type ScopeTraversalExpr struct {
	Traversal hcl.Traversal
	SrcRange  hcl.Range
}

// AccessExpr is `.name` applied to an expression that is not a plain
// reference, such as `f(x).name` or `x[0].name`.
type AccessExpr struct {
	Source    hcl.Expression
	Name      string
	NameRange hcl.Range
	SrcRange  hcl.Range
}

// IndexExpr is `collection[key]`.
type IndexExpr struct {
	Collection hcl.Expression
	Key        hcl.Expression
	// BracketRange covers `[key]`.
	BracketRange hcl.Range
	SrcRange     hcl.Range
}

// CallExpr is a function call; Name is the full dotted name as written, such
// as "string.format", looked up as is in the EvalContext's Functions.
type CallExpr struct {
	Name      string
	NameRange hcl.Range
	// Callee is the parenthesized name, such as `(string.format)`, when the
	// call was written so; nil for a plain name.
	Callee hcl.Expression
	Args   []hcl.Expression
	// ArgsRange covers the parentheses and everything between them.
	ArgsRange hcl.Range
	SrcRange  hcl.Range
}

// UnaryExpr is `!x` or `-x`.
type UnaryExpr struct {
	Op       TokenType // NOT or SUB
	OpRange  hcl.Range
	Operand  hcl.Expression
	SrcRange hcl.Range
}

// BinaryExpr is `lhs op rhs`.
type BinaryExpr struct {
	Op       TokenType
	OpRange  hcl.Range
	LHS, RHS hcl.Expression
	SrcRange hcl.Range
}

// ParenExpr is `(inner)`, kept so a formatter can keep the parentheses.
type ParenExpr struct {
	Inner    hcl.Expression
	SrcRange hcl.Range
}

// BadExpr stands where the parser found no valid expression. The parser has
// already reported why; evaluating it gives an unknown value and no further
// diagnostics.
type BadExpr struct {
	SrcRange hcl.Range
}

// Ranges.

func (e *LiteralExpr) Range() hcl.Range        { return e.Token.Range }
func (e *ArrayExpr) Range() hcl.Range          { return e.SrcRange }
func (e *ObjectExpr) Range() hcl.Range         { return e.SrcRange }
func (e *ScopeTraversalExpr) Range() hcl.Range { return e.SrcRange }
func (e *AccessExpr) Range() hcl.Range         { return e.SrcRange }
func (e *IndexExpr) Range() hcl.Range          { return e.SrcRange }
func (e *CallExpr) Range() hcl.Range           { return e.SrcRange }
func (e *UnaryExpr) Range() hcl.Range          { return e.SrcRange }
func (e *BinaryExpr) Range() hcl.Range         { return e.SrcRange }
func (e *ParenExpr) Range() hcl.Range          { return e.SrcRange }
func (e *BadExpr) Range() hcl.Range            { return e.SrcRange }

// StartRange is the part of an expression an error about the whole points at.

func (e *LiteralExpr) StartRange() hcl.Range        { return e.Token.Range }
func (e *ArrayExpr) StartRange() hcl.Range          { return startChar(e.SrcRange) }
func (e *ObjectExpr) StartRange() hcl.Range         { return startChar(e.SrcRange) }
func (e *ScopeTraversalExpr) StartRange() hcl.Range { return e.SrcRange }
func (e *AccessExpr) StartRange() hcl.Range         { return e.NameRange }
func (e *IndexExpr) StartRange() hcl.Range          { return e.BracketRange }
func (e *CallExpr) StartRange() hcl.Range {
	return hcl.RangeBetween(e.NameRange, startChar(e.ArgsRange))
}
func (e *UnaryExpr) StartRange() hcl.Range  { return e.OpRange }
func (e *BinaryExpr) StartRange() hcl.Range { return e.OpRange }
func (e *ParenExpr) StartRange() hcl.Range  { return startChar(e.SrcRange) }
func (e *BadExpr) StartRange() hcl.Range    { return e.SrcRange }

// startChar is the first character of r, such as an opening bracket.
func startChar(r hcl.Range) hcl.Range {
	end := r.Start
	if r.End.Byte > r.Start.Byte {
		end.Byte++
		end.Column++
	}
	return hcl.Range{Filename: r.Filename, Start: r.Start, End: end}
}

// Variables returns every reference in the expression, in source order: the
// runtime builds the component graph from them.

func (e *LiteralExpr) Variables() []hcl.Traversal        { return nil }
func (e *ArrayExpr) Variables() []hcl.Traversal          { return collectVariables(nil, e) }
func (e *ObjectExpr) Variables() []hcl.Traversal         { return collectVariables(nil, e) }
func (e *ScopeTraversalExpr) Variables() []hcl.Traversal { return []hcl.Traversal{e.Traversal} }
func (e *AccessExpr) Variables() []hcl.Traversal         { return collectVariables(nil, e) }
func (e *IndexExpr) Variables() []hcl.Traversal          { return collectVariables(nil, e) }
func (e *CallExpr) Variables() []hcl.Traversal           { return collectVariables(nil, e) }
func (e *UnaryExpr) Variables() []hcl.Traversal          { return collectVariables(nil, e) }
func (e *BinaryExpr) Variables() []hcl.Traversal         { return collectVariables(nil, e) }
func (e *ParenExpr) Variables() []hcl.Traversal          { return collectVariables(nil, e) }
func (e *BadExpr) Variables() []hcl.Traversal            { return nil }

// collectVariables appends the references in e to dst. One walk with one
// slice, rather than each node merging its children's slices.
func collectVariables(dst []hcl.Traversal, e hcl.Expression) []hcl.Traversal {
	switch e := e.(type) {
	case *ScopeTraversalExpr:
		dst = append(dst, e.Traversal)
	case *ArrayExpr:
		for _, it := range e.Items {
			dst = collectVariables(dst, it)
		}
	case *ObjectExpr:
		for _, it := range e.Items {
			dst = collectVariables(dst, it.Value)
		}
	case *AccessExpr:
		dst = collectVariables(dst, e.Source)
	case *IndexExpr:
		dst = collectVariables(dst, e.Collection)
		dst = collectVariables(dst, e.Key)
	case *CallExpr:
		for _, a := range e.Args {
			dst = collectVariables(dst, a)
		}
	case *UnaryExpr:
		dst = collectVariables(dst, e.Operand)
	case *BinaryExpr:
		dst = collectVariables(dst, e.LHS)
		dst = collectVariables(dst, e.RHS)
	case *ParenExpr:
		dst = collectVariables(dst, e.Inner)
	case *LiteralExpr, *BadExpr, nil:
	default:
		// An expression from elsewhere (hcl's own, in tests or tools).
		dst = append(dst, e.Variables()...)
	}
	return dst
}

// Hooks for hcl's static analysis helpers (hcl.AbsTraversalForExpr,
// hcl.ExprList, hcl.ExprMap, hcl.ExprCall, hcl.UnwrapExpression), so
// decoders written against plain hcl work with River expressions.

// AsTraversal returns the reference.
func (e *ScopeTraversalExpr) AsTraversal() hcl.Traversal { return e.Traversal }

// ExprList returns the array's items.
func (e *ArrayExpr) ExprList() []hcl.Expression {
	if e.Items == nil {
		return []hcl.Expression{}
	}
	return e.Items
}

// ExprMap returns the object's items, keys as string literals.
func (e *ObjectExpr) ExprMap() []hcl.KeyValuePair {
	out := make([]hcl.KeyValuePair, len(e.Items))
	for i, it := range e.Items {
		out[i] = hcl.KeyValuePair{
			Key:   &LiteralExpr{Val: cty.StringVal(it.Key), Token: it.KeyToken},
			Value: it.Value,
		}
	}
	return out
}

// ExprCall returns the call's name and arguments.
func (e *CallExpr) ExprCall() *hcl.StaticCall {
	return &hcl.StaticCall{Name: e.Name, NameRange: e.NameRange, Arguments: e.Args, ArgsRange: e.ArgsRange}
}

// UnwrapExpression returns the expression inside the parentheses.
func (e *ParenExpr) UnwrapExpression() hcl.Expression { return e.Inner }

// Compile-time checks that every node is an hcl.Expression.
var (
	_ hcl.Expression = (*LiteralExpr)(nil)
	_ hcl.Expression = (*ArrayExpr)(nil)
	_ hcl.Expression = (*ObjectExpr)(nil)
	_ hcl.Expression = (*ScopeTraversalExpr)(nil)
	_ hcl.Expression = (*AccessExpr)(nil)
	_ hcl.Expression = (*IndexExpr)(nil)
	_ hcl.Expression = (*CallExpr)(nil)
	_ hcl.Expression = (*UnaryExpr)(nil)
	_ hcl.Expression = (*BinaryExpr)(nil)
	_ hcl.Expression = (*ParenExpr)(nil)
	_ hcl.Expression = (*BadExpr)(nil)
)
