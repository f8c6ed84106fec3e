package format

import (
	"bytes"
	"math"
	"strings"
	"text/tabwriter"
)

// The printer follows Alloy's (syntax/printer), whose output flow fmt must
// reproduce byte for byte. The walker (walk.go) sends it tokens, source
// positions and whitespace requests; the printer places comments between
// the tokens by their source position, turns the requests into text for an
// elastic-tabstop writer (text/tabwriter) and finally trims trailing blanks.
// Alignment is the tabwriter's: `=` and trailing comments are preceded by a
// tab (\v or \t), so consecutive lines line them up; a formfeed (\f) ends
// such a run.

// space is one whitespace request, buffered until the next token so that a
// comment can take its place and nothing is left dangling at the end.
type space byte

const (
	spIgnore   space = 0    // a request dropped in favour of a comment's own spacing
	spBlank    space = ' '  // one space
	spVTab     space = '\v' // an alignment column ("soft": empty columns vanish)
	spNewline  space = '\n' // end of line; alignment runs continue
	spFormfeed space = '\f' // end of line that also ends alignment runs
	spIndent   space = '>'  // one more level of indentation (no text)
	spUnindent space = '<'  // one level less
)

// srcPos is a position in the source: a byte offset and a 1-based line.
// Between tokens with known positions the printer estimates it from the
// text written, as Alloy's printer does; comment placement depends on it.
type srcPos struct {
	off, line int
}

// comment is one source comment, with what placing it needs.
type comment struct {
	text    string
	start   srcPos
	endLine int
	block   bool // a /* */ comment, which may have code after it on its line
}

// printer accumulates the tabwriter input in out.
type printer struct {
	out    []byte
	indent int

	// pending whitespace, written just before the next text.
	pending []space
	// lastNumber: the last text was an integer literal, so a "." must not
	// follow it directly ("1 .a" would rescan as "1." "a").
	lastNumber bool

	// groups of adjacent comments in source order; next is the first not
	// yet written.
	groups [][]comment
	next   int

	// pos is the (estimated) source position of the next text; last is the
	// source position just after the last text written.
	pos, last srcPos
	// lineStart: nothing but whitespace written on this output line yet,
	// so the next text is preceded by the indentation.
	lineStart bool

	// swapped records, for each 0xFE byte written in a comment, whether it
	// stands for a 0xFF (the tabwriter's escape character, which a comment
	// that is not UTF-8 can hold); trim puts the 0xFF back.
	swapped []bool
}

func newPrinter(groups [][]comment) *printer {
	return &printer{
		groups:    groups,
		pos:       srcPos{line: 1},
		lineStart: true,
		out:       make([]byte, 0, 4096),
		pending:   make([]space, 0, 16),
	}
}

// space buffers whitespace requests.
func (p *printer) space(s ...space) {
	p.pending = append(p.pending, s...)
	p.lastNumber = false
}

// at sets the source position of the next text.
func (p *printer) at(pos srcPos) {
	if pos.line > 0 {
		p.pos = pos
	}
}

// token writes punctuation or an operator.
func (p *printer) token(s string) {
	if p.lastNumber && s[0] == '.' {
		p.pending = append(p.pending, spBlank)
	}
	p.lastNumber = false
	p.emit(s, false)
}

// word writes an identifier or a keyword.
func (p *printer) word(s string) {
	p.lastNumber = false
	p.emit(s, false)
}

// literal writes a literal as written in the source; number says it is an
// integer.
func (p *printer) literal(s string, number bool) {
	p.lastNumber = number
	p.emit(s, true)
}

// emit writes text at the current source position, after any comments that
// come before that position and the pending whitespace.
func (p *printer) emit(s string, literal bool) {
	next := p.pos
	p.flush(next, false)
	p.writeText(next, s, literal, false)
}

// finish writes the comments after the last token.
func (p *printer) finish() {
	p.flush(srcPos{off: math.MaxInt, line: math.MaxInt}, true)
}

// commentBefore reports whether the next comment comes before next, the
// position of the text about to be written. When that position is an
// estimate (the end of the previous token), a comment starting right there
// was written against the previous token: Alloy's printer writes it before
// the text, which for a line comment ("0// c" before a comma) would turn the
// text into part of the comment, so a line comment must start strictly
// before. No comment starts exactly where a token does, so this changes
// nothing else.
func (p *printer) commentBefore(next srcPos) bool {
	if p.next >= len(p.groups) {
		return false
	}
	c := &p.groups[p.next][0]
	if c.block {
		return c.start.off <= next.off
	}
	return c.start.off < next.off
}

// flush writes the comments before next and then the pending whitespace.
// At the end of the file (eof) pending whitespace is dropped.
func (p *printer) flush(next srcPos, eof bool) {
	if p.commentBefore(next) {
		p.writeComments(next, eof)
	} else if !eof {
		p.writePending(len(p.pending))
	}
}

func (p *printer) writeComments(next srcPos, eof bool) {
	var last *comment
	for p.commentBefore(next) {
		g := p.groups[p.next]
		for i := range g {
			p.spaceBeforeComment(next, &g[i])
			p.writeText(g[i].start, g[i].text, false, true)
			last = &g[i]
		}
		p.next++
	}
	p.spaceAfterComments(next, eof, last)
}

// spaceBeforeComment separates c from what precedes it: a tab (or, with code
// following on the same line, a space) after code on its line; otherwise
// the line breaks of the source, at most one blank line, in place of the
// first pending line break (indentation changes pending before it apply).
func (p *printer) spaceBeforeComment(next srcPos, c *comment) {
	if len(p.out) == 0 {
		return
	}
	if c.start.line == p.last.line {
		sep := byte('\t')
		if c.start.line == next.line {
			sep = ' '
		}
		p.writeByte(sep, 1)
		return
	}
	n := 0
	for i, s := range p.pending {
		if s == spIndent || s == spUnindent {
			continue
		}
		if s != spIgnore {
			p.pending[i] = spIgnore
		}
		n = i
		break
	}
	p.writePending(n)
	if p.last.line > 0 {
		if lines := c.start.line - p.last.line; lines > 0 {
			p.writeByte('\f', min(lines, maxNewlines))
		}
	}
}

// spaceAfterComments separates the last comment written from the next token:
// the source's line breaks (at most one blank line) replace the pending
// spaces and line breaks; a formfeed among them is kept as one.
func (p *printer) spaceAfterComments(next srcPos, eof bool, last *comment) {
	if eof {
		return
	}
	if last.block && next.line == last.endLine {
		p.writeByte(' ', 1)
	}
	lines := next.line - p.last.line
	if !last.block && lines < 1 {
		// The next text's position is an estimate on the comment's line
		// (a ")" after "0 // c" and a line break): a line comment runs to
		// the end of the line, so the text goes on the next one. Alloy's
		// printer would write it into the comment.
		lines = 1
	}
	droppedFF := false
	for i, s := range p.pending {
		switch s {
		case spBlank, spVTab:
			p.pending[i] = spIgnore
		case spNewline, spFormfeed:
			droppedFF = droppedFF || s == spFormfeed
			p.pending[i] = spIgnore
		}
	}
	p.writePending(len(p.pending))
	if lines > 0 {
		ch := byte('\n')
		if droppedFF {
			ch = '\f'
		}
		p.writeByte(ch, min(lines, maxNewlines))
	}
}

// maxNewlines keeps at most one blank line.
const maxNewlines = 2

// writeText writes s, which starts at source position pos. A comment is
// escaped, so the tabwriter passes it through untouched; a literal is
// escaped line by line where it holds what the tabwriter or the trimming
// of trailing blanks would change (tabs, trailing spaces, carriage
// returns), so a string's value never changes. Otherwise a multi-line raw
// string takes part in the layout line by line, as in Alloy.
func (p *printer) writeText(pos srcPos, s string, literal, comment bool) {
	if p.lineStart {
		p.writeIndent()
	}
	p.pos = pos
	switch {
	case comment:
		p.out = append(p.out, tabwriter.Escape)
		p.out = p.appendComment(p.out, s)
		p.out = append(p.out, tabwriter.Escape)
	case literal:
		p.out = appendLiteral(p.out, s)
	default:
		p.out = append(p.out, s...)
	}
	nl := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			nl++
		}
	}
	p.pos.off += len(s)
	p.pos.line += nl
	p.last = p.pos
	if len(s) > 0 {
		p.lineStart = false
	}
}

// appendComment appends a comment's text, writing a 0xFF byte as 0xFE (of
// the same width to the tabwriter) and noting which 0xFE bytes were which.
func (p *printer) appendComment(out []byte, s string) []byte {
	if strings.IndexByte(s, 0xFE) < 0 && strings.IndexByte(s, 0xFF) < 0 {
		return append(out, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case 0xFE, 0xFF:
			p.swapped = append(p.swapped, c == 0xFF)
			out = append(out, 0xFE)
		default:
			out = append(out, c)
		}
	}
	return out
}

// appendLiteral appends a literal's text, escaping each line that the
// tabwriter or the trimmer would alter.
func appendLiteral(out []byte, s string) []byte {
	for {
		line, rest, more := cutLine(s)
		if needsEscape(line, more) {
			out = append(out, tabwriter.Escape)
			out = append(out, line...)
			out = append(out, tabwriter.Escape)
		} else {
			out = append(out, line...)
		}
		if !more {
			return out
		}
		out = append(out, '\n')
		s = rest
	}
}

func cutLine(s string) (line, rest string, found bool) {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// needsEscape: the tabwriter interprets \t \v \f; the trimmer drops blanks
// at the end of a line.
func needsEscape(line string, endsLine bool) bool {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\t', '\v', '\f', '\r':
			return true
		}
	}
	return endsLine && len(line) > 0 && line[len(line)-1] == ' '
}

func (p *printer) writeIndent() {
	for range p.indent {
		p.out = append(p.out, '\t')
	}
	if p.indent > 0 {
		p.lineStart = false
	}
	p.pos.off += p.indent
}

// writeByte writes the whitespace ch n times.
func (p *printer) writeByte(ch byte, n int) {
	if p.lineStart {
		p.writeIndent()
	}
	for range n {
		p.out = append(p.out, ch)
	}
	p.pos.off += n
	if ch == '\n' || ch == '\f' {
		p.pos.line += n
		p.lineStart = true
		return
	}
	p.lineStart = false
}

// writePending writes the first n pending whitespace requests.
func (p *printer) writePending(n int) {
	for _, s := range p.pending[:n] {
		switch s {
		case spIgnore:
		case spIndent:
			p.indent++
		case spUnindent:
			p.indent--
		default:
			p.writeByte(byte(s), 1)
		}
	}
	k := copy(p.pending, p.pending[n:])
	p.pending = p.pending[:k]
}

// layout runs the printer's output through the elastic tabstops, with
// Alloy's settings (tabs for indentation, columns padded with spaces, one
// space between columns, empty "soft" columns dropped), and trims blanks
// at the ends of lines.
func (p *printer) layout() []byte {
	var aligned bytes.Buffer
	aligned.Grow(len(p.out) + len(p.out)/4)
	tw := tabwriter.NewWriter(&aligned, 0, 8, 1, ' ', tabwriter.DiscardEmptyColumns|tabwriter.TabIndent)
	// Writes to a bytes.Buffer cannot fail.
	_, _ = tw.Write(p.out)
	_ = tw.Flush()
	return trim(aligned.Bytes(), p.swapped)
}

// trim removes the tabwriter's escape characters and the blanks at the end
// of each line outside escaped text, and turns back into 0xFF the 0xFE bytes
// of comments that swapped says stood for one.
func trim(in []byte, swapped []bool) []byte {
	out := make([]byte, 0, len(in))
	blanks := 0 // start in out of the blanks not yet known to be inner
	pendingBlanks := false
	escaped := false
	for _, c := range in {
		if escaped {
			switch {
			case c == tabwriter.Escape:
				escaped = false
				continue
			case c == 0xFE && len(swapped) > 0:
				if swapped[0] {
					c = 0xFF
				}
				swapped = swapped[1:]
			}
			out = append(out, c)
			continue
		}
		switch c {
		case tabwriter.Escape:
			escaped = true
			pendingBlanks = false
		case ' ', '\t':
			if !pendingBlanks {
				pendingBlanks = true
				blanks = len(out)
			}
			out = append(out, c)
		case '\n':
			if pendingBlanks {
				out = out[:blanks]
				pendingBlanks = false
			}
			out = append(out, '\n')
		default:
			pendingBlanks = false
			out = append(out, c)
		}
	}
	if pendingBlanks {
		out = out[:blanks]
	}
	return out
}
