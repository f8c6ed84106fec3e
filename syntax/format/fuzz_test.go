package format

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/flow-telemetry/flow/syntax"
)

// FuzzFormat checks that formatting never panics, refuses exactly the input
// that does not parse, produces output that parses, and is idempotent.
func FuzzFormat(f *testing.F) {
	if ar, err := txtar.ParseFile("testdata/cases.txtar"); err == nil {
		for _, file := range ar.Files {
			f.Add(file.Data)
		}
	}
	seeds, _ := filepath.Glob("testdata/seed/*.river")
	for _, path := range seeds {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("a = [[[\n1,\n]]]\nb { # c\n} # end\n/* c */ x = -f(!y)[0].z\n"))

	f.Fuzz(func(t *testing.T, src []byte) {
		_, parseDiags := syntax.ParseFile(src, "fuzz.river")
		out, diags := Format(src, "fuzz.river")
		if parseDiags.HasErrors() {
			if !diags.HasErrors() {
				t.Fatalf("formatted input that does not parse:\n%q", src)
			}
			return
		}
		if diags.HasErrors() {
			t.Fatalf("could not format input that parses: %v\n%q", diags, src)
		}
		if _, diags := syntax.ParseFile(out, "fuzz.river"); diags.HasErrors() {
			t.Fatalf("formatted output does not parse: %v\ninput:\n%q\noutput:\n%q", diags, src, out)
		}
		again, diags := Format(out, "fuzz.river")
		if diags.HasErrors() || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\ninput:\n%q\nfirst:\n%q\nsecond:\n%q", src, out, again)
		}
	})
}
