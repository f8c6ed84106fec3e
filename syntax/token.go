package syntax

import "github.com/hashicorp/hcl/v2"

// TokenType is the kind of a lexical token.
type TokenType int

// Token types. Keywords (true, false, null) are IDENT tokens: the parser gives
// them meaning, so the scanner stays free of grammar.
const (
	ILLEGAL TokenType = iota // a byte sequence that is no token; the scanner reports it

	EOF       // end of input; always the last token, with empty Text
	NEWLINE   // "\n" or "\r\n": ends a statement
	COMMENT   // "// ...", "# ..." or "/* ... */", markers included
	IDENT     // discovery, _x, ünïcode
	NUMBER    // 123
	FLOAT     // 1.5, .5, 1e3
	STRING    // "double quoted", quotes and escapes as written
	RAWSTRING // `backtick quoted`, may span lines

	ASSIGN // =
	LCURLY // {
	RCURLY // }
	LBRACK // [
	RBRACK // ]
	LPAREN // (
	RPAREN // )
	COMMA  // ,
	DOT    // .

	ADD // +
	SUB // -
	MUL // *
	DIV // /
	MOD // %
	POW // ^
	NOT // !

	EQ  // ==
	NEQ // !=
	LT  // <
	LTE // <=
	GT  // >
	GTE // >=
	AND // &&
	OR  // ||
)

var tokenNames = [...]string{
	ILLEGAL:   "ILLEGAL",
	EOF:       "EOF",
	NEWLINE:   "NEWLINE",
	COMMENT:   "COMMENT",
	IDENT:     "IDENT",
	NUMBER:    "NUMBER",
	FLOAT:     "FLOAT",
	STRING:    "STRING",
	RAWSTRING: "RAWSTRING",
	ASSIGN:    "=",
	LCURLY:    "{",
	RCURLY:    "}",
	LBRACK:    "[",
	RBRACK:    "]",
	LPAREN:    "(",
	RPAREN:    ")",
	COMMA:     ",",
	DOT:       ".",
	ADD:       "+",
	SUB:       "-",
	MUL:       "*",
	DIV:       "/",
	MOD:       "%",
	POW:       "^",
	NOT:       "!",
	EQ:        "==",
	NEQ:       "!=",
	LT:        "<",
	LTE:       "<=",
	GT:        ">",
	GTE:       ">=",
	AND:       "&&",
	OR:        "||",
}

// String returns the operator or punctuation itself ("==", "{"), or the
// upper-case name of the other token types ("IDENT").
func (t TokenType) String() string {
	if t >= 0 && int(t) < len(tokenNames) {
		return tokenNames[t]
	}
	return "TokenType(?)"
}

// describe names a token type for error messages: "newline", `"{"`, "identifier".
func (t TokenType) describe() string {
	switch t {
	case ILLEGAL:
		return "illegal character"
	case EOF:
		return "end of file"
	case NEWLINE:
		return "newline"
	case COMMENT:
		return "comment"
	case IDENT:
		return "identifier"
	case NUMBER, FLOAT:
		return "number"
	case STRING, RAWSTRING:
		return "string"
	}
	return `"` + t.String() + `"`
}

// Token is one lexical token.
type Token struct {
	Type TokenType
	// Text is the exact source bytes of the token, so a formatter can rebuild
	// the file: a STRING keeps its quotes and escapes, a COMMENT its markers.
	Text  string
	Range hcl.Range
}
