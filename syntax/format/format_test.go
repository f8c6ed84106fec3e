package format

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/flow-telemetry/flow/syntax"
)

var update = flag.Bool("update", false, "rewrite the seed golden files from the formatter's output")

// TestCases holds the formatting rules case by case: testdata/alloy.txtar
// has Alloy's own formatter tests, testdata/cases.txtar ours, each output
// being what alloy fmt gives.
func TestCases(t *testing.T) {
	for _, file := range []string{"testdata/alloy.txtar", "testdata/cases.txtar"} {
		t.Run(filepath.Base(file), func(t *testing.T) { testCases(t, file) })
	}
}

func testCases(t *testing.T, file string) {
	ar, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	var names []string
	for _, f := range ar.Files {
		files[f.Name] = f.Data
		if name, ok := strings.CutSuffix(f.Name, ".in"); ok {
			names = append(names, name)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			in, want := files[name+".in"], files[name+".out"]
			if want == nil {
				t.Fatalf("no %s.out", name)
			}
			checkFormat(t, name+".river", in, want)
			// Windows line endings give the same result (raw strings aside,
			// whose newlines are part of their value).
			if !bytes.Contains(in, []byte("`")) {
				checkFormat(t, name+"-crlf.river", bytes.ReplaceAll(in, []byte("\n"), []byte("\r\n")), want)
			}
		})
	}
}

// checkFormat formats in, compares with want, and checks the result is a
// fixed point with the same tokens as the input.
func checkFormat(t *testing.T, filename string, in, want []byte) {
	t.Helper()
	got, diags := Format(in, filename)
	if diags.HasErrors() {
		t.Fatalf("%s: Format: %v", filename, diags)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got:\n%s\nwant:\n%s", filename, got, want)
	}
	again, diags := Format(got, filename)
	if diags.HasErrors() || !bytes.Equal(again, got) {
		t.Errorf("%s: not idempotent: second pass gave:\n%s", filename, again)
	}
	inToks, _ := syntax.Scan(in, filename)
	outToks, _ := syntax.Scan(got, filename)
	if i, ok := sameTokens(inToks, outToks); !ok {
		t.Errorf("%s: tokens changed at token %d", filename, i)
	}
}

func TestSeedExamples(t *testing.T) {
	inputs, err := filepath.Glob("testdata/seed/*.river")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no seed examples: %v", err)
	}
	for _, path := range inputs {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			golden := path + ".golden"
			if *update {
				out, diags := Format(in, path)
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			checkFormat(t, path, in, want)
		})
	}
}

func TestRefusesInvalidInput(t *testing.T) {
	tests := []struct {
		src, want string
	}{
		{"a = [1, 2\n", "2:1"},
		{"block {\n  a = 1\n", "1:7"},
		{"a = 'x'\n", "1:5"},
		{"a = 1 +\n", "2:1"},
	}
	for _, tt := range tests {
		out, diags := Format([]byte(tt.src), "bad.river")
		if !diags.HasErrors() {
			t.Errorf("%q: formatted invalid input as %q", tt.src, out)
			continue
		}
		if out != nil {
			t.Errorf("%q: returned output with errors", tt.src)
		}
		d := diags[0]
		if d.Subject == nil || fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column) != tt.want {
			t.Errorf("%q: diagnostic %v not at %s", tt.src, d, tt.want)
		}
	}
}
