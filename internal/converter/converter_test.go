package converter_test

import (
	"bytes"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	_ "github.com/flow-telemetry/flow/components/all"
	"github.com/flow-telemetry/flow/internal/converter"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/syntax"
)

var update = flag.Bool("update", false, "rewrite the output sections of testdata/*/*.txtar")

// TestGolden converts every testdata/<format>/*.txtar archive's "in.yaml"
// and compares the River output ("out.river", absent when nothing is
// produced) and the report ("report"). Every output must then load: it is
// validated by the runtime, as `flow validate` does, after filling in the
// seed article's <PLACEHOLDERS>.
func TestGolden(t *testing.T) {
	archives, err := filepath.Glob("testdata/*/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(archives) == 0 {
		t.Fatal("no golden archives under testdata/")
	}
	for _, path := range archives {
		format := filepath.Base(filepath.Dir(path))
		t.Run(format+"/"+strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			in := section(ar, "in.yaml")
			if in == nil {
				t.Fatalf("%s has no in.yaml section", path)
			}
			out, diags := converter.Convert(format, "in.yaml", in)
			var report bytes.Buffer
			// The golden report is the --bypass-errors one: it says what
			// was left out of the output the archive holds.
			if err := diags.WriteReport(&report, true); err != nil {
				t.Fatal(err)
			}
			if *update {
				setSection(ar, "out.river", out)
				setSection(ar, "report", report.Bytes())
				if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				if want := section(ar, "out.river"); !bytes.Equal(out, want) {
					t.Errorf("out.river differs; got:\n%s\nwant:\n%s\n(run go test -update to rewrite the archives, then review the diff)", out, want)
				}
				if want := section(ar, "report"); !bytes.Equal(report.Bytes(), want) {
					t.Errorf("report differs; got:\n%s\nwant:\n%s", report.Bytes(), want)
				}
			}
			if out == nil {
				return
			}
			filled := fillPlaceholders(out)
			files := map[string][]byte{"out.river": filled}
			rt := runtime.New(runtime.Options{Logger: slog.New(slog.DiscardHandler)})
			if d := rt.Validate(files); d.HasErrors() {
				t.Errorf("the converted config does not validate:\n%s\n%s", syntax.DiagnosticsString(files, d), filled)
			}
		})
	}
}

var placeholderRE = regexp.MustCompile(`<[A-Z][A-Z0-9_]*>`)

// fillPlaceholders does what the user is told to do: replace the seed
// article's placeholders with real values.
func fillPlaceholders(src []byte) []byte {
	return placeholderRE.ReplaceAllFunc(src, func(m []byte) []byte {
		switch s := string(m); {
		case strings.Contains(s, "REGION"):
			return []byte("us-east-1")
		case strings.Contains(s, "ACCOUNT"):
			return []byte("123456789012")
		default:
			return []byte("filled-in")
		}
	})
}

func section(ar *txtar.Archive, name string) []byte {
	for _, f := range ar.Files {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}

func setSection(ar *txtar.Archive, name string, data []byte) {
	for i, f := range ar.Files {
		if f.Name == name {
			if data == nil {
				ar.Files = append(ar.Files[:i], ar.Files[i+1:]...)
				return
			}
			ar.Files[i].Data = data
			return
		}
	}
	if data != nil {
		ar.Files = append(ar.Files, txtar.File{Name: name, Data: data})
	}
}
