package syntax

import "github.com/hashicorp/hcl/v2"

// Calls calls f for every function call in e, outermost first. The tree's
// depth is bounded by the parser (see limits), so the recursion is too.
func Calls(e hcl.Expression, f func(*CallExpr)) {
	switch e := e.(type) {
	case *CallExpr:
		f(e)
		for _, a := range e.Args {
			Calls(a, f)
		}
	case *ArrayExpr:
		for _, it := range e.Items {
			Calls(it, f)
		}
	case *ObjectExpr:
		for _, it := range e.Items {
			Calls(it.Value, f)
		}
	case *AccessExpr:
		Calls(e.Source, f)
	case *IndexExpr:
		Calls(e.Collection, f)
		Calls(e.Key, f)
	case *UnaryExpr:
		Calls(e.Operand, f)
	case *BinaryExpr:
		// + chains are left-deep and may be long: walk the left spine in a
		// loop, as evaluation does.
		for {
			Calls(e.RHS, f)
			l, ok := e.LHS.(*BinaryExpr)
			if !ok {
				Calls(e.LHS, f)
				return
			}
			e = l
		}
	case *ParenExpr:
		Calls(e.Inner, f)
	}
}

// Walk calls f for every attribute in body, nested blocks included, in
// source order. It is the one walk over a config's attributes: references,
// unknown values, secrets and function calls are all found through it. The
// nesting depth is bounded by the parser (see limits), so the recursion is too.
func Walk(body *Body, f func(*Attribute)) {
	if body == nil {
		return
	}
	for _, s := range body.Stmts {
		switch s := s.(type) {
		case *Attribute:
			f(s)
		case *Block:
			Walk(s.Body, f)
		}
	}
}
