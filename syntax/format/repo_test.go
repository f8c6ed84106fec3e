package format

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/syntax"
)

// TestRepositoryFilesStable formats every .river and .alloy file in the
// repository (examples, test data) and checks that formatting the result
// again changes nothing, and that the examples are already formatted.
// Files that do not parse on purpose (error cases) are skipped.
func TestRepositoryFilesStable(t *testing.T) {
	root := repoRoot(t)
	var checked, examples int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == ".git" || name == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".river") && !strings.HasSuffix(path, ".alloy") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if _, diags := syntax.ParseFile(src, rel); diags.HasErrors() {
			return nil
		}
		once, diags := Format(src, rel)
		if diags.HasErrors() {
			t.Errorf("%s: %v", rel, diags)
			return nil
		}
		twice, diags := Format(once, rel)
		if diags.HasErrors() || !bytes.Equal(once, twice) {
			t.Errorf("%s: formatting is not stable; second pass:\n%s", rel, twice)
		}
		if strings.HasPrefix(rel, "examples"+string(filepath.Separator)) {
			examples++
			if !bytes.Equal(src, once) {
				t.Errorf("%s is not formatted: run flow fmt -w %s", rel, rel)
			}
		}
		checked++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 || examples == 0 {
		t.Fatalf("checked only %d files (%d examples) under %s", checked, examples, root)
	}
}

// repoRoot is the directory holding go.mod, above this package.
func repoRoot(t *testing.T) string {
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
}
