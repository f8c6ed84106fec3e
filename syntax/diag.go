package syntax

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// FormatDiagnostics writes diags as plain text, each as
//
//	Error: file.river:12:3: summary; detail
//	   12 |   regon = "us-east-1"
//	      |   ^^^^^
//
// files maps file names to their source, for the quoted line; a diagnostic
// whose file is not in it (or that has no range) gets the first line only.
// A range over several lines is underlined to the end of its first line.
func FormatDiagnostics(w io.Writer, files map[string][]byte, diags hcl.Diagnostics) {
	var buf bytes.Buffer
	for _, d := range diags {
		formatDiagnostic(&buf, files, d)
	}
	_, _ = w.Write(buf.Bytes()) // a failed write has nowhere better to be reported
}

// DiagnosticsString returns diags formatted as by FormatDiagnostics.
func DiagnosticsString(files map[string][]byte, diags hcl.Diagnostics) string {
	var sb strings.Builder
	FormatDiagnostics(&sb, files, diags)
	return sb.String()
}

// DiagnosticLine renders one diagnostic as a single line,
// "file.river:12:3: summary; detail", for logs and error values.
func DiagnosticLine(d *hcl.Diagnostic) string {
	var sb strings.Builder
	if rng := subject(d); rng != nil {
		fmt.Fprintf(&sb, "%s:%d:%d: ", rng.Filename, rng.Start.Line, rng.Start.Column)
	}
	sb.WriteString(d.Summary)
	if d.Detail != "" {
		// A summary that ends a sentence ("did you mean "x"?") reads better
		// followed by a space than by a semicolon.
		if strings.HasSuffix(d.Summary, "?") || strings.HasSuffix(d.Summary, ".") {
			sb.WriteString(" ")
		} else {
			sb.WriteString("; ")
		}
		sb.WriteString(d.Detail)
	}
	return sb.String()
}

func subject(d *hcl.Diagnostic) *hcl.Range {
	if d.Subject != nil {
		return d.Subject
	}
	return d.Context
}

func formatDiagnostic(buf *bytes.Buffer, files map[string][]byte, d *hcl.Diagnostic) {
	switch d.Severity {
	case hcl.DiagWarning:
		buf.WriteString("Warning: ")
	default:
		buf.WriteString("Error: ")
	}
	buf.WriteString(DiagnosticLine(d))
	buf.WriteByte('\n')

	rng := subject(d)
	if rng == nil {
		return
	}
	src, ok := files[rng.Filename]
	if !ok {
		return
	}
	line, col0, ok := sourceLine(src, *rng)
	if !ok {
		return
	}

	num := strconv.Itoa(rng.Start.Line)
	gutter := strings.Repeat(" ", len(num))
	fmt.Fprintf(buf, "  %s | %s\n", num, line)

	// The underline copies the line's tabs so it stays aligned however wide
	// the reader's tabs are. col0 is the column of the line's first
	// character shown; an elided start ("…") takes one more.
	startCol := max(rng.Start.Column, col0)
	var pad strings.Builder
	text, cut := strings.CutPrefix(line, "…")
	if cut {
		pad.WriteByte(' ')
	}
	col := col0
	for _, r := range text {
		if col >= startCol {
			break
		}
		if r == '\t' {
			pad.WriteByte('\t')
		} else {
			pad.WriteByte(' ')
		}
		col++
	}
	width := 1
	lineEnd := col0 + utf8.RuneCountInString(strings.TrimSuffix(text, "…"))
	switch {
	case rng.End.Line == rng.Start.Line && rng.End.Column > startCol:
		width = rng.End.Column - startCol
	case rng.End.Line > rng.Start.Line:
		width = lineEnd - startCol // to the end of the line shown
	}
	width = max(1, min(width, lineEnd-startCol))
	fmt.Fprintf(buf, "  %s | %s%s\n", gutter, pad.String(), strings.Repeat("^", width))
}

// maxShown bounds how much of a long source line a diagnostic quotes on
// each side of its position, in bytes: a 4 MiB one-line file must not be
// printed once per error.
const maxShown = 100

// sourceLine returns the line of src where rng starts, without its newline,
// cut to maxShown bytes either side of the start with "…" marking a cut,
// and the column of its first character (after any "…").
func sourceLine(src []byte, rng hcl.Range) (string, int, bool) {
	off := rng.Start.Byte
	if off < 0 || off > len(src) {
		return "", 0, false
	}
	lo := max(0, off-maxShown)
	start := bytes.LastIndexByte(src[lo:off], '\n') + 1
	cutLeft := false
	if start > 0 || lo == 0 {
		start += lo
	} else {
		start, cutLeft = lo, true
		for start < off && !utf8.RuneStart(src[start]) {
			start++
		}
	}
	hi := min(len(src), off+maxShown)
	end := bytes.IndexByte(src[off:hi], '\n')
	cutRight := false
	switch {
	case end >= 0:
		end += off
	case hi == len(src):
		end = hi
	default:
		end, cutRight = hi, true
		for end > off && !utf8.RuneStart(src[end]) {
			end--
		}
	}
	col0 := max(1, rng.Start.Column-utf8.RuneCount(src[start:off]))
	line := strings.TrimSuffix(string(src[start:end]), "\r")
	if !utf8.ValidString(line) {
		line = strings.ToValidUTF8(line, "\uFFFD")
	}
	if cutLeft {
		line = "…" + line
	}
	if cutRight {
		line += "…"
	}
	return line, col0, true
}
