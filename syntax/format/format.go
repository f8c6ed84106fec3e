// Package format lays River source out canonically (`flow fmt`): two-space
// indentation by nesting, one space around `=` and binary operators, `=`
// aligned in a run of single-line attributes, one blank line around blocks,
// comments kept. It works on the token stream from syntax.Scan, as hclwrite
// does, so nothing but whitespace between tokens ever changes.
package format

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"

	"github.com/flow-telemetry/flow/syntax"
)

const indentUnit = "  "

// Format returns src in canonical layout. It refuses input that does not
// parse, returning the parser's diagnostics, since guessing at the structure
// of a broken file could change what it means. The result is stable:
// formatting it again changes nothing.
func Format(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	if _, diags := syntax.ParseFile(src, filename); diags.HasErrors() {
		return nil, diags
	}
	toks, diags := syntax.Scan(src, filename)
	if diags.HasErrors() {
		return nil, diags
	}
	out := format(toks)

	// The layout must never change meaning. Check it, rather than trust it:
	// a formatter bug must not silently rewrite someone's config.
	outToks, _ := syntax.Scan(out, filename)
	if i, ok := sameTokens(toks, outToks); !ok {
		r := hcl.Range{Filename: filename}
		if i < len(toks) {
			r = toks[i].Range
		}
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "internal error: formatting would change the tokens of this file; it was left as it is",
			Detail:   "Please report this as a bug in flow fmt, with the file.",
			Subject:  &r,
		}}
	}
	return out, nil
}

// sameTokens compares two token streams ignoring layout: newlines (their
// number), and trailing blanks in line comments. It returns the index in a of
// the first difference.
func sameTokens(a, b []syntax.Token) (int, bool) {
	a, b = significant(a), significant(b)
	for i := range a {
		if i >= len(b) || a[i].Type != b[i].Type || tokenText(a[i]) != tokenText(b[i]) {
			return i, false
		}
	}
	return len(a), len(a) == len(b)
}

// significant drops repeated newlines, and newlines at the start and end.
func significant(toks []syntax.Token) []syntax.Token {
	out := make([]syntax.Token, 0, len(toks))
	for _, t := range toks {
		if t.Type == syntax.NEWLINE && (len(out) == 0 || out[len(out)-1].Type == syntax.NEWLINE) {
			continue
		}
		if t.Type == syntax.EOF {
			break
		}
		out = append(out, t)
	}
	for len(out) > 0 && out[len(out)-1].Type == syntax.NEWLINE {
		out = out[:len(out)-1]
	}
	return out
}

// tokenText is a token's text as the formatter writes it.
func tokenText(t syntax.Token) string {
	switch {
	case t.Type == syntax.NEWLINE:
		return "\n"
	case t.Type == syntax.COMMENT && !strings.HasPrefix(t.Text, "/*"):
		return strings.TrimRight(t.Text, " \t\r\f\v")
	case t.Type == syntax.COMMENT:
		return strings.ReplaceAll(t.Text, "\r\n", "\n")
	}
	return t.Text
}

// line is one source line of tokens, without its newline.
type line struct {
	toks   []syntax.Token
	blanks int // blank lines before it in the source, then in the output

	indent int
	// closer: the line starts by closing a bracket; opener: the line's last
	// code token opens one. No blank line goes after an opener or before
	// a closer.
	closer, opener bool

	// item is set on a line that starts a statement or is a comment line in
	// a block body (or the file): the units blank lines are arranged around.
	item     itemKind
	body     int // which body the item is in (0 for the file)
	itemLast int // index of the item's last line

	// container identifies the innermost bracket the line starts in, so that
	// alignment runs stay within one body or object.
	container int
	// alignable: a single-line `key = value` (attribute or object item).
	alignable bool
	multiline bool // holds a token spanning lines (raw string, block comment)

	gaps []string // gaps[i] is the space before toks[i] (gaps[0] unused)
	// keyPad is extra space after the key of an aligned line.
	keyPad int
	// commentPad is extra space before the trailing comment.
	commentPad int
}

type itemKind int

const (
	notItem itemKind = iota
	itemAttr
	itemBlock
	itemComment
)

// bracket is an open bracket, remembered while its contents are laid out.
type bracket struct {
	typ    syntax.TokenType
	block  bool // a block body's brace, rather than an object's
	indent int  // indent of the line the bracket opened on
	id     int
}

func format(toks []syntax.Token) []byte {
	lines := splitLines(toks)
	analyze(lines)
	arrangeBlankLines(lines)
	align(lines)
	return render(lines)
}

// splitLines cuts the token stream at newlines, counting blank lines.
func splitLines(toks []syntax.Token) []*line {
	var lines []*line
	cur := &line{}
	blanks := 0
	for _, t := range toks {
		switch t.Type {
		case syntax.EOF:
		case syntax.NEWLINE:
			if len(cur.toks) == 0 {
				blanks++
				continue
			}
			cur.blanks = blanks
			lines = append(lines, cur)
			cur, blanks = &line{}, 0
		default:
			cur.toks = append(cur.toks, t)
		}
	}
	if len(cur.toks) > 0 {
		cur.blanks = blanks
		lines = append(lines, cur)
	}
	return lines
}

func isOpener(t syntax.TokenType) bool {
	return t == syntax.LCURLY || t == syntax.LBRACK || t == syntax.LPAREN
}

func isCloser(t syntax.TokenType) bool {
	return t == syntax.RCURLY || t == syntax.RBRACK || t == syntax.RPAREN
}

// analyze works out each line's indentation, its place in the structure and
// the spaces between its tokens.
func analyze(lines []*line) {
	var stack []bracket
	nextID := 1
	// prev is the previous code token (comments skipped), for deciding
	// whether a "-" is unary; prevUnary says it was a unary operator.
	var prev *syntax.Token
	prevUnary := false
	// open items per body: the index of the line that started the statement
	// still being read in each body.
	type openItem struct {
		line  int
		kind  itemKind
		depth int // stack depth the statement started at
	}
	var open []openItem

	atBody := func() bool { return len(stack) == 0 || stack[len(stack)-1].block }
	bodyID := func() int {
		if len(stack) == 0 {
			return 0
		}
		return stack[len(stack)-1].id
	}

	for li, l := range lines {
		first := l.toks[0]
		switch {
		case isCloser(first.Type) && len(stack) > 0:
			l.indent = stack[len(stack)-1].indent
			l.closer = true
		case len(stack) > 0:
			l.indent = stack[len(stack)-1].indent + 1
		}
		if len(stack) > 0 {
			l.container = stack[len(stack)-1].id
		}

		// A line in a body that is not continuing a statement begins an item.
		inStatement := len(open) > 0 && open[len(open)-1].depth == len(stack)
		if atBody() && !inStatement && !l.closer {
			switch {
			case allComments(l.toks):
				l.item = itemComment
				l.itemLast = li
			default:
				l.item = statementKind(l.toks)
				open = append(open, openItem{line: li, kind: l.item, depth: len(stack)})
			}
			l.body = bodyID()
		}

		l.gaps = make([]string, len(l.toks))
		for i := range l.toks {
			t := &l.toks[i]
			if strings.Contains(t.Text, "\n") {
				l.multiline = true
			}
			if t.Type == syntax.COMMENT {
				if i > 0 {
					l.gaps[i] = " "
				}
				continue
			}
			unary := (t.Type == syntax.SUB || t.Type == syntax.NOT) && startsOperand(prev)
			if i > 0 {
				l.gaps[i] = gap(l.toks[i-1], *t, prev, prevUnary, unary)
			}
			switch {
			case isOpener(t.Type):
				block := t.Type == syntax.LCURLY && atBody() && prev != nil &&
					(prev.Type == syntax.IDENT || prev.Type == syntax.STRING)
				stack = append(stack, bracket{typ: t.Type, block: block, indent: l.indent, id: nextID})
				nextID++
			case isCloser(t.Type) && len(stack) > 0:
				stack = stack[:len(stack)-1]
			}
			prev, prevUnary = t, unary
		}
		if last := lastCode(l.toks); last != nil && isOpener(last.Type) {
			l.opener = true
		}

		// A statement ends when the line ends back at the depth it started.
		if len(open) > 0 && open[len(open)-1].depth == len(stack) {
			o := open[len(open)-1]
			lines[o.line].itemLast = li
			open = open[:len(open)-1]
		}
		// Newlines end statements and object items, so an operator never
		// continues across one outside parentheses and brackets.
		if len(stack) == 0 || stack[len(stack)-1].typ == syntax.LCURLY {
			prev, prevUnary = nil, false
		}

		l.alignable = !l.multiline && len(l.toks) >= 3 && !l.closer &&
			(l.toks[0].Type == syntax.IDENT || l.toks[0].Type == syntax.STRING) &&
			l.toks[1].Type == syntax.ASSIGN && balanced(l.toks)
	}
}

// statementKind says whether a line starts a block or an attribute: whichever
// of "{" and "=" comes first.
func statementKind(toks []syntax.Token) itemKind {
	for _, t := range toks {
		switch t.Type {
		case syntax.ASSIGN:
			return itemAttr
		case syntax.LCURLY:
			return itemBlock
		}
	}
	return itemAttr
}

func allComments(toks []syntax.Token) bool {
	for _, t := range toks {
		if t.Type != syntax.COMMENT {
			return false
		}
	}
	return true
}

func lastCode(toks []syntax.Token) *syntax.Token {
	for i := len(toks) - 1; i >= 0; i-- {
		if toks[i].Type != syntax.COMMENT {
			return &toks[i]
		}
	}
	return nil
}

// balanced reports whether a line closes every bracket it opens and no other.
func balanced(toks []syntax.Token) bool {
	depth := 0
	for _, t := range toks {
		switch {
		case isOpener(t.Type):
			depth++
		case isCloser(t.Type):
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

func isBinary(t syntax.TokenType) bool {
	switch t {
	case syntax.ADD, syntax.SUB, syntax.MUL, syntax.DIV, syntax.MOD, syntax.POW,
		syntax.EQ, syntax.NEQ, syntax.LT, syntax.LTE, syntax.GT, syntax.GTE, syntax.AND, syntax.OR:
		return true
	}
	return false
}

// startsOperand reports whether the token after prev begins an operand, so
// that a "-" or "!" there is unary.
func startsOperand(prev *syntax.Token) bool {
	if prev == nil {
		return true
	}
	switch prev.Type {
	case syntax.ASSIGN, syntax.COMMA, syntax.LPAREN, syntax.LBRACK, syntax.LCURLY, syntax.NOT:
		return true
	}
	return isBinary(prev.Type)
}

// gap is the canonical space between adjacent code tokens p and c. prevCode
// is the code token before c (p, unless p is a comment); prevUnary says
// prevCode is a unary operator, and unary that c is.
func gap(p, c syntax.Token, prevCode *syntax.Token, prevUnary, unary bool) string {
	if p.Type == syntax.COMMENT {
		return " "
	}
	switch {
	case c.Type == syntax.COMMA || c.Type == syntax.RPAREN || c.Type == syntax.RBRACK:
		return ""
	case p.Type == syntax.COMMA:
		return " "
	case prevUnary:
		return ""
	case p.Type == syntax.DOT && (c.Type == syntax.NUMBER || c.Type == syntax.FLOAT):
		// "a. 5" must not become "a.5", which scans as "a" and ".5".
		return sourceGap(p, c)
	case c.Type == syntax.DOT || p.Type == syntax.DOT:
		return ""
	case c.Type == syntax.LPAREN || c.Type == syntax.LBRACK:
		switch p.Type {
		case syntax.IDENT, syntax.RPAREN, syntax.RBRACK, syntax.RCURLY, syntax.STRING, syntax.RAWSTRING:
			return "" // a call or an index
		case syntax.LPAREN, syntax.LBRACK:
			return ""
		}
		return " "
	case p.Type == syntax.LPAREN || p.Type == syntax.LBRACK:
		return ""
	case c.Type == syntax.LCURLY:
		if p.Type == syntax.LPAREN || p.Type == syntax.LBRACK {
			return ""
		}
		return " "
	case p.Type == syntax.LCURLY:
		if c.Type == syntax.RCURLY {
			return ""
		}
		return " "
	case c.Type == syntax.RCURLY:
		return " "
	case c.Type == syntax.ASSIGN || p.Type == syntax.ASSIGN:
		return " "
	case isBinary(c.Type) && !unary:
		return " "
	case isBinary(p.Type):
		return " "
	case isWord(p.Type) && isWord(c.Type):
		return " "
	}
	return sourceGap(p, c)
}

func isWord(t syntax.TokenType) bool {
	switch t {
	case syntax.IDENT, syntax.STRING, syntax.RAWSTRING, syntax.NUMBER, syntax.FLOAT:
		return true
	}
	return false
}

// sourceGap keeps whether there was space between p and c, as one space.
func sourceGap(p, c syntax.Token) string {
	if p.Range.End.Byte < c.Range.Start.Byte {
		return " "
	}
	return ""
}

// arrangeBlankLines sets how many blank lines go before each line: exactly
// one around a block (before the comments directly above it), none at the
// start or end of a body or bracket, and otherwise at most one, as written.
func arrangeBlankLines(lines []*line) {
	// items[b] lists the item lines of body b in order.
	items := map[int][]int{}
	for i, l := range lines {
		if l.item != notItem {
			items[l.body] = append(items[l.body], i)
		}
	}
	for i, l := range lines {
		l.blanks = min(l.blanks, 1)
		if i == 0 || l.closer || lines[i-1].opener {
			l.blanks = 0
		}
	}
	for _, its := range items {
		for k := 1; k < len(its); k++ {
			cur, prevItem := lines[its[k]], lines[its[k-1]]
			if lines[its[k]].closer || lines[its[k]-1].opener {
				continue
			}
			if prevItem.item == itemBlock {
				cur.blanks = 1
			}
			if cur.item == itemBlock {
				// The blank line goes above the comments directly over the block.
				j := k
				for j > 0 && lines[its[j-1]].item == itemComment && lines[its[j]].blanks == 0 &&
					lines[its[j-1]].itemLast+1 == its[j] {
					j--
				}
				if j > 0 {
					lines[its[j]].blanks = 1
				}
			}
		}
	}
}

// align pads the keys of runs of consecutive single-line `key = value` lines
// in the same body or object so their "=" line up, and lines up the trailing
// comments of consecutive lines. A blank line, a comment line, a block or a
// multi-line value ends a run, as in gofmt.
func align(lines []*line) {
	for i := 0; i < len(lines); {
		j := i + 1
		if lines[i].alignable {
			for j < len(lines) && lines[j].alignable && lines[j].blanks == 0 &&
				lines[j].container == lines[i].container && lines[j].indent == lines[i].indent {
				j++
			}
			width := 0
			for _, l := range lines[i:j] {
				width = max(width, textWidth(l.toks[0].Text))
			}
			for _, l := range lines[i:j] {
				l.keyPad = width - textWidth(l.toks[0].Text)
			}
		}
		i = j
	}

	for i := 0; i < len(lines); {
		j := i + 1
		if hasTrailingComment(lines[i]) {
			for j < len(lines) && hasTrailingComment(lines[j]) && lines[j].blanks == 0 &&
				lines[j].indent == lines[i].indent {
				j++
			}
			width := 0
			for _, l := range lines[i:j] {
				width = max(width, codeWidth(l))
			}
			for _, l := range lines[i:j] {
				l.commentPad = width - codeWidth(l)
			}
		}
		i = j
	}
}

func hasTrailingComment(l *line) bool {
	n := len(l.toks)
	return n >= 2 && !l.multiline && l.toks[n-1].Type == syntax.COMMENT && l.toks[n-2].Type != syntax.COMMENT
}

// codeWidth is the width of a line before its trailing comment.
func codeWidth(l *line) int {
	w := l.keyPad
	for i, t := range l.toks[:len(l.toks)-1] {
		w += len(l.gaps[i]) + textWidth(tokenText(t))
	}
	return w
}

func textWidth(s string) int { return utf8.RuneCountInString(s) }

func render(lines []*line) []byte {
	var buf bytes.Buffer
	for _, l := range lines {
		for range l.blanks {
			buf.WriteByte('\n')
		}
		for range l.indent {
			buf.WriteString(indentUnit)
		}
		last := len(l.toks) - 1
		for i, t := range l.toks {
			if i > 0 {
				buf.WriteString(l.gaps[i])
			}
			if i == 1 && l.keyPad > 0 {
				buf.WriteString(strings.Repeat(" ", l.keyPad))
			}
			if i == last && l.commentPad > 0 && hasTrailingComment(l) {
				buf.WriteString(strings.Repeat(" ", l.commentPad))
			}
			buf.WriteString(tokenText(t))
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}
