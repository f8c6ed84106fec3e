package syntax

import (
	"bytes"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestFormatDiagnostics(t *testing.T) {
	src := []byte("a {\n  x = \"abc\" +\n    2\n}\n")
	files := map[string][]byte{"f.river": src}
	rng := func(sl, sc, sb, el, ec, eb int) *hcl.Range {
		return &hcl.Range{Filename: "f.river", Start: hcl.Pos{Line: sl, Column: sc, Byte: sb}, End: hcl.Pos{Line: el, Column: ec, Byte: eb}}
	}
	diags := hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "expected number, got string", Subject: rng(2, 7, 10, 2, 12, 15)},
		{Severity: hcl.DiagWarning, Summary: "deprecated", Detail: "use string.format", Subject: rng(2, 3, 6, 2, 4, 7)},
		// A range over two lines is underlined to the end of its first line.
		{Severity: hcl.DiagError, Summary: "multi-line", Subject: rng(2, 7, 10, 3, 6, 26)},
		{Severity: hcl.DiagError, Summary: "no range"},
		{Severity: hcl.DiagError, Summary: "other file", Subject: &hcl.Range{Filename: "g.river", Start: hcl.Pos{Line: 1, Column: 1}}},
		// An empty range at the end of the line still gets one caret.
		{Severity: hcl.DiagError, Summary: "at end", Subject: rng(2, 14, 17, 2, 14, 17)},
		// A range from stale source past its end gets no quote, and no panic.
		{Severity: hcl.DiagError, Summary: "stale", Subject: rng(9, 1, 999, 9, 2, 1000)},
	}
	want := `Error: f.river:2:7: expected number, got string
  2 |   x = "abc" +
    |       ^^^^^
Warning: f.river:2:3: deprecated; use string.format
  2 |   x = "abc" +
    |   ^
Error: f.river:2:7: multi-line
  2 |   x = "abc" +
    |       ^^^^^^^
Error: no range
Error: g.river:1:1: other file
Error: f.river:2:14: at end
  2 |   x = "abc" +
    |              ^
Error: f.river:9:1: stale
`
	var buf bytes.Buffer
	FormatDiagnostics(&buf, files, diags)
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
	if s := DiagnosticsString(files, diags); s != want {
		t.Errorf("DiagnosticsString differs from FormatDiagnostics")
	}
	if got := DiagnosticLine(diags[1]); got != "f.river:2:3: deprecated; use string.format" {
		t.Errorf("DiagnosticLine: %q", got)
	}
}

func TestSuggest(t *testing.T) {
	components := []string{"prometheus.scrape", "prometheus.remote_write", "prometheus.relabel", "discovery.aws.ec2", "loki.write"}
	attrs := []string{"region", "role_arn", "receiver", "targets", "forward_to", "token"}
	tests := []struct {
		name       string
		candidates []string
		want       string
	}{
		{"regon", attrs, "region"},
		{"recevier", attrs, "receiver"},
		{"forwardto", attrs, "forward_to"},
		{"Region", attrs, "region"},
		{"tokne", attrs, "token"},
		{"prometheus.scrpe", components, "prometheus.scrape"},
		{"prometheus.remote_writ", components, "prometheus.remote_write"},
		{"promethus.relabel", components, "prometheus.relabel"},
		{"discovery.aws.ec3", components, "discovery.aws.ec2"},
		{"x", attrs, ""},
		{"completely_different", attrs, ""},
		{"loki.source.file", components, ""},
		{"", attrs, ""},
		{"region", attrs, ""}, // an exact match needs no suggestion
		{"abc", nil, ""},
	}
	for _, tt := range tests {
		if got := Suggest(tt.name, tt.candidates); got != tt.want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
