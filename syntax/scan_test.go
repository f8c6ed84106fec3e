package syntax

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestScanKinds(t *testing.T) {
	src := "a.b \"l-1\" {\r\n  x = `raw\nline` // c1\n  # c2\n  y = /* c3 */ 1.5e3 + .5 - 7 ^ 2 % 3\n  z = !a == b != c < d <= e > f >= g && h || i * j / k\n  s = \"${1}:9100\\n\"\n}\n(),[]"
	toks, diags := Scan([]byte(src), "t.river")
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics: %s", diags.Error())
	}
	var got []string
	var rebuilt strings.Builder
	for _, tk := range toks {
		got = append(got, tk.Type.String())
		if src[tk.Range.Start.Byte:tk.Range.End.Byte] != tk.Text {
			t.Errorf("token %v text %q does not match its range", tk.Type, tk.Text)
		}
		rebuilt.WriteString(tk.Text)
	}
	want := "IDENT . IDENT STRING { NEWLINE IDENT = RAWSTRING COMMENT NEWLINE COMMENT NEWLINE IDENT = COMMENT FLOAT + FLOAT - NUMBER ^ NUMBER % NUMBER NEWLINE " +
		"IDENT = ! IDENT == IDENT != IDENT < IDENT <= IDENT > IDENT >= IDENT && IDENT || IDENT * IDENT / IDENT NEWLINE " +
		"IDENT = STRING NEWLINE } NEWLINE ( ) , [ ] EOF"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("token types:\n got %s\nwant %s", g, want)
	}
	// Without blanks, the tokens are the whole source.
	strip := func(s string) string { return strings.NewReplacer(" ", "", "\t", "").Replace(s) }
	if strip(rebuilt.String()) != strip(src) {
		t.Errorf("tokens do not rebuild the source:\n%q", rebuilt.String())
	}
	// Positions: "x" on line 2, col 3; the comment after the raw string on line 3.
	for _, tk := range toks {
		if tk.Text == "x" && (tk.Range.Start.Line != 2 || tk.Range.Start.Column != 3) {
			t.Errorf("x at %d:%d, want 2:3", tk.Range.Start.Line, tk.Range.Start.Column)
		}
		if tk.Text == "// c1" && (tk.Range.Start.Line != 3 || tk.Range.Start.Column != 7) {
			t.Errorf("// c1 at %d:%d, want 3:7", tk.Range.Start.Line, tk.Range.Start.Column)
		}
	}
}

func TestScanErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"x = \"abc\ny = 1", "t.river:1:5: string literal not terminated"},
		{"x = `abc", "t.river:1:5: raw string literal not terminated"},
		{"x = 1 /* abc", "t.river:1:7: comment not terminated"},
		{"x = 'a'", "t.river:1:5: illegal character '\\''"},
		{"x = a & b", "t.river:1:7: illegal character '&'"},
		{"x = \"\\q\"", "t.river:1:6: unknown escape sequence"},
		{"x = \"\\u12\"", "t.river:1:6: escape sequence has too few digits"},
		{"x = \"\\uD800\"", "t.river:1:6: escape sequence is an invalid Unicode code point"},
		{"x = 1e", "t.river:1:5: exponent has no digits"},
		{"x = \xff", "t.river:1:5: invalid UTF-8 encoding"},
		{"x = ¤", "t.river:1:5: illegal character U+00A4"},
	}
	for _, tt := range tests {
		_, diags := Scan([]byte(tt.src), "t.river")
		if len(diags) != 1 {
			t.Errorf("%q: got %d diagnostics, want 1: %v", tt.src, len(diags), diags)
			continue
		}
		if got := diagPos(diags[0]); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%q:\n got %s\nwant prefix %s", tt.src, got, tt.want)
		}
	}
}

// diagPos renders a diagnostic as "file:line:col: summary" for comparisons.
func diagPos(d *hcl.Diagnostic) string {
	if d.Subject == nil {
		return d.Summary
	}
	return fmt.Sprintf("%s:%d:%d: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, d.Summary)
}

// IsIdentifier agrees with the scanner: a string it accepts scans as one
// IDENT token, and one it refuses does not (or is a literal).
func TestIsIdentifierAgreesWithTheScanner(t *testing.T) {
	for _, s := range []string{"a", "_", "_a1", "remote_write", "A9", "é", "über2", "x٣", "", "1a", "a-b", "a.b", "a b", "true", "false", "null", "\xff", "a\xff", "٣x"} {
		toks, diags := Scan([]byte(s), "t.river")
		scanned := !diags.HasErrors() && len(toks) == 2 && toks[0].Type == IDENT && toks[0].Text == s &&
			s != "true" && s != "false" && s != "null"
		if got := IsIdentifier(s); got != scanned {
			t.Errorf("IsIdentifier(%q) = %v, the scanner says %v (%v)", s, got, scanned, toks)
		}
	}
}
