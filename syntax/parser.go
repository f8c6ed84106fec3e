package syntax

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// MaxDepth bounds nesting, so no input can exhaust the stack of the parser
// or of anything that walks the tree it builds (evaluation, reference
// collection, decoding, the formatter). Blocks inside blocks count one level
// each; inside an expression so does every operator, index, `.name` (in a
// reference too), call, bracket, brace and parenthesis: `!!x` is two levels
// below its attribute, and `a + b + c` is two as well, since a chain of
// operators is a tree as deep as the chain is long. The parser measures the
// depth of the tree it builds, not only its own recursion, and refuses a
// deeper one with a diagnostic. Real configurations nest a few levels.
const MaxDepth = 1000

// ParseFile parses a River file. It always returns a File, with as much of
// the source as could be understood, together with diagnostics for whatever
// could not; callers must not use the File when the diagnostics have errors.
// The parser keeps going after an error, reporting at most one per line.
//
// A file larger than MaxConfigBytes is refused unread, and one whose syntax
// tree would exceed its TreeBudget is refused where the budget runs out.
func ParseFile(src []byte, filename string) (*File, hcl.Diagnostics) {
	return ParseFileIn(src, filename, NewTreeBudget(len(src)))
}

// ParseFileIn is ParseFile spending budget, which the files of one config
// share (see NewTreeBudget).
func ParseFileIn(src []byte, filename string, budget *TreeBudget) (*File, hcl.Diagnostics) {
	if len(src) > MaxConfigBytes {
		return &File{Name: filename, Bytes: src, Body: &Body{}}, hcl.Diagnostics{tooLarge(filename, len(src), "the file")}
	}
	p := newParser(src, filename, hcl.InitialPos, false)
	p.budget = budget
	body := p.parseBody(nil)
	body.Range = hcl.Range{Filename: filename, Start: hcl.InitialPos, End: p.tok.Range.End}
	return &File{Name: filename, Bytes: src, Body: body, Comments: p.comments}, p.diagnostics()
}

// ParseExpression parses src as a single expression; start is the position
// of src's first byte in filename, so ranges point into the enclosing file.
// Newlines inside the expression are ignored.
func ParseExpression(src []byte, filename string, start hcl.Pos) (hcl.Expression, hcl.Diagnostics) {
	if len(src) > MaxConfigBytes {
		return &BadExpr{SrcRange: hcl.Range{Filename: filename, Start: start, End: start}}, hcl.Diagnostics{tooLarge(filename, len(src), "the expression")}
	}
	p := newParser(src, filename, start, true)
	p.budget = NewTreeBudget(len(src))
	expr, _ := p.parseExpr()
	if p.tok.Type != EOF {
		p.errorf(p.tok.Range, "extra characters after the expression: %s", describe(p.tok))
	}
	return expr, p.diagnostics()
}

type parser struct {
	s   *scanner
	tok Token // the current token; never a COMMENT

	// ignoreNL is set inside parentheses and brackets, where newlines do
	// not end anything; inside braces and at the top level they end
	// statements and separate object items.
	ignoreNL bool

	comments []Comment
	consumed int // tokens consumed so far, to guarantee progress
	// depth is the parser's current nesting: enclosing blocks and
	// expressions being parsed. A node of height h built at depth d lies
	// at most d+h levels deep, which must not exceed MaxDepth.
	depth    int
	unaryOps []Token // see parseUnary
	// budget bounds the syntax tree; once it is spent the parser sees only
	// EOF, and reports nothing more.
	budget *TreeBudget
	spent  bool
	// free is set while tokens are skipped rather than built into the tree
	// (error recovery, a unary run past MaxDepth): they cost no budget.
	free int
	// unclosedReported is set once a block reaches the end of the file
	// unclosed: its enclosing blocks are then unclosed too, which says
	// nothing new.
	unclosedReported bool
}

func newParser(src []byte, filename string, start hcl.Pos, ignoreNL bool) *parser {
	p := &parser{s: newScanner(src, filename, start), ignoreNL: ignoreNL}
	p.next()
	p.consumed = 0
	return p
}

func (p *parser) diagnostics() hcl.Diagnostics {
	diags := p.s.diags
	// The scanner runs a token ahead of the parser, so its diagnostics can
	// come before a parser diagnostic on an earlier line.
	sort.SliceStable(diags, func(i, j int) bool {
		return diags[i].Subject.Start.Byte < diags[j].Subject.Start.Byte
	})
	return diags
}

// next moves to the next token, collecting comments and, inside brackets,
// dropping newlines.
func (p *parser) next() {
	p.consumed++
	for {
		if p.spent || p.s.quiet {
			// Out of budget, or too many errors: the file is refused, and
			// reading on would only cost time.
			p.tok = Token{Type: EOF, Range: p.tok.Range}
			return
		}
		t := p.s.next()
		if p.budget != nil && p.free == 0 && !p.budget.charge(t.Type) {
			p.spent = true
			p.s.diags = append(p.s.diags, p.budget.errorAt(t.Range))
			p.s.quiet = true
			p.tok = Token{Type: EOF, Range: t.Range}
			return
		}
		switch t.Type {
		case COMMENT:
			p.comments = append(p.comments, Comment{Text: t.Text, Range: t.Range})
			continue
		case NEWLINE:
			if p.ignoreNL {
				continue
			}
		}
		p.tok = t
		return
	}
}

func (p *parser) skipNewlines() {
	for p.tok.Type == NEWLINE {
		p.next()
	}
}

func (p *parser) errorf(rng hcl.Range, format string, args ...any) {
	p.s.errorf(rng, format, args...)
}

// describe names a token for "got ..." in messages.
func describe(t Token) string {
	switch t.Type {
	case IDENT:
		return "identifier " + strconv.Quote(t.Text)
	case NUMBER, FLOAT:
		return "number " + t.Text
	case ILLEGAL:
		return strconv.Quote(t.Text)
	}
	return t.Type.describe()
}

// enter increments the nesting depth. When it is too deep it reports it and
// skips the bracketed group the current token opens, if any, so the
// enclosing levels see their own closing brackets and finish normally.
func (p *parser) enter() bool {
	if p.depth+1 >= MaxDepth { // the BadExpr returned instead is a level too
		p.errorDeep(p.tok.Range)
		p.skipGroup()
		return false
	}
	p.depth++
	return true
}

// tooDeep reports whether a node of height h, built now, would lie deeper
// than MaxDepth, reporting it at rng (the node's operator or bracket).
func (p *parser) tooDeep(h int, rng hcl.Range) bool {
	if p.depth+h <= MaxDepth {
		return false
	}
	p.errorDeep(rng)
	return true
}

func (p *parser) errorDeep(rng hcl.Range) {
	p.s.errorDetail(rng, fmt.Sprintf("nesting is too deep (more than %d levels)", MaxDepth),
		"every block, operator, index, call, bracket and parenthesis adds a level, so a chain such as a + b + c + … is as deep as it is long; "+
			"split the expression up, and join many strings with string.join([a, b, c], \"\") rather than a chain of +")
}

func (p *parser) leave() { p.depth-- }

// parseBody parses statements up to a "}" (for a block, open is its "{") or
// the end of the file (open is nil).
func (p *parser) parseBody(open *Token) *Body {
	body := &Body{}
	for {
		p.skipNewlines()
		switch p.tok.Type {
		case EOF:
			return body
		case RCURLY:
			if open != nil {
				return body
			}
			p.errorf(p.tok.Range, `unexpected "}": no block is open here`)
			p.next()
			continue
		}
		before := p.consumed
		if st := p.parseStmt(); st != nil {
			body.Stmts = append(body.Stmts, st)
		}
		if p.consumed == before {
			p.next() // never loop on a token nothing accepts
		}
	}
}

// parseStmt parses an attribute `name = expr` or a block `a.b "label" { }`.
// It returns nil after reporting an error.
func (p *parser) parseStmt() Stmt {
	if p.tok.Type != IDENT {
		p.errorf(p.tok.Range, "expected an attribute or block name, got %s", describe(p.tok))
		p.skipStatement()
		return nil
	}
	first := p.tok
	name := first.Text
	nameRange := first.Range
	var parts []string // only for dotted names
	p.next()
	for p.tok.Type == DOT {
		p.next()
		if p.tok.Type != IDENT {
			p.errorf(p.tok.Range, `expected an identifier after "." in the name %q, got %s`, name, describe(p.tok))
			p.skipStatement()
			return nil
		}
		if parts == nil {
			parts = append(parts, first.Text)
		}
		parts = append(parts, p.tok.Text)
		nameRange = hcl.RangeBetween(nameRange, p.tok.Range)
		p.next()
	}
	if parts != nil {
		name = strings.Join(parts, ".")
	}

	var label string
	var labelRange hcl.Range
	hasLabel := false
	switch p.tok.Type {
	case STRING:
		label, hasLabel, labelRange = unquote(p.tok.Text), true, p.tok.Range
		p.next()
		if p.tok.Type == STRING || p.tok.Type == RAWSTRING {
			p.errorf(p.tok.Range, "block %q has a second label: a block has at most one label", name)
			p.skipStatement()
			return nil
		}
	case RAWSTRING:
		p.errorf(p.tok.Range, "block labels must be double-quoted strings")
		p.skipStatement()
		return nil
	}

	switch p.tok.Type {
	case ASSIGN:
		return p.parseAttribute(name, nameRange, parts != nil, hasLabel)
	case LCURLY:
		return p.parseBlock(name, nameRange, label, hasLabel, labelRange)
	}
	p.errorf(p.tok.Range, "expected attribute assignment or block body after %q, got %s", name, describe(p.tok))
	p.skipStatement()
	return nil
}

func (p *parser) parseAttribute(name string, nameRange hcl.Range, dotted, hasLabel bool) Stmt {
	switch {
	case dotted:
		p.errorf(nameRange, "attribute names may only be a single identifier, not %q", name)
	case hasLabel:
		p.errorf(nameRange, "attribute names may not have labels (%q)", name)
	}
	p.next() // =; the value starts on the same line, so a missing one is reported here
	expr, _ := p.parseExpr()
	if p.tok.Type == LCURLY || (p.tok.Type == STRING && isReference(expr)) {
		p.errorf(p.tok.Range, "cannot use a block as an expression; a block is written without \"=\"")
		p.skipStatement()
		return nil
	}
	p.expectStmtEnd("the value of attribute ", name)
	if dotted || hasLabel {
		return nil
	}
	return &Attribute{
		Name:      name,
		NameRange: nameRange,
		Expr:      expr,
		Range:     hcl.RangeBetween(nameRange, expr.Range()),
	}
}

func isReference(e hcl.Expression) bool {
	_, ok := e.(*ScopeTraversalExpr)
	return ok
}

func (p *parser) parseBlock(name string, nameRange hcl.Range, label string, hasLabel bool, labelRange hcl.Range) Stmt {
	open := p.tok
	if !p.enter() {
		p.skipStatement()
		return nil
	}
	defer p.leave()
	p.next() // {
	body := p.parseBody(&open)
	block := &Block{
		Name:           name,
		NameRange:      nameRange,
		Label:          label,
		HasLabel:       hasLabel,
		LabelRange:     labelRange,
		Body:           body,
		OpenBraceRange: open.Range,
	}
	body.Range = hcl.Range{Filename: open.Range.Filename, Start: open.Range.End, End: p.tok.Range.Start}
	if p.tok.Type != RCURLY {
		if !p.unclosedReported {
			p.unclosedReported = true
			p.errorf(open.Range, `block %q is not terminated: expected "}" to close the "{" here, got %s`, name, describe(p.tok))
		}
		block.CloseBraceRange = hcl.Range{Filename: open.Range.Filename, Start: p.tok.Range.Start, End: p.tok.Range.Start}
		block.Range = hcl.RangeBetween(nameRange, block.CloseBraceRange)
		return block
	}
	block.CloseBraceRange = p.tok.Range
	block.Range = hcl.RangeBetween(nameRange, p.tok.Range)
	p.next()
	p.expectStmtEnd("the block ", name)
	return block
}

// skipGroup skips a bracketed group, "(" "[" or "{" to its matching
// closer, when the current token opens one.
func (p *parser) skipGroup() {
	p.free++
	defer func() { p.free-- }()
	saved := p.ignoreNL
	p.ignoreNL = true
	defer func() { p.ignoreNL = saved }()
	depth := 0
	for {
		switch p.tok.Type {
		case LCURLY, LBRACK, LPAREN:
			depth++
		case RCURLY, RBRACK, RPAREN:
			depth--
		case EOF:
			return
		}
		if depth <= 0 {
			if depth == 0 {
				p.next() // the closer; an unopened closer stays for the caller
			}
			return
		}
		p.next()
	}
}

// skipExprRest skips the rest of an expression after a depth error: up to a
// comma, a closing bracket or a newline that ends it, outside the brackets it
// opens itself. It returns the range of the last token skipped, or from if
// none was. Parsing what follows would only build a tree to throw away.
func (p *parser) skipExprRest(from hcl.Range) hcl.Range {
	p.free++
	defer func() { p.free-- }()
	last := from
	depth := 0
	afterOp := false // a newline after an operator continues the expression
	for {
		switch p.tok.Type {
		case EOF:
			return last
		case LCURLY, LBRACK, LPAREN:
			depth++
		case RCURLY, RBRACK, RPAREN:
			if depth == 0 {
				return last
			}
			depth--
		case COMMA:
			if depth == 0 {
				return last
			}
		case NEWLINE:
			if depth == 0 && !afterOp {
				return last
			}
		}
		if p.tok.Type != NEWLINE {
			afterOp = binaryPrec(p.tok.Type) > 0 || p.tok.Type == NOT || p.tok.Type == DOT
			last = p.tok.Range
		}
		p.next()
	}
}

// expectStmtEnd checks that a statement ends here: at a newline, the end of
// the file, or the "}" of a one-line block. The statement is named in the
// error by after and name, quoted ("the block " and its name).
func (p *parser) expectStmtEnd(after, name string) {
	switch p.tok.Type {
	case NEWLINE, EOF, RCURLY:
		return
	}
	// The message is built only here: every statement of every config
	// passes through this check.
	p.errorf(p.tok.Range, "expected a newline after %s%s, got %s", after, strconv.Quote(name), describe(p.tok))
	p.skipStatement()
}

// skipStatement skips to the end of the statement after an error: the next
// newline outside brackets, or an unmatched "}" (left for the enclosing block).
func (p *parser) skipStatement() {
	p.free++
	defer func() { p.free-- }()
	saved := p.ignoreNL
	p.ignoreNL = false
	defer func() { p.ignoreNL = saved }()
	depth := 0
	for {
		switch p.tok.Type {
		case EOF:
			return
		case NEWLINE:
			if depth == 0 {
				return
			}
		case LCURLY, LBRACK, LPAREN:
			depth++
		case RCURLY:
			if depth == 0 {
				return
			}
			depth--
		case RBRACK, RPAREN:
			if depth > 0 {
				depth--
			}
		}
		p.next()
	}
}

// Expressions. Each parse function returns the expression and the height of
// its tree (a literal is 1, `!x` one more than x), which tooDeep checks
// against MaxDepth as each node is built. Chains (`!!!x`, `a + b + c`,
// `x[0][1]`) are parsed by loops, so the parser's own recursion grows only
// with brackets, parentheses and right-associative `^`, each counted by enter.

func (p *parser) parseExpr() (hcl.Expression, int) { return p.parseBinary(1) }

// binaryPrec is the precedence of a binary operator, 0 for other tokens.
func binaryPrec(t TokenType) int {
	switch t {
	case OR:
		return 1
	case AND:
		return 2
	case EQ, NEQ, LT, LTE, GT, GTE:
		return 3
	case ADD, SUB:
		return 4
	case MUL, DIV, MOD:
		return 5
	case POW:
		return 6
	}
	return 0
}

// parseBinary parses operators of precedence minPrec and higher by
// precedence climbing. "^" is right-associative, the rest left.
func (p *parser) parseBinary(minPrec int) (hcl.Expression, int) {
	if start := p.tok.Range; !p.enter() {
		return &BadExpr{SrcRange: start}, 1
	}
	defer p.leave()
	lhs, h := p.parseUnary()
	for {
		prec := binaryPrec(p.tok.Type)
		if prec == 0 || prec < minPrec {
			return lhs, h
		}
		op := p.tok
		p.next()
		p.skipNewlines() // an operator at the end of a line continues the expression
		next := prec + 1
		if op.Type == POW {
			next = prec
		}
		rhs, rh := p.parseBinary(next)
		rng := hcl.RangeBetween(lhs.Range(), rhs.Range())
		if p.tooDeep(max(h, rh)+1, op.Range) {
			return &BadExpr{SrcRange: hcl.RangeBetween(rng, p.skipExprRest(rng))}, 1
		}
		lhs = &BinaryExpr{Op: op.Type, OpRange: op.Range, LHS: lhs, RHS: rhs, SrcRange: rng}
		h = max(h, rh) + 1
	}
}

// parseUnary parses `!` and `-` prefixes, which bind tighter than any binary
// operator. A loop rather than recursion; a run longer than MaxDepth is
// counted rather than kept.
func (p *parser) parseUnary() (hcl.Expression, int) {
	if p.tok.Type != NOT && p.tok.Type != SUB {
		return p.parsePostfix()
	}
	// The run goes on p.unaryOps, a stack shared by nested runs (the
	// operand may hold one), so a config of runs allocates no slice per run.
	base := len(p.unaryOps)
	defer func() { p.unaryOps = p.unaryOps[:base] }()
	first := p.tok
	n := 0
	for p.tok.Type == NOT || p.tok.Type == SUB {
		if n < MaxDepth {
			p.unaryOps = append(p.unaryOps, p.tok)
		} else if n == MaxDepth {
			p.free++ // the rest of the run is only counted
			defer func() { p.free-- }()
		}
		n++
		p.next()
	}
	e, h := p.parsePostfix()
	ops := p.unaryOps[base : base+min(n, MaxDepth)]
	if n > MaxDepth || p.depth+h+n > MaxDepth {
		// Report at the operator that crosses the limit, when it is kept.
		at := first.Range
		if i := n - (MaxDepth - p.depth - h) - 1; i >= 0 && i < len(ops) {
			at = ops[i].Range
		}
		p.errorDeep(at)
		rng := hcl.RangeBetween(first.Range, e.Range())
		return &BadExpr{SrcRange: hcl.RangeBetween(rng, p.skipExprRest(rng))}, 1
	}
	for i := len(ops) - 1; i >= 0; i-- {
		e = &UnaryExpr{
			Op:       ops[i].Type,
			OpRange:  ops[i].Range,
			Operand:  e,
			SrcRange: hcl.RangeBetween(ops[i].Range, e.Range()),
		}
	}
	return e, h + n
}

// parsePostfix parses a primary expression followed by any number of
// `.name`, `[key]` and `(args)`.
func (p *parser) parsePostfix() (hcl.Expression, int) {
	e, h := p.parsePrimary()
	for {
		switch p.tok.Type {
		case DOT:
			p.next()
			if p.tok.Type != IDENT {
				p.errorf(p.tok.Range, `expected an attribute name after ".", got %s`, describe(p.tok))
				return e, h
			}
			name := p.tok
			p.next()
			if ref, ok := e.(*ScopeTraversalExpr); ok {
				// Still a plain reference: extend it. Its steps are a
				// list, not a tree, but walking a reference goes step by
				// step too (resolving it, naming it in a message), so a
				// step counts a level like an access on a value.
				if p.tooDeep(h+1, name.Range) {
					rng := hcl.RangeBetween(ref.SrcRange, name.Range)
					return &BadExpr{SrcRange: hcl.RangeBetween(rng, p.skipExprRest(rng))}, 1
				}
				ref.Traversal = append(ref.Traversal, hcl.TraverseAttr{Name: name.Text, SrcRange: name.Range})
				ref.SrcRange = hcl.RangeBetween(ref.SrcRange, name.Range)
				h++
				continue
			}
			rng := hcl.RangeBetween(e.Range(), name.Range)
			if p.tooDeep(h+1, name.Range) {
				return &BadExpr{SrcRange: hcl.RangeBetween(rng, p.skipExprRest(rng))}, 1
			}
			e = &AccessExpr{Source: e, Name: name.Text, NameRange: name.Range, SrcRange: rng}
			h++

		case LBRACK:
			open := p.tok
			saved := p.ignoreNL
			p.ignoreNL = true
			p.next()
			key, kh := p.parseExpr()
			p.ignoreNL = saved
			if p.tok.Type != RBRACK {
				p.errorf(p.tok.Range, `expected "]" to close the index opened at %d:%d, got %s`, open.Range.Start.Line, open.Range.Start.Column, describe(p.tok))
				return &IndexExpr{Collection: e, Key: key, BracketRange: hcl.RangeBetween(open.Range, key.Range()), SrcRange: hcl.RangeBetween(e.Range(), key.Range())}, max(h, kh) + 1
			}
			closeRange := p.tok.Range
			p.next()
			rng := hcl.RangeBetween(e.Range(), closeRange)
			if p.tooDeep(max(h, kh)+1, open.Range) {
				return &BadExpr{SrcRange: hcl.RangeBetween(rng, p.skipExprRest(rng))}, 1
			}
			e = &IndexExpr{Collection: e, Key: key, BracketRange: hcl.RangeBetween(open.Range, closeRange), SrcRange: rng}
			h = max(h, kh) + 1

		case LPAREN:
			// A function is called by its name, which may be in parentheses
			// as Alloy allows: (string.format)("%d", 1).
			ref, ok := e.(*ScopeTraversalExpr)
			var callee hcl.Expression
			if !ok {
				if r, isRef := unparen(e).(*ScopeTraversalExpr); isRef {
					ref, ok, callee = r, true, e
				}
			}
			args, ah, argsRange, closed := p.parseArgs()
			if !ok {
				if _, isBad := e.(*BadExpr); !isBad {
					p.errorf(e.Range(), "only named functions can be called, such as string.format(...)")
				}
				return &BadExpr{SrcRange: hcl.RangeBetween(e.Range(), argsRange)}, 1
			}
			e = &CallExpr{
				Name:      traversalString(ref.Traversal),
				NameRange: ref.SrcRange,
				Callee:    callee,
				Args:      args,
				ArgsRange: argsRange,
				SrcRange:  hcl.RangeBetween(e.Range(), argsRange),
			}
			h = max(ah, h) + 1 // the callee, (((f))), is a subtree too
			if !closed {
				return e, h
			}

		default:
			return e, h
		}
	}
}

// unparen strips parentheses around an expression.
func unparen(e hcl.Expression) hcl.Expression {
	for {
		p, ok := e.(*ParenExpr)
		if !ok {
			return e
		}
		e = p.Inner
	}
}

// startsExpr reports whether t can begin an expression: after a list item,
// it means the comma between the two is missing.
func startsExpr(t TokenType) bool {
	switch t {
	case IDENT, NUMBER, FLOAT, STRING, RAWSTRING, LBRACK, LCURLY, LPAREN, NOT, SUB:
		return true
	}
	return false
}

// errorMissingComma reports a missing "," before the current token, which
// starts the next item of a list (what), opened at open; prev is the item
// before. Alloy requires the comma there too, and reports it at the same
// place.
func (p *parser) errorMissingComma(what string, open hcl.Range, prev hcl.Range, after string) {
	p.s.errorDetail(p.tok.Range,
		fmt.Sprintf(`missing "," between the %s opened at %d:%d`, what, open.Start.Line, open.Start.Column),
		fmt.Sprintf(`expected "," after %s (ending at %d:%d), got %s; items are separated by commas, also on separate lines, as in Alloy`,
			after, prev.End.Line, prev.End.Column, describe(p.tok)))
}

// parseArgs parses `(a, b, c)`, the current token being "(". h is the
// greatest height among the arguments.
func (p *parser) parseArgs() (args []hcl.Expression, h int, rng hcl.Range, closed bool) {
	open := p.tok
	saved := p.ignoreNL
	p.ignoreNL = true
	p.next()
	rng = open.Range
	for p.tok.Type != RPAREN {
		arg, ah := p.parseExpr()
		args = append(args, arg)
		h = max(h, ah)
		rng = hcl.RangeBetween(rng, arg.Range())
		if p.tok.Type == COMMA {
			p.next()
			continue
		}
		if !startsExpr(p.tok.Type) {
			break
		}
		// Go on as if the comma were there, so the rest of the list is read.
		p.errorMissingComma("arguments of the call", open.Range, arg.Range(), "the argument")
	}
	p.ignoreNL = saved
	if p.tok.Type != RPAREN {
		p.errorf(p.tok.Range, `expected "," or ")" in the argument list opened at %d:%d, got %s`, open.Range.Start.Line, open.Range.Start.Column, describe(p.tok))
		return args, h, rng, false
	}
	rng = hcl.RangeBetween(rng, p.tok.Range)
	p.next()
	return args, h, rng, true
}

func (p *parser) parsePrimary() (hcl.Expression, int) {
	t := p.tok
	switch t.Type {
	case IDENT:
		p.next()
		switch t.Text {
		case "true":
			return &LiteralExpr{Val: cty.True, Token: t}, 1
		case "false":
			return &LiteralExpr{Val: cty.False, Token: t}, 1
		case "null":
			return &LiteralExpr{Val: cty.NullVal(cty.DynamicPseudoType), Token: t}, 1
		}
		// Room for a component reference's steps (kind, name, label,
		// export), which parsePostfix appends.
		tr := make(hcl.Traversal, 1, 4)
		tr[0] = hcl.TraverseRoot{Name: t.Text, SrcRange: t.Range}
		return &ScopeTraversalExpr{Traversal: tr, SrcRange: t.Range}, 1
	case NUMBER, FLOAT:
		p.next()
		return &LiteralExpr{Val: p.number(t), Token: t}, 1
	case STRING:
		p.next()
		return &LiteralExpr{Val: cty.StringVal(unquote(t.Text)), Token: t}, 1
	case RAWSTRING:
		p.next()
		return &LiteralExpr{Val: cty.StringVal(rawContent(t.Text)), Token: t}, 1
	case LBRACK:
		return p.parseArray()
	case LCURLY:
		return p.parseObject()
	case LPAREN:
		saved := p.ignoreNL
		p.ignoreNL = true
		p.next()
		inner, h := p.parseExpr()
		p.ignoreNL = saved
		if p.tok.Type != RPAREN {
			p.errorf(p.tok.Range, `expected ")" to close the "(" at %d:%d, got %s`, t.Range.Start.Line, t.Range.Start.Column, describe(p.tok))
			return &ParenExpr{Inner: inner, SrcRange: hcl.RangeBetween(t.Range, inner.Range())}, h + 1
		}
		rng := hcl.RangeBetween(t.Range, p.tok.Range)
		p.next()
		// The inner expression was checked one level deeper, so the
		// parentheses themselves cannot be too deep; the same holds for
		// arrays, objects and calls.
		return &ParenExpr{Inner: inner, SrcRange: rng}, h + 1
	}
	p.errorf(t.Range, "expected an expression, got %s", describe(t))
	return &BadExpr{SrcRange: t.Range}, 1
}

func (p *parser) number(t Token) cty.Value {
	if t.Type == NUMBER {
		if n, err := strconv.ParseInt(t.Text, 10, 64); err == nil {
			return cty.NumberIntVal(n)
		}
	}
	v, err := cty.ParseNumberVal(t.Text)
	if err != nil || !NumberInRange(v) {
		p.errorf(t.Range, "number %s is out of range (beyond ±2^%d)", abbreviate(t.Text), MaxNumberBits)
		return cty.DynamicVal
	}
	return v
}

func (p *parser) parseArray() (hcl.Expression, int) {
	open := p.tok
	saved := p.ignoreNL
	p.ignoreNL = true
	p.next()
	var items []hcl.Expression
	h := 0
	for p.tok.Type != RBRACK {
		item, ih := p.parseExpr()
		items = append(items, item)
		h = max(h, ih)
		if p.tok.Type == COMMA {
			p.next()
			continue
		}
		if !startsExpr(p.tok.Type) {
			break
		}
		// Go on as if the comma were there, so the rest of the array is read.
		p.errorMissingComma("elements of the array", open.Range, item.Range(), "the element")
	}
	p.ignoreNL = saved
	if p.tok.Type != RBRACK {
		p.errorf(p.tok.Range, `expected "," or "]" in the array opened at %d:%d, got %s`, open.Range.Start.Line, open.Range.Start.Column, describe(p.tok))
		end := open.Range
		if len(items) > 0 {
			end = items[len(items)-1].Range()
		}
		return &ArrayExpr{Items: items, SrcRange: hcl.RangeBetween(open.Range, end)}, h + 1
	}
	rng := hcl.RangeBetween(open.Range, p.tok.Range)
	p.next()
	return &ArrayExpr{Items: items, SrcRange: rng}, h + 1
}

func (p *parser) parseObject() (hcl.Expression, int) {
	open := p.tok
	saved := p.ignoreNL
	p.ignoreNL = false // a newline ends an item's value, as at the top level
	p.next()
	var items []ObjectItem
	var seen map[string]struct{} // for large objects; small ones are scanned
	end := open.Range
	h := 0
loop:
	for {
		p.skipNewlines()
		if p.tok.Type == RCURLY {
			break
		}
		keyTok := p.tok
		var key string
		switch keyTok.Type {
		case IDENT:
			key = keyTok.Text
		case STRING:
			key = unquote(keyTok.Text)
		default:
			p.errorf(keyTok.Range, "expected an object key (an identifier or a string), got %s", describe(keyTok))
			break loop
		}
		p.next()
		if p.tok.Type != ASSIGN {
			p.errorf(p.tok.Range, `expected "=" after the object key %q, got %s`, key, describe(p.tok))
			break
		}
		p.next()
		val, vh := p.parseExpr()
		h = max(h, vh)
		end = val.Range()
		if isDuplicateKey(items, &seen, key) {
			p.errorf(keyTok.Range, "duplicate key %q in object", key)
		}
		items = append(items, ObjectItem{Key: key, KeyToken: keyTok, Value: val})
		// Items are separated by commas, as in Alloy; a newline does not
		// separate them. The last item may end without one.
		p.skipNewlines()
		switch p.tok.Type {
		case COMMA:
			p.next()
		case RCURLY:
			break loop
		case IDENT, STRING:
			// Go on as if the comma were there, so the rest is read.
			p.errorMissingComma("items of the object", open.Range, val.Range(), fmt.Sprintf("the value of %q", key))
		default:
			p.errorf(p.tok.Range, `expected "," or "}" after the value of %q, got %s`, key, describe(p.tok))
			break loop
		}
	}
	p.ignoreNL = saved
	if p.tok.Type != RCURLY {
		p.errorf(p.tok.Range, `expected "}" to close the object opened at %d:%d, got %s`, open.Range.Start.Line, open.Range.Start.Column, describe(p.tok))
		return &ObjectExpr{Items: items, SrcRange: hcl.RangeBetween(open.Range, end)}, h + 1
	}
	rng := hcl.RangeBetween(open.Range, p.tok.Range)
	p.next()
	return &ObjectExpr{Items: items, SrcRange: rng}, h + 1
}

// isDuplicateKey reports whether key is already among items. Small objects
// are scanned; from 16 items on, a set keeps it linear.
func isDuplicateKey(items []ObjectItem, seen *map[string]struct{}, key string) bool {
	if len(items) < 16 {
		for _, it := range items {
			if it.Key == key {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*len(items))
		for _, it := range items {
			(*seen)[it.Key] = struct{}{}
		}
	}
	if _, dup := (*seen)[key]; dup {
		return true
	}
	(*seen)[key] = struct{}{}
	return false
}

// unquote decodes a STRING token's text. The scanner has reported any bad
// escape or missing quote; here they decode as best they can.
func unquote(text string) string {
	if len(text) < 1 {
		return ""
	}
	s := text[1:]
	if strings.HasSuffix(s, `"`) && !escapedQuoteAtEnd(s) {
		s = s[:len(s)-1]
	}
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			sb.WriteByte(c)
			i++
			continue
		}
		e := s[i+1]
		i += 2
		switch e {
		case 'a':
			sb.WriteByte('\a')
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'v':
			sb.WriteByte('\v')
		case '\\', '"', '\'':
			sb.WriteByte(e)
		case '0', '1', '2', '3', '4', '5', '6', '7', 'x', 'u', 'U':
			n, base := 3, 8
			switch e {
			case 'x':
				n, base = 2, 16
			case 'u':
				n, base = 4, 16
			case 'U':
				n, base = 8, 16
			default:
				i-- // the first octal digit is part of the value
			}
			var x uint32
			j := 0
			for ; j < n && i < len(s) && digitVal(s[i]) < base; j++ {
				x = x*uint32(base) + uint32(digitVal(s[i]))
				i++
			}
			if e == 'x' || (e >= '0' && e <= '7') {
				sb.WriteByte(byte(x)) // a byte, as in Go
			} else {
				sb.WriteRune(rune(x)) // invalid code points become U+FFFD
			}
		default:
			sb.WriteByte('\\')
			sb.WriteByte(e)
		}
	}
	out := sb.String()
	if !utf8.ValidString(out) {
		// \x escapes can make invalid UTF-8, which cty strings cannot hold.
		out = strings.ToValidUTF8(out, "\uFFFD")
	}
	return out
}

// escapedQuoteAtEnd reports whether the final quote of s is escaped by an odd
// number of backslashes, so it does not close the string.
func escapedQuoteAtEnd(s string) bool {
	n := 0
	for i := len(s) - 2; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// rawContent strips a RAWSTRING token's backticks.
func rawContent(text string) string {
	return strings.TrimSuffix(text[1:], "`")
}

// abbreviate shortens a long token for a message.
func abbreviate(s string) string {
	if len(s) > 40 {
		return s[:20] + "..." + s[len(s)-10:]
	}
	return s
}
