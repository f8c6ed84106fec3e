package syntax

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/tools/txtar"

	"github.com/flow-telemetry/flow/syntax/stdlib"
)

// FuzzParse checks that no input makes the scanner or parser panic or hang,
// that every diagnostic points inside the input, and that evaluating the
// attributes of a file that parses cleanly does not panic either.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/seed/*.river")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	archives, _ := filepath.Glob("testdata/*/*.txtar")
	for _, p := range archives {
		if ar, err := txtar.ParseFile(p); err == nil {
			for _, file := range ar.Files {
				if file.Name == "input.river" {
					f.Add(file.Data)
				}
			}
		}
	}
	ctx := stdlib.EvalContext()
	f.Fuzz(func(t *testing.T, src []byte) {
		// A hang is a failure too: crash the worker so the fuzzer keeps the
		// input. Parsing even a megabyte takes milliseconds.
		watchdog := time.AfterFunc(10*time.Second, func() {
			panic(fmt.Sprintf("parsing or evaluating took over 10s on input %q", src))
		})
		defer watchdog.Stop()
		file, diags := ParseFile(src, "fuzz.river")
		for _, d := range diags {
			if d.Subject == nil {
				t.Fatalf("diagnostic without a range: %s", d.Summary)
			}
			if d.Subject.Start.Byte < 0 || d.Subject.End.Byte > len(src) || d.Subject.Start.Byte > d.Subject.End.Byte {
				t.Fatalf("diagnostic range %v outside the %d-byte input: %s", d.Subject, len(src), d.Summary)
			}
		}
		_ = DiagnosticsString(map[string][]byte{"fuzz.river": src}, diags)
		if diags.HasErrors() {
			return
		}
		walkAttrs(file.Body, func(a *Attribute) {
			_ = a.Expr.Variables()
			_, _ = a.Expr.Value(ctx)
		})
	})
}
