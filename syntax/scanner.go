package syntax

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Scan splits src into tokens. It returns every token, COMMENT and NEWLINE
// included, so a formatter can rebuild the file; the last token is EOF.
// Whitespace other than newlines is not a token: the gaps between token ranges
// are spaces, tabs and lone carriage returns.
//
// Scan never fails outright: a malformed token (an unterminated string, an
// illegal character) is still returned, and a diagnostic at its position
// explains it. At most one diagnostic is reported per line.
func Scan(src []byte, filename string) ([]Token, hcl.Diagnostics) {
	s := newScanner(src, filename, hcl.InitialPos)
	// Tokens average well over four bytes of source; guessing the capacity
	// avoids most regrowth on large files.
	toks := make([]Token, 0, len(src)/4+1)
	for {
		t := s.next()
		toks = append(toks, t)
		if t.Type == EOF {
			return toks, s.diags
		}
	}
}

// scanner produces tokens one at a time, so the parser can consume them
// without holding the whole token list in memory.
type scanner struct {
	// src is the source as a string, converted once, so token texts are
	// substrings of it and cost no allocation.
	src      string
	filename string

	off  int // offset in src of the next unread byte
	base int // byte offset of src[0] in the file, for expressions inside a larger text
	line int // 1-based line of off
	col  int // 1-based column of off, counted in Unicode characters

	diags hcl.Diagnostics
	// errLines holds the lines with a diagnostic already: the scanner and
	// the parser report at most one per line, since later errors on a line
	// are usually echoes of the first.
	errLines map[int]struct{}
	// quiet drops further diagnostics: the parser has given up on the file.
	quiet bool
}

// newScanner scans src, whose first byte is at position start of the file.
func newScanner(src []byte, filename string, start hcl.Pos) *scanner {
	if start.Line < 1 {
		start = hcl.InitialPos
	}
	s := &scanner{src: string(src), filename: filename, base: start.Byte, line: start.Line, col: start.Column}
	// A UTF-8 byte order mark is not part of the program text.
	if len(s.src) >= 3 && s.src[:3] == "\uFEFF" {
		s.off = 3
	}
	return s
}

func (s *scanner) pos() hcl.Pos {
	return hcl.Pos{Line: s.line, Column: s.col, Byte: s.base + s.off}
}

// peekByte returns the byte i bytes ahead of off, or 0 past the end.
func (s *scanner) peekByte(i int) byte {
	if s.off+i < len(s.src) {
		return s.src[s.off+i]
	}
	return 0
}

// advance moves past the character at off, keeping line and column right.
func (s *scanner) advance() {
	if s.off >= len(s.src) {
		return
	}
	c := s.src[s.off]
	switch {
	case c == '\n':
		s.off++
		s.line++
		s.col = 1
	case c < utf8.RuneSelf:
		s.off++
		s.col++
	default:
		_, n := utf8.DecodeRuneInString(s.src[s.off:])
		s.off += n
		s.col++
	}
}

func (s *scanner) errorf(rng hcl.Range, format string, args ...any) {
	if _, dup := s.errLines[rng.Start.Line]; dup || s.quiet {
		return // before formatting: a long line can repeat an error a million times
	}
	s.errorDetail(rng, fmt.Sprintf(format, args...), "")
}

// MaxErrors bounds the diagnostics one file's parse reports: past it the
// parser says so once and stops reading the file (a file of a million bad
// lines would otherwise hold a million diagnostics).
const MaxErrors = 100

// errorDetail reports an error with a detail, such as a hint.
func (s *scanner) errorDetail(rng hcl.Range, summary, detail string) {
	if _, dup := s.errLines[rng.Start.Line]; dup || s.quiet {
		return
	}
	if len(s.diags) >= MaxErrors {
		s.diags = append(s.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("too many errors; only the first %d are reported, and the rest of the file is not read", MaxErrors),
			Subject:  &rng,
		})
		s.quiet = true
		return
	}
	if s.errLines == nil {
		s.errLines = make(map[int]struct{})
	}
	s.errLines[rng.Start.Line] = struct{}{}
	s.diags = append(s.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  &rng,
	})
}

func (s *scanner) rangeFrom(start hcl.Pos) hcl.Range {
	return hcl.Range{Filename: s.filename, Start: start, End: s.pos()}
}

func (s *scanner) token(typ TokenType, start hcl.Pos) Token {
	return Token{Type: typ, Text: s.src[start.Byte-s.base : s.off], Range: s.rangeFrom(start)}
}

// next scans and returns the next token, EOF forever once the input ends.
func (s *scanner) next() Token {
	// Skip blanks. A carriage return is a blank unless it starts "\r\n".
	for s.off < len(s.src) {
		c := s.src[s.off]
		if c == ' ' || c == '\t' || c == '\f' || c == '\v' || (c == '\r' && s.peekByte(1) != '\n') {
			s.advance()
			continue
		}
		break
	}

	start := s.pos()
	if s.off >= len(s.src) {
		return s.token(EOF, start)
	}

	c := s.src[s.off]
	switch {
	case c == '\n':
		s.advance()
		return s.token(NEWLINE, start)
	case c == '\r': // "\r\n", as the blank loop let it through
		s.off++
		s.col++
		s.advance()
		return s.token(NEWLINE, start)
	case c == '#' || (c == '/' && s.peekByte(1) == '/'):
		s.skipLine()
		return s.token(COMMENT, start)
	case c == '/' && s.peekByte(1) == '*':
		return s.blockComment(start)
	case c == '"':
		return s.scanString(start)
	case c == '`':
		return s.rawString(start)
	case isDigit(c) || (c == '.' && isDigit(s.peekByte(1))):
		return s.number(start)
	case c == '_' || (c < utf8.RuneSelf && isASCIILetter(c)):
		return s.ident(start)
	case c >= utf8.RuneSelf:
		r, n := utf8.DecodeRuneInString(s.src[s.off:])
		if r == utf8.RuneError && n == 1 {
			s.advance()
			s.errorf(s.rangeFrom(start), "invalid UTF-8 encoding")
			return s.token(ILLEGAL, start)
		}
		if unicode.IsLetter(r) {
			return s.ident(start)
		}
		s.advance()
		s.errorf(s.rangeFrom(start), "illegal character %U %q", r, r)
		return s.token(ILLEGAL, start)
	}

	// Operators and punctuation.
	s.advance()
	typ := ILLEGAL
	switch c {
	case '=':
		typ = s.pair('=', EQ, ASSIGN)
	case '!':
		typ = s.pair('=', NEQ, NOT)
	case '<':
		typ = s.pair('=', LTE, LT)
	case '>':
		typ = s.pair('=', GTE, GT)
	case '&':
		typ = s.pair('&', AND, ILLEGAL)
	case '|':
		typ = s.pair('|', OR, ILLEGAL)
	case '{':
		typ = LCURLY
	case '}':
		typ = RCURLY
	case '[':
		typ = LBRACK
	case ']':
		typ = RBRACK
	case '(':
		typ = LPAREN
	case ')':
		typ = RPAREN
	case ',':
		typ = COMMA
	case '.':
		typ = DOT
	case '+':
		typ = ADD
	case '-':
		typ = SUB
	case '*':
		typ = MUL
	case '/':
		typ = DIV
	case '%':
		typ = MOD
	case '^':
		typ = POW
	}
	if typ == ILLEGAL {
		switch c {
		case '&':
			s.errorf(s.rangeFrom(start), `illegal character '&'; did you mean "&&"?`)
		case '|':
			s.errorf(s.rangeFrom(start), `illegal character '|'; did you mean "||"?`)
		case '\'':
			s.errorf(s.rangeFrom(start), `illegal character '\''; strings use double quotes or backticks`)
		default:
			s.errorf(s.rangeFrom(start), "illegal character %U %q", rune(c), rune(c))
		}
	}
	return s.token(typ, start)
}

// pair finishes a one- or two-character operator: if the next byte is want,
// it is consumed and two is returned, otherwise one.
func (s *scanner) pair(want byte, two, one TokenType) TokenType {
	if s.peekByte(0) == want {
		s.advance()
		return two
	}
	return one
}

// skipLine moves to the end of the line, leaving the newline (and a "\r"
// before it) unread so it becomes its own token.
func (s *scanner) skipLine() {
	for s.off < len(s.src) {
		c := s.src[s.off]
		if c == '\n' || (c == '\r' && s.peekByte(1) == '\n') {
			return
		}
		s.advance()
	}
}

func (s *scanner) blockComment(start hcl.Pos) Token {
	s.advance() // '/'
	s.advance() // '*'
	for s.off < len(s.src) {
		if s.src[s.off] == '*' && s.peekByte(1) == '/' {
			s.advance()
			s.advance()
			return s.token(COMMENT, start)
		}
		s.advance()
	}
	s.errorf(hcl.Range{Filename: s.filename, Start: start, End: start}, "comment not terminated; add */ to close the comment started here")
	return s.token(COMMENT, start)
}

func (s *scanner) ident(start hcl.Pos) Token {
	for s.off < len(s.src) {
		c := s.src[s.off]
		if c < utf8.RuneSelf {
			if c == '_' || isASCIILetter(c) || isDigit(c) {
				s.off++
				s.col++
				continue
			}
			break
		}
		r, _ := utf8.DecodeRuneInString(s.src[s.off:])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		s.advance()
	}
	return s.token(IDENT, start)
}

func (s *scanner) digits() int {
	n := 0
	for isDigit(s.peekByte(0)) {
		s.off++
		s.col++
		n++
	}
	return n
}

func (s *scanner) number(start hcl.Pos) Token {
	typ := NUMBER
	s.digits()
	if s.peekByte(0) == '.' && isDigit(s.peekByte(1)) {
		typ = FLOAT
		s.advance()
		s.digits()
	}
	if c := s.peekByte(0); c == 'e' || c == 'E' {
		typ = FLOAT
		s.advance()
		if c := s.peekByte(0); c == '+' || c == '-' {
			s.advance()
		}
		if s.digits() == 0 {
			s.errorf(s.rangeFrom(start), "exponent has no digits")
		}
	}
	return s.token(typ, start)
}

// scanString scans a double-quoted string, checking its escapes. The token keeps
// the source text; unquote decodes it.
func (s *scanner) scanString(start hcl.Pos) Token {
	s.advance() // opening quote
	for {
		if s.off >= len(s.src) || s.src[s.off] == '\n' || (s.src[s.off] == '\r' && s.peekByte(1) == '\n') {
			s.errorf(s.rangeFrom(start), "string literal not terminated; strings end on the line they start (use a `raw string` for several lines)")
			return s.token(STRING, start)
		}
		switch s.src[s.off] {
		case '"':
			s.advance()
			return s.token(STRING, start)
		case '\\':
			s.escape()
		default:
			s.advanceChecked()
		}
	}
}

// advanceChecked is advance for string contents, reporting invalid UTF-8,
// which a string value cannot hold.
func (s *scanner) advanceChecked() {
	if s.src[s.off] >= utf8.RuneSelf {
		if r, n := utf8.DecodeRuneInString(s.src[s.off:]); r == utf8.RuneError && n == 1 {
			start := s.pos()
			s.advance()
			s.errorf(s.rangeFrom(start), "invalid UTF-8 encoding in string")
			return
		}
	}
	s.advance()
}

// escape checks the escape sequence at off (which is a backslash) and moves
// past it. Escapes are Go's, plus \' as Alloy allows.
func (s *scanner) escape() {
	start := s.pos()
	s.advance() // backslash
	var n, base int
	var max uint32
	switch c := s.peekByte(0); c {
	case 'a', 'b', 'f', 'n', 'r', 't', 'v', '\\', '"', '\'':
		s.advance()
		return
	case '0', '1', '2', '3', '4', '5', '6', '7':
		n, base, max = 3, 8, 255
	case 'x':
		s.advance()
		n, base, max = 2, 16, 255
	case 'u':
		s.advance()
		n, base, max = 4, 16, unicode.MaxRune
	case 'U':
		s.advance()
		n, base, max = 8, 16, unicode.MaxRune
	default:
		if s.off < len(s.src) && c != '\n' && c != '\r' {
			s.advance()
		}
		s.errorf(s.rangeFrom(start), "unknown escape sequence; a backslash starts one of \\n \\t \\\\ \\\" \\xNN \\uNNNN (use a `raw string` for backslashes)")
		return
	}
	var x uint32
	for ; n > 0; n-- {
		d := digitVal(s.peekByte(0))
		if d >= base {
			s.errorf(s.rangeFrom(start), "escape sequence has too few digits or an invalid digit")
			return
		}
		x = x*uint32(base) + uint32(d)
		s.advance()
	}
	if x > max || (max == unicode.MaxRune && 0xD800 <= x && x < 0xE000) {
		s.errorf(s.rangeFrom(start), "escape sequence is an invalid Unicode code point")
	}
}

func (s *scanner) rawString(start hcl.Pos) Token {
	s.advance() // opening backtick
	for s.off < len(s.src) {
		if s.src[s.off] == '`' {
			s.advance()
			return s.token(RAWSTRING, start)
		}
		s.advanceChecked()
	}
	s.errorf(hcl.Range{Filename: s.filename, Start: start, End: start}, "raw string literal not terminated; add a closing backtick")
	return s.token(RAWSTRING, start)
}

func isDigit(c byte) bool       { return '0' <= c && c <= '9' }
func isASCIILetter(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }

func digitVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return 16 // larger than any base
}

// IsIdentifier reports whether s is an identifier as the scanner reads one
// (a letter or underscore, then letters, digits and underscores) and not one
// of the literals true, false and null, so it can name something an
// expression refers to.
func IsIdentifier(s string) bool {
	switch s {
	case "", "true", "false", "null":
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && unicode.IsDigit(r):
		default:
			return false
		}
	}
	return true
}
