package alloyargs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"a string\na int", `"a" listed twice`},
		{"b > c string", `not listed`},
		{"lonely", `want "path type"`},
	} {
		if _, err := Parse(tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.text, err, tc.want)
		}
	}
}

// TestConfigsCoverEveryArgument: every argument appears in some config,
// and no config holds two alternatives of one group.
func TestConfigsCoverEveryArgument(t *testing.T) {
	args, err := Parse(`
url        string
a          block
a > x      string
a > y      string
b          block
b > z      int
c          secret
`)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Component: "x.y", Label: "l", Args: args,
		Exclusive: [][][]string{{{"a"}, {"b"}, {"c"}}, {{"a > x"}, {"a > y"}}},
		Values:    map[string]string{"url": `"http://h"`}}
	configs, unused := spec.Configs()
	if len(unused) != 0 {
		t.Fatalf("unused %v", unused)
	}
	seen := map[string]bool{}
	for _, c := range configs {
		if !strings.Contains(c, `url = "http://h"`) {
			t.Errorf("override missing:\n%s", c)
		}
		has := func(s string) bool { return strings.Contains(c, s) }
		n := 0
		for _, s := range []string{"a {", "b {", "c = "} {
			if has(s) {
				n++
			}
		}
		if n != 1 || (has("x = ") && has("y = ")) {
			t.Errorf("config mixes alternatives:\n%s", c)
		}
		for _, s := range []string{"x = ", "y = ", "z = 1", "c = \"example\""} {
			if has(s) {
				seen[s] = true
			}
		}
	}
	if len(seen) != 4 {
		t.Fatalf("covered %v in %d configs:\n%s", seen, len(configs), strings.Join(configs, "\n"))
	}
}

// TestUndocumented: only the component's own section counts, up to the next
// heading of its level; a section named by a longer component's prefix is
// not it.
func TestUndocumented(t *testing.T) {
	path := filepath.Join(t.TempDir(), "compat.md")
	doc := "# T\n\n## a.bx\n`port`\n\n## a.b\n| `region` | yes |\n### Notes\n`filter`\n\n## c\n`port`\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []Arg{{Path: "region", Type: "string"}, {Path: "filter", Type: "block"}, {Path: "port", Type: "int"}}
	missing, err := Undocumented(path, "a.b", args)
	if err != nil || !slices.Equal(missing, []string{"port"}) {
		t.Errorf("Undocumented = %v, %v; want [port]", missing, err)
	}
	if _, err := Undocumented(path, "a", args); err == nil {
		t.Error("no error for a component without a section")
	}
}
