package converter_test

import (
	"path/filepath"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/flow-telemetry/flow/internal/converter"
	"github.com/flow-telemetry/flow/internal/converter/diag"
	"github.com/flow-telemetry/flow/syntax"
)

// FuzzConvert feeds arbitrary YAML to every converter: none may panic or
// hang, and whatever output one produces must be River that parses.
//
//	go test -run '^$' -fuzz FuzzConvert -fuzztime 60s ./internal/converter/
func FuzzConvert(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*", "*.txtar"))
	for _, p := range paths {
		ar, err := txtar.ParseFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range ar.Files {
			if file.Name == "in.yaml" {
				f.Add(file.Data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, format := range converter.Formats {
			out, diags := converter.Convert(format, "fuzz.yaml", src)
			if out == nil {
				if !diags.Has(diag.Critical) {
					t.Fatalf("%s: no output and no critical diagnostic:\n%s", format, diags.Error())
				}
				continue
			}
			if _, d := syntax.ParseFile(out, "out.river"); d.HasErrors() {
				t.Fatalf("%s: output does not parse: %s\n%s", format, d.Error(), out)
			}
		}
	})
}
