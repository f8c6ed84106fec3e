// Package format lays River source out exactly as Grafana Alloy's formatter
// (`alloy fmt`) does, so a file formatted by either is unchanged by the
// other: tabs for indentation, "=" aligned across a run of one-line
// attributes or object items, trailing comments aligned, a blank line
// before every block and at most one blank line kept elsewhere, "{ }" for an
// empty block, elements of arrays, objects and calls kept on the lines they
// were written on. The rules are Alloy's printer's (syntax/printer in
// Alloy), reimplemented over flow's syntax tree; walk.go lists them.
//
// Where Alloy's formatter would change what a file means, flow fmt keeps
// the source instead (such files are not stable under alloy fmt either):
// a quoted object key or block label is written as it was (Alloy re-quotes
// the text between the quotes, doubling the backslash of every escape); an
// empty block label is kept (Alloy drops it); tabs, carriage returns and
// blanks at the ends of lines inside a raw string are kept (Alloy's layout
// changes them); a line comment written against a value before a closing
// brace stays after the comma (Alloy writes the comma into the comment), and
// a line comment is always followed by a line break; a call with no
// arguments never gets a trailing comma; a comment after the last argument
// of a call stays before its ")" (Alloy moves it after). Where alloy fmt
// needs several runs to settle, flow fmt gives the settled result at once.
// `#` comments, which Alloy lacks, are laid out like `//` comments.
// docs/alloy-compatibility.md lists these.
package format

import (
	"bytes"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/flow-telemetry/flow/syntax"
)

// Format returns src in canonical layout, ending with a newline. It refuses
// input that does not parse, returning the parser's diagnostics, since
// guessing at the structure of a broken file could change what it means.
// The result is stable: formatting it again changes nothing.
func Format(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	f, diags := syntax.ParseFile(src, filename)
	if diags.HasErrors() {
		return nil, diags
	}
	// alloy fmt does not always settle in one run: an expression it joins
	// onto one line is aligned with its neighbours only by a second run, a
	// comment before the ")" of a call moves after it, then onto a line of
	// its own. flow fmt runs Alloy's layout until it settles, so its result
	// is what repeated alloy fmt runs give, and formatting it again changes
	// nothing. Almost every file settles at once: the second pass only
	// confirms it (and the parse it needs checks that the result parses).
	cur := src
	for pass := 0; ; pass++ {
		out, err := layout(f, cur)
		if err != nil {
			return nil, internalError(hcl.Range{Filename: filename}, err.Error())
		}
		if bytes.Equal(out, cur) {
			break
		}
		if pass == maxPasses {
			return nil, internalError(hcl.Range{Filename: filename}, "the layout does not settle")
		}
		cur = out
		if f, diags = syntax.ParseFile(cur, filename); diags.HasErrors() {
			return nil, internalError(hcl.Range{Filename: filename}, "the result does not parse: "+diags.Error())
		}
	}

	// The layout must never change meaning. Check it, rather than trust it:
	// a formatter bug must not silently rewrite someone's config.
	inToks, _ := syntax.Scan(src, filename)
	outToks, _ := syntax.Scan(cur, filename)
	if i, ok := sameTokens(inToks, outToks); !ok {
		r := hcl.Range{Filename: filename}
		if in := significant(inToks); i < len(in) {
			r = in[i].Range
		}
		return nil, internalError(r, "formatting would change the tokens of this file")
	}
	return cur, nil
}

// maxPasses bounds the layout passes; Alloy's layout settles within a few
// (the fuzz test checks that every result is stable).
const maxPasses = 8

// layout runs one pass of Alloy's layout over f, parsed from src.
func layout(f *syntax.File, src []byte) ([]byte, error) {
	p := newPrinter(commentGroups(src, f.Comments))
	w := &walker{p: p, src: src}
	w.stmts(f.Body.Stmts)
	p.finish()
	if w.err != nil {
		return nil, w.err
	}
	return append(p.layout(), '\n'), nil
}

func internalError(r hcl.Range, what string) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "internal error: " + what + "; the file was left as it is",
		Detail:   "Please report this as a bug in flow fmt, with the file.",
		Subject:  &r,
	}}
}

// commentGroups groups the file's comments as Alloy's parser does: comments
// with nothing but whitespace between them and at most one line break
// between the end of one and the start of the next. The printer writes a
// group as a whole once its first comment is due.
func commentGroups(src []byte, cs []syntax.Comment) [][]comment {
	var groups [][]comment
	var prevEnd hcl.Pos
	for i, c := range cs {
		cm := comment{
			text:    commentText(c.Text),
			start:   srcPos{off: c.Range.Start.Byte, line: c.Range.Start.Line},
			endLine: c.Range.End.Line,
			block:   strings.HasPrefix(c.Text, "/*"),
		}
		adjacent := i > 0 && c.Range.Start.Line <= prevEnd.Line+1 && onlySpaceBetween(src, cs[i-1], c)
		if adjacent {
			groups[len(groups)-1] = append(groups[len(groups)-1], cm)
		} else {
			groups = append(groups, []comment{cm})
		}
		prevEnd = c.Range.End
	}
	return groups
}

// onlySpaceBetween reports whether nothing but blanks and line breaks lies
// between two comments, so no token separates them.
func onlySpaceBetween(src []byte, a, b syntax.Comment) bool {
	between := src[a.Range.End.Byte:b.Range.Start.Byte]
	return len(bytes.Trim(between, " \t\r\n\f\v")) == 0
}

// sameTokens compares two token streams ignoring layout: newlines, commas
// (which the layout adds at the end of multi-line lists and removes from
// the end of one-line lists), carriage returns in comments, and where the
// comments stand among the code (Alloy's layout moves a comment written
// before a ")" or "=" after it). The code tokens must be the same, in the
// same order, and so must the comments. It returns the index in a's
// significant tokens of the first difference.
func sameTokens(a, b []syntax.Token) (int, bool) {
	a, b = significant(a), significant(b)
	var ca, cb []int // indices of the comments
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].Type == syntax.COMMENT:
			ca = append(ca, i)
			i++
		case b[j].Type == syntax.COMMENT:
			cb = append(cb, j)
			j++
		case a[i].Type != b[j].Type || a[i].Text != b[j].Text:
			return i, false
		default:
			i++
			j++
		}
	}
	for ; i < len(a); i++ {
		if a[i].Type != syntax.COMMENT {
			return i, false
		}
		ca = append(ca, i)
	}
	for ; j < len(b); j++ {
		if b[j].Type != syntax.COMMENT {
			return len(a), false
		}
		cb = append(cb, j)
	}
	for k, ai := range ca {
		if k >= len(cb) || tokenText(a[ai]) != tokenText(b[cb[k]]) {
			return ai, false
		}
	}
	return len(a), len(ca) == len(cb)
}

// significant drops newlines and commas.
func significant(toks []syntax.Token) []syntax.Token {
	out := make([]syntax.Token, 0, len(toks))
	for _, t := range toks {
		switch t.Type {
		case syntax.NEWLINE, syntax.COMMA:
			continue
		case syntax.EOF:
			return out
		}
		out = append(out, t)
	}
	return out
}

// tokenText is a token's text as the formatter writes it.
func tokenText(t syntax.Token) string {
	if t.Type == syntax.COMMENT {
		return commentText(t.Text)
	}
	return t.Text
}

// commentText is a comment as written out: without carriage returns, as Go
// and Alloy drop them, so that line endings come out as "\n" (a "\r" left
// at the end of a line comment would join the newline after it).
func commentText(s string) string {
	if strings.IndexByte(s, '\r') < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\r", "")
}
