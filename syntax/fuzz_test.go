package syntax

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
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
		if d := bodyDepth(file.Body); d > MaxDepth {
			t.Fatalf("a tree %d levels deep, over MaxDepth", d)
		}
		if diags.HasErrors() {
			return
		}
		walkAttrs(file.Body, func(a *Attribute) {
			_ = a.Expr.Variables()
			_, _ = a.Expr.Value(ctx)
		})
	})
}

// bodyDepth is the depth of the deepest node under b: each block, and each
// expression node (a reference step too), counts one.
func bodyDepth(b *Body) int {
	d := 0
	for _, s := range b.Stmts {
		switch s := s.(type) {
		case *Attribute:
			d = max(d, exprDepth(s.Expr))
		case *Block:
			d = max(d, 1+bodyDepth(s.Body))
		}
	}
	return d
}

func exprDepth(e hcl.Expression) int {
	switch e := e.(type) {
	case *ScopeTraversalExpr:
		return len(e.Traversal)
	case *ArrayExpr:
		d := 0
		for _, it := range e.Items {
			d = max(d, exprDepth(it))
		}
		return d + 1
	case *ObjectExpr:
		d := 0
		for _, it := range e.Items {
			d = max(d, exprDepth(it.Value))
		}
		return d + 1
	case *AccessExpr:
		return exprDepth(e.Source) + 1
	case *IndexExpr:
		return max(exprDepth(e.Collection), exprDepth(e.Key)) + 1
	case *CallExpr:
		d := 0
		if e.Callee != nil {
			d = exprDepth(e.Callee)
		}
		for _, a := range e.Args {
			d = max(d, exprDepth(a))
		}
		return d + 1
	case *UnaryExpr:
		return exprDepth(e.Operand) + 1
	case *BinaryExpr:
		return max(exprDepth(e.LHS), exprDepth(e.RHS)) + 1
	case *ParenExpr:
		return exprDepth(e.Inner) + 1
	}
	return 1
}
