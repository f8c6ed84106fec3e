package syntax

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func mustParse(t *testing.T, src string) *File {
	t.Helper()
	f, diags := ParseFile([]byte(src), "t.river")
	if diags.HasErrors() {
		t.Fatalf("parse %q: %s", src, DiagnosticsString(map[string][]byte{"t.river": []byte(src)}, diags))
	}
	return f
}

func TestParseStructure(t *testing.T) {
	src := `// leading
prometheus.scrape "my-label" { // after brace
  targets = []
  endpoint { url = "x" }
  rule {
    action = "keep"
  }
  rule { }
  /* between */
}
logging { }
x = 1 # trailing
`
	f := mustParse(t, src)
	if got := len(f.Body.Stmts); got != 3 {
		t.Fatalf("got %d top-level statements, want 3", got)
	}
	b := f.Body.Blocks()[0]
	if b.Name != "prometheus.scrape" || !b.HasLabel || b.Label != "my-label" || b.ID() != "prometheus.scrape.my-label" {
		t.Errorf("block header: name %q label %q (has %v) id %q", b.Name, b.Label, b.HasLabel, b.ID())
	}
	if got := rangeText(src, b.NameRange); got != "prometheus.scrape" {
		t.Errorf("NameRange covers %q", got)
	}
	if got := rangeText(src, b.LabelRange); got != `"my-label"` {
		t.Errorf("LabelRange covers %q", got)
	}
	if got := rangeText(src, b.OpenBraceRange) + rangeText(src, b.CloseBraceRange); got != "{}" {
		t.Errorf("brace ranges cover %q", got)
	}
	if got := rangeText(src, b.Range); !strings.HasPrefix(got, "prometheus.scrape") || !strings.HasSuffix(got, "}") {
		t.Errorf("block Range covers %q", got)
	}
	var kinds []string
	for _, s := range b.Body.Stmts {
		switch s := s.(type) {
		case *Attribute:
			kinds = append(kinds, "attr:"+s.Name)
		case *Block:
			kinds = append(kinds, "block:"+s.Name)
		}
	}
	if want := []string{"attr:targets", "block:endpoint", "block:rule", "block:rule"}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("body statements %v, want %v", kinds, want)
	}
	endpoint := b.Body.Blocks()[0]
	if a := endpoint.Body.Attributes(); len(a) != 1 || a[0].Name != "url" {
		t.Errorf("one-line block body: %+v", a)
	}
	if logging := f.Body.Blocks()[1]; logging.HasLabel || logging.ID() != "logging" || len(logging.Body.Stmts) != 0 {
		t.Errorf("logging block: %+v", logging)
	}
	attr := f.Body.Attributes()[0]
	if got := rangeText(src, attr.Range); got != "x = 1" {
		t.Errorf("attribute Range covers %q", got)
	}
	var comments []string
	for _, c := range f.Comments {
		comments = append(comments, c.Text)
		if rangeText(src, c.Range) != c.Text {
			t.Errorf("comment %q range covers %q", c.Text, rangeText(src, c.Range))
		}
	}
	if want := []string{"// leading", "// after brace", "/* between */", "# trailing"}; !reflect.DeepEqual(comments, want) {
		t.Errorf("comments %q, want %q", comments, want)
	}
	if f.Name != "t.river" || string(f.Bytes) != src {
		t.Errorf("File name %q or bytes not kept", f.Name)
	}
}

func TestParseLabels(t *testing.T) {
	for _, tt := range []struct{ src, label string }{
		{`a "my-label" {}`, "my-label"},
		{`a "with space" {}`, "with space"},
		{`a "" {}`, ""},
		{`a "esc\"aped" {}`, `esc"aped`},
		{`a.b.c "x_1" {}`, "x_1"},
	} {
		b := mustParse(t, tt.src).Body.Blocks()[0]
		if !b.HasLabel || b.Label != tt.label {
			t.Errorf("%s: label %q (has %v), want %q", tt.src, b.Label, b.HasLabel, tt.label)
		}
	}
}

func TestParseNesting(t *testing.T) {
	src := "endpoint { aws_sigv4 { credentials { token = a.b } } }\n"
	f := mustParse(t, src)
	b := f.Body.Blocks()[0].Body.Blocks()[0].Body.Blocks()[0]
	if b.Name != "credentials" || b.Body.Attributes()[0].Name != "token" {
		t.Errorf("nested block: %+v", b)
	}
}

func TestVariables(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`1 + 2`, nil},
		{`aws.credentials.default.token`, []string{"aws.credentials.default.token"}},
		{`a.b.c[0].d`, []string{"a.b.c"}},
		{`a[b.c]`, []string{"a", "b.c"}},
		{`string.format("%s", x.y, [z.w, {k = v.u}])`, []string{"x.y", "z.w", "v.u"}},
		{`(a.b + c.d) * -e.f`, []string{"a.b", "c.d", "e.f"}},
		{`!flag && other`, []string{"flag", "other"}},
		{`f(g(h.i)).j`, []string{"h.i"}},
		{`[prometheus.remote_write.default.receiver]`, []string{"prometheus.remote_write.default.receiver"}},
		{`{a = x}["a"]`, []string{"x"}},
	}
	for _, tt := range tests {
		e, diags := ParseExpression([]byte(tt.expr), "e.river", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", tt.expr, diags.Error())
		}
		var got []string
		for _, tr := range e.Variables() {
			got = append(got, traversalString(tr))
			if _, ok := tr[0].(hcl.TraverseRoot); !ok {
				t.Errorf("%s: traversal does not start with a root: %#v", tt.expr, tr)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Variables %v, want %v", tt.expr, got, tt.want)
		}
	}
}

func TestTraversalRanges(t *testing.T) {
	src := "x = aws.credentials.default.token\n"
	f := mustParse(t, src)
	tr := f.Body.Attributes()[0].Expr.Variables()[0]
	var parts []string
	for _, step := range tr {
		parts = append(parts, rangeText(src, step.SourceRange()))
	}
	if want := []string{"aws", "credentials", "default", "token"}; !reflect.DeepEqual(parts, want) {
		t.Errorf("traversal step ranges cover %v, want %v", parts, want)
	}
	if got := rangeText(src, tr.SourceRange()); got != "aws.credentials.default.token" {
		t.Errorf("traversal range covers %q", got)
	}
}

func TestParseExpressionOffset(t *testing.T) {
	// An expression embedded at line 3, column 5, byte 20 of a larger file.
	start := hcl.Pos{Line: 3, Column: 5, Byte: 20}
	e, diags := ParseExpression([]byte("1 +\n  foo.bar"), "f.river", start)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	r := e.Variables()[0].SourceRange()
	if r.Start.Line != 4 || r.Start.Column != 3 || r.Start.Byte != 26 {
		t.Errorf("reference at %d:%d byte %d, want 4:3 byte 26", r.Start.Line, r.Start.Column, r.Start.Byte)
	}
	_, diags = ParseExpression([]byte("1 2"), "f.river", start)
	if len(diags) != 1 || !strings.Contains(diags[0].Summary, "extra characters after the expression") || diags[0].Subject.Start.Column != 7 {
		t.Errorf("trailing token: %v", diags)
	}
}

func TestHCLHelpers(t *testing.T) {
	e, _ := ParseExpression([]byte(`[a.b, {k = 1}, f(x)]`), "e.river", hcl.InitialPos)
	items, diags := hcl.ExprList(e)
	if diags.HasErrors() || len(items) != 3 {
		t.Fatalf("ExprList: %d items, %v", len(items), diags)
	}
	tr, diags := hcl.AbsTraversalForExpr(items[0])
	if diags.HasErrors() || traversalString(tr) != "a.b" {
		t.Errorf("AbsTraversalForExpr: %v %v", tr, diags)
	}
	pairs, diags := hcl.ExprMap(items[1])
	if diags.HasErrors() || len(pairs) != 1 {
		t.Errorf("ExprMap: %v %v", pairs, diags)
	}
	call, diags := hcl.ExprCall(items[2])
	if diags.HasErrors() || call.Name != "f" || len(call.Arguments) != 1 {
		t.Errorf("ExprCall: %+v %v", call, diags)
	}
	paren, _ := ParseExpression([]byte(`(a.b)`), "e.river", hcl.InitialPos)
	if tr, diags := hcl.AbsTraversalForExpr(paren); diags.HasErrors() || traversalString(tr) != "a.b" {
		t.Errorf("AbsTraversalForExpr through parentheses: %v %v", tr, diags)
	}
}

func TestSeedExamplesParse(t *testing.T) {
	paths, err := filepath.Glob("testdata/seed/*.river")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seed examples: %v", err)
	}
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, diags := ParseFile(src, path)
		if diags.HasErrors() {
			t.Errorf("%s:\n%s", path, DiagnosticsString(map[string][]byte{path: src}, diags))
			continue
		}
		if len(f.Body.Blocks()) == 0 {
			t.Errorf("%s: no blocks", path)
		}
		// Every comment line of the seed files is kept.
		if want := strings.Count(string(src), "\n#"); len(f.Comments) < want {
			t.Errorf("%s: %d comments, want at least %d", path, len(f.Comments), want)
		}
		// Every component reference is found, e.g. forward_to's receiver.
		for _, b := range f.Body.Blocks() {
			walkAttrs(b.Body, func(a *Attribute) {
				if a.Name == "forward_to" && len(a.Expr.Variables()) == 0 {
					t.Errorf("%s: forward_to of %s has no references", path, b.ID())
				}
			})
		}
	}
}

func walkAttrs(b *Body, fn func(*Attribute)) {
	for _, s := range b.Stmts {
		switch s := s.(type) {
		case *Attribute:
			fn(s)
		case *Block:
			walkAttrs(s.Body, fn)
		}
	}
}

func rangeText(src string, r hcl.Range) string {
	if r.Start.Byte < 0 || r.End.Byte > len(src) || r.Start.Byte > r.End.Byte {
		return "<bad range>"
	}
	return src[r.Start.Byte:r.End.Byte]
}
