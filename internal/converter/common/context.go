// Package common holds what the converters share: the Source being read
// (positions, placeholders, stripping), the Context that collects the
// output and the diagnostics, and the translations every format needs
// (relabel rules, HTTP client settings, AWS credentials).
package common

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/flow-telemetry/flow/internal/converter/diag"
	"github.com/flow-telemetry/flow/internal/converter/river"
)

// Context is one conversion: the source, the River being built and the
// diagnostics.
type Context struct {
	Src   *Source
	Diags diag.Diagnostics

	labels river.Labels
	creds  []*awsCreds
	head   river.Body // aws.credentials blocks, first in the file
	// Body is where converters append their components, in output order.
	Body river.Body
	// Tail is appended after Body (the remote_write and loki.write
	// components that everything forwards to, as Alloy orders them).
	Tail river.Body
}

// NewContext starts a conversion of src.
func NewContext(src *Source) *Context { return &Context{Src: src} }

// Convert is every format's Convert around its own step: it reads file's
// YAML (a Critical diagnostic stops there, with a nil output), runs convert
// on it, and returns convert's output with all the diagnostics, sorted.
func Convert(file string, src []byte, convert func(*Context) []byte) ([]byte, diag.Diagnostics) {
	s, diags := NewSource(file, src)
	if diags.Has(diag.Critical) {
		return nil, diags
	}
	ctx := NewContext(s)
	ctx.Diags = diags
	out := convert(ctx)
	ctx.Diags.Sort()
	return out, ctx.Diags
}

// Report adds a diagnostic at node n (nil: the whole file).
func (c *Context) Report(n *yaml.Node, sev diag.Severity, summary, hint string) {
	d := diag.Diagnostic{Severity: sev, File: c.Src.File, Summary: summary, Hint: hint}
	if n != nil {
		d.Line, d.Column = n.Line, n.Column
	}
	c.Diags.Add(d)
}

// Reportf is Report with a formatted summary.
func (c *Context) Reportf(n *yaml.Node, sev diag.Severity, hint, format string, args ...any) {
	c.Report(n, sev, fmt.Sprintf(format, args...), hint)
}

// Label returns a unique identifier-shaped label for a component.
func (c *Context) Label(component, name string) string { return c.labels.Unique(component, name) }

// Bytes renders the config in canonical layout, placeholders restored.
func (c *Context) Bytes() ([]byte, error) {
	f := &river.File{Replace: c.Src.Restore}
	appendBody(&f.Body, &c.head)
	appendBody(&f.Body, &c.Body)
	appendBody(&f.Body, &c.Tail)
	return f.Bytes()
}

func appendBody(dst, src *river.Body) { dst.Append(src) }
