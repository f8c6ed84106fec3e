package format

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/flow-telemetry/flow/syntax"
)

// walker sends a file's tokens to the printer in order, with the layout
// rules of Alloy's formatter:
//
//   - statements one per line; a block is always preceded by a blank line
//     (unless it is the first statement of its body), any other statement
//     by a blank line only if the source had one;
//   - "=" of consecutive one-line attributes (and object items) aligned; a
//     statement spanning several lines ends the run;
//   - a block body indented one tab; an empty block is "{ }";
//   - array elements, object items and call arguments stay on the line they
//     were on: one written on a new line in the source goes on a new line,
//     indented; a list whose closer is on its own line gets a trailing comma,
//     one whose closer follows the last element gets none;
//   - one space around binary operators and after commas, none inside
//     brackets: [a, b], {a = 1}, f(x).
type walker struct {
	p   *printer
	src []byte
	err error
}

func (w *walker) stmts(ss []syntax.Stmt) {
	for i, s := range ss {
		spaced := false
		if _, isBlock := s.(*syntax.Block); isBlock && i > 0 {
			w.p.space(spFormfeed)
			spaced = true
		}
		if i > 0 && !spaced && startLine(s.StmtRange())-stmtEndLine(ss[i-1]) > 1 {
			w.p.space(spFormfeed)
		}
		w.stmt(s)
		// A statement written over several lines ends the alignment run.
		if stmtEndLine(s) > startLine(s.StmtRange()) {
			w.p.space(spFormfeed)
		} else {
			w.p.space(spNewline)
		}
	}
}

func (w *walker) stmt(s syntax.Stmt) {
	switch s := s.(type) {
	case *syntax.Attribute:
		w.p.at(start(s.NameRange))
		w.p.word(s.Name)
		w.p.space(spVTab)
		w.p.token("=")
		w.p.space(spBlank)
		w.expr(s.Expr)
	case *syntax.Block:
		w.block(s)
	default:
		w.fail(s)
	}
}

func (w *walker) block(b *syntax.Block) {
	w.p.at(start(b.NameRange))
	w.p.word(b.Name)
	if b.HasLabel {
		w.p.space(spBlank)
		w.p.at(start(b.LabelRange))
		w.p.literal(w.text(b.LabelRange), false)
	}
	w.p.space(spBlank)
	w.p.at(start(b.OpenBraceRange))
	w.p.token("{")
	w.p.space(spIndent)
	if len(b.Body.Stmts) > 0 {
		w.p.space(spFormfeed)
		w.stmts(b.Body.Stmts)
	} else {
		w.p.space(spBlank)
	}
	w.p.space(spUnindent)
	w.p.at(start(b.CloseBraceRange))
	w.p.token("}")
}

func (w *walker) expr(e hcl.Expression) {
	switch e := e.(type) {
	case *syntax.LiteralExpr:
		w.p.at(start(e.Token.Range))
		if e.Token.Type == syntax.IDENT { // true, false, null
			w.p.word(e.Token.Text)
		} else {
			w.p.literal(e.Token.Text, e.Token.Type == syntax.NUMBER)
		}
	case *syntax.ScopeTraversalExpr:
		w.traversal(e)
	case *syntax.AccessExpr:
		w.expr(e.Source)
		w.p.token(".")
		w.p.word(e.Name)
	case *syntax.IndexExpr:
		w.expr(e.Collection)
		w.p.at(start(e.BracketRange))
		w.p.token("[")
		w.expr(e.Key)
		w.p.at(lastChar(e.BracketRange))
		w.p.token("]")
	case *syntax.CallExpr:
		w.call(e)
	case *syntax.UnaryExpr:
		w.p.at(start(e.OpRange))
		w.p.token(e.Op.String())
		w.expr(e.Operand)
	case *syntax.BinaryExpr:
		w.expr(e.LHS)
		w.p.space(spBlank)
		w.p.at(start(e.OpRange))
		w.p.token(e.Op.String())
		w.p.space(spBlank)
		w.expr(e.RHS)
	case *syntax.ParenExpr:
		// Alloy's printer gives the parentheses no position of their own.
		w.p.token("(")
		w.expr(e.Inner)
		w.p.token(")")
	case *syntax.ArrayExpr:
		w.array(e)
	case *syntax.ObjectExpr:
		w.object(e)
	default:
		w.fail(e)
	}
}

// traversal writes a reference: its root at its position, the rest of the
// steps after it.
func (w *walker) traversal(e *syntax.ScopeTraversalExpr) {
	for _, step := range e.Traversal {
		switch step := step.(type) {
		case hcl.TraverseRoot:
			w.p.at(start(step.SrcRange))
			w.p.word(step.Name)
		case hcl.TraverseAttr:
			w.p.token(".")
			w.p.word(step.Name)
		default:
			w.fail(step)
			return
		}
	}
}

func (w *walker) call(e *syntax.CallExpr) {
	if e.Callee != nil { // (string.format)(…)
		w.expr(e.Callee)
	} else {
		for i, part := range strings.Split(e.Name, ".") {
			if i == 0 {
				w.p.at(start(e.NameRange))
			} else {
				w.p.token(".")
			}
			w.p.word(part)
		}
	}
	w.p.token("(")
	prevLine := e.ArgsRange.Start.Line
	for i, arg := range e.Args {
		newLine := arg.Range().Start.Line != prevLine
		if newLine {
			w.p.space(spFormfeed, spIndent)
		}
		w.expr(arg)
		prevLine = arg.Range().End.Line
		if i+1 < len(e.Args) {
			w.p.token(",")
			w.p.space(spBlank)
		}
		if newLine {
			w.p.space(spUnindent)
		}
	}
	// Alloy writes the trailing comma even with no arguments, giving "f(,"
	// which does not parse; a call without arguments gets none here.
	if len(e.Args) > 0 && lastChar(e.ArgsRange).line != prevLine {
		w.p.token(",")
		w.p.space(spFormfeed)
	}
	// Alloy's printer gives the ")" no position of its own, so a comment
	// after the last argument ("x, // why") comes out after the ")", and
	// on later runs on a line of its own. Placed at its position, the ")"
	// keeps the comment inside; files alloy fmt leaves unchanged have no
	// comment there, so they come out the same.
	w.p.at(lastChar(e.ArgsRange))
	w.p.token(")")
}

func (w *walker) array(e *syntax.ArrayExpr) {
	w.p.at(start(e.SrcRange))
	w.p.token("[")
	prevLine := e.SrcRange.Start.Line
	for i, el := range e.Items {
		// The indentation comes before the line break, so that comments
		// written at the break are indented like the element.
		newLine := el.Range().Start.Line != prevLine
		if newLine {
			w.p.space(spIndent, spFormfeed)
		} else if i > 0 {
			w.p.space(spBlank)
		}
		prevLine = el.Range().End.Line
		w.expr(el)
		if i+1 < len(e.Items) {
			w.p.token(",")
		}
		if newLine {
			w.p.space(spUnindent)
		}
	}
	closer := lastChar(e.SrcRange)
	if len(e.Items) > 0 && closer.line != prevLine {
		// Indented, so that comments after the last element are.
		w.p.token(",")
		w.p.space(spIndent, spFormfeed, spUnindent)
	}
	w.p.at(closer)
	w.p.token("]")
}

func (w *walker) object(e *syntax.ObjectExpr) {
	w.p.at(start(e.SrcRange))
	w.p.token("{")
	w.p.space(spIndent)
	prevLine := e.SrcRange.Start.Line
	for i, it := range e.Items {
		if it.KeyToken.Range.Start.Line != prevLine {
			// The "=" of items align unless the item before spans lines.
			if i > 0 && lines(e.Items[i-1].Value.Range()) == 1 {
				w.p.space(spNewline)
			} else {
				w.p.space(spFormfeed)
			}
		} else if i > 0 {
			w.p.space(spBlank)
		}
		// As in Alloy, the line that counts for what follows is the key's,
		// not the value's.
		prevLine = it.KeyToken.Range.End.Line
		w.p.at(start(it.KeyToken.Range))
		if it.KeyToken.Type == syntax.IDENT {
			w.p.word(it.KeyToken.Text)
		} else {
			w.p.literal(it.KeyToken.Text, false)
		}
		w.p.space(spVTab)
		w.p.token("=")
		w.p.space(spBlank)
		w.expr(it.Value)
		if i+1 < len(e.Items) {
			w.p.token(",")
		}
	}
	closer := lastChar(e.SrcRange)
	if len(e.Items) > 0 && closer.line != prevLine {
		w.p.token(",")
		w.p.space(spFormfeed)
	}
	w.p.space(spUnindent)
	w.p.at(closer)
	w.p.token("}")
}

// fail records a node the walker does not know, which would otherwise be
// dropped from the output. The parser makes none of these.
func (w *walker) fail(node any) {
	if w.err == nil {
		w.err = fmt.Errorf("cannot format a %T", node)
	}
}

// text is the source text of r.
func (w *walker) text(r hcl.Range) string {
	return string(w.src[r.Start.Byte:r.End.Byte])
}

func start(r hcl.Range) srcPos { return srcPos{off: r.Start.Byte, line: r.Start.Line} }

// lastChar is the position of r's last byte, such as a closing bracket.
func lastChar(r hcl.Range) srcPos { return srcPos{off: r.End.Byte - 1, line: r.End.Line} }

func startLine(r hcl.Range) int { return r.Start.Line }

// stmtEndLine is the line a statement ends on: its closing brace or the end
// of its value.
func stmtEndLine(s syntax.Stmt) int { return s.StmtRange().End.Line }

// lines is how many source lines r spans.
func lines(r hcl.Range) int { return r.End.Line - r.Start.Line + 1 }
