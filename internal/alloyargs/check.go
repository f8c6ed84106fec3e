package alloyargs

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/syntax"
)

// Undocumented returns the paths of args that the section "## component"
// of the Markdown file at docPath (docs/alloy-compatibility.md) does not
// name in backquotes, so that the compatibility table lists every argument
// Alloy documents. A file without that section is an error.
func Undocumented(docPath, component string, args []Arg) ([]string, error) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		return nil, err
	}
	section := string(doc)
	i := strings.Index(section, "\n## "+component+"\n")
	if i < 0 {
		return nil, fmt.Errorf("%s has no \"## %s\" section", docPath, component)
	}
	section = section[i+1:]
	if j := strings.Index(section[3:], "\n## "); j >= 0 {
		section = section[:j+3]
	}
	var missing []string
	for _, a := range args {
		if !strings.Contains(section, "`"+a.Path+"`") {
			missing = append(missing, a.Path)
		}
	}
	return missing, nil
}

// CheckDocumented fails t for each of args that Undocumented finds missing
// from component's section of docPath.
func CheckDocumented(t testing.TB, docPath, component string, args []Arg) {
	t.Helper()
	missing, err := Undocumented(docPath, component, args)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range missing {
		t.Errorf("%s: %q is not in its section of %s", component, p, docPath)
	}
}

// CheckValidates requires `flow validate`'s check (runtime.Validate, with
// the components the test binary registers) to accept each of configs,
// beside the files in peers (the components the configs refer to); each
// rejection fails t with the diagnostics and the config.
func CheckValidates(t testing.TB, configs []string, peers map[string][]byte) {
	t.Helper()
	for i, src := range configs {
		files := map[string][]byte{"every.alloy": []byte(src)}
		for name, text := range peers {
			files[name] = text
		}
		rt := runtime.New(runtime.Options{Logger: slog.New(slog.DiscardHandler)})
		if diags := rt.Validate(files); len(diags) > 0 {
			var b bytes.Buffer
			syntax.FormatDiagnostics(&b, files, diags)
			t.Errorf("config %d of %d is rejected:\n%s\n%s", i+1, len(configs), b.String(), src)
		}
	}
}
