// Package diag is the converters' shared vocabulary for what could not be
// carried over from a YAML config: a Diagnostic has a severity, the YAML
// position it is about, a summary and a hint saying what to do.
//
// Severities follow `alloy convert`: Critical means no output could be made
// (the YAML does not parse); Error means something was left out or changed
// meaning, so the output is withheld unless --bypass-errors; Warning means the
// output behaves differently in a way worth reading about; Info records a
// choice the converter made.
package diag

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// Severity orders diagnostics from a note to a failure.
type Severity int

const (
	Info Severity = iota
	Warning
	Error
	Critical
)

func (s Severity) String() string {
	switch s {
	case Info:
		return "Info"
	case Warning:
		return "Warning"
	case Error:
		return "Error"
	default:
		return "Critical"
	}
}

// Diagnostic is one finding about the input.
type Diagnostic struct {
	Severity Severity
	// File, Line and Column locate the YAML the finding is about; Line 0
	// means the whole file.
	File   string
	Line   int
	Column int
	// Summary says what happened ("server.grpc_listen_port is not converted").
	Summary string
	// Hint says what to do about it; may be empty.
	Hint string
}

// Position renders "file:line:col", "file" or "".
func (d Diagnostic) Position() string {
	switch {
	case d.File == "" && d.Line == 0:
		return ""
	case d.Line == 0:
		return d.File
	case d.Column == 0:
		return fmt.Sprintf("%s:%d", d.File, d.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", d.File, d.Line, d.Column)
	}
}

// String renders the diagnostic on one line, as in the report:
//
//	(Error) agent.yaml:4:3: server.grpc_listen_port is not converted: flow has no gRPC server. Hint: remove it.
func (d Diagnostic) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "(%s) ", d.Severity)
	if p := d.Position(); p != "" {
		sb.WriteString(p)
		sb.WriteString(": ")
	}
	sb.WriteString(d.Summary)
	if d.Hint != "" {
		if !strings.HasSuffix(d.Summary, ".") {
			sb.WriteString(".")
		}
		sb.WriteString(" Hint: ")
		sb.WriteString(d.Hint)
	}
	return sb.String()
}

// Diagnostics is a list of findings, in input order once Sort is called.
type Diagnostics []Diagnostic

// Add appends a diagnostic.
func (ds *Diagnostics) Add(d Diagnostic) { *ds = append(*ds, d) }

// Error implements error: every diagnostic, one per line.
func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Has reports whether any diagnostic is at least sev.
func (ds Diagnostics) Has(sev Severity) bool {
	for _, d := range ds {
		if d.Severity >= sev {
			return true
		}
	}
	return false
}

// Count returns how many diagnostics have exactly sev.
func (ds Diagnostics) Count(sev Severity) int {
	n := 0
	for _, d := range ds {
		if d.Severity == sev {
			n++
		}
	}
	return n
}

// Sort orders diagnostics by position (file, line, column), keeping the
// order of those at the same place, so a report reads top to bottom.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// Blocking reports whether ds stops the output: a Critical always does, an
// Error does unless bypass.
func (ds Diagnostics) Blocking(bypass bool) bool {
	if bypass {
		return ds.Has(Critical)
	}
	return ds.Has(Error)
}

// WriteReport writes the report `flow convert --report` produces: one line
// per diagnostic, then a summary saying whether a config was written.
func (ds Diagnostics) WriteReport(w io.Writer, bypass bool) error {
	var sb strings.Builder
	for _, d := range ds {
		sb.WriteString(d.String())
		sb.WriteByte('\n')
	}
	fmt.Fprintf(&sb, "%d critical, %d error(s), %d warning(s), %d info.\n",
		ds.Count(Critical), ds.Count(Error), ds.Count(Warning), ds.Count(Info))
	switch {
	case ds.Has(Critical):
		sb.WriteString("No configuration was generated: fix the critical diagnostics first.\n")
	case ds.Has(Error) && bypass:
		sb.WriteString("A configuration was generated with --bypass-errors: what the errors above name is not in it.\n")
	case ds.Has(Error):
		sb.WriteString("No configuration was generated: fix the errors above, or pass --bypass-errors to convert the rest.\n")
	default:
		sb.WriteString("A configuration was generated.\n")
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// HCL returns ds as hcl.Diagnostics (Critical and Error as errors, the rest
// as warnings) so that syntax.FormatDiagnostics can quote the YAML line with
// a caret under the column. files holds the sources, to compute byte offsets.
func (ds Diagnostics) HCL(files map[string][]byte) hcl.Diagnostics {
	out := make(hcl.Diagnostics, 0, len(ds))
	for _, d := range ds {
		sev := hcl.DiagWarning
		if d.Severity >= Error {
			sev = hcl.DiagError
		}
		summary := strings.TrimSuffix(d.Summary, ".")
		switch d.Severity {
		case Info:
			summary = "info: " + summary
		case Critical:
			summary = "critical: " + summary
		}
		h := &hcl.Diagnostic{Severity: sev, Summary: summary}
		if d.Hint != "" {
			h.Detail = "hint: " + d.Hint
		}
		if d.Line > 0 {
			col := max(d.Column, 1)
			off := byteOffset(files[d.File], d.Line, col)
			h.Subject = &hcl.Range{
				Filename: d.File,
				Start:    hcl.Pos{Line: d.Line, Column: col, Byte: off},
				End:      hcl.Pos{Line: d.Line, Column: col + 1, Byte: off + 1},
			}
		}
		out = append(out, h)
	}
	return out
}

// byteOffset returns the offset of line:col (1-based; col counts
// characters) in src, or -1 if src does not have it.
func byteOffset(src []byte, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return -1
		}
		off += i + 1
	}
	for c := 1; c < col && off < len(src) && src[off] != '\n'; c++ {
		_, n := utf8.DecodeRune(src[off:])
		off += n
	}
	return off
}
