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
	line, ok := sourceLine(src, *rng)
	if !ok {
		return
	}

	num := strconv.Itoa(rng.Start.Line)
	gutter := strings.Repeat(" ", len(num))
	fmt.Fprintf(buf, "  %s | %s\n", num, line)

	// The underline copies the line's tabs so it stays aligned however wide
	// the reader's tabs are.
	startCol := max(rng.Start.Column, 1)
	var pad strings.Builder
	col := 1
	for _, r := range line {
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
	lineLen := utf8.RuneCountInString(line)
	switch {
	case rng.End.Line == rng.Start.Line && rng.End.Column > startCol:
		width = rng.End.Column - startCol
	case rng.End.Line > rng.Start.Line:
		width = lineLen - startCol + 1 // to the end of the first line
	}
	width = max(1, min(width, lineLen-startCol+1))
	fmt.Fprintf(buf, "  %s | %s%s\n", gutter, pad.String(), strings.Repeat("^", width))
}

// sourceLine returns the line of src where rng starts, without its newline.
func sourceLine(src []byte, rng hcl.Range) (string, bool) {
	off := rng.Start.Byte
	if off < 0 || off > len(src) {
		return "", false
	}
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	end := bytes.IndexByte(src[off:], '\n')
	if end < 0 {
		end = len(src)
	} else {
		end += off
	}
	line := strings.TrimSuffix(string(src[start:end]), "\r")
	if !utf8.ValidString(line) {
		line = strings.ToValidUTF8(line, "\uFFFD")
	}
	return line, true
}
