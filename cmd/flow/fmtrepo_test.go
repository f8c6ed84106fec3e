package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFmtRepositoryConfigs runs the CLI over every .river and .alloy file in
// the repository: `flow fmt` of each file that parses is stable (`flow fmt
// -t` accepts the output), and each file `flow validate` accepts is still
// valid once formatted, so formatting never changes what a config means to
// the runtime. syntax/format's TestRepositoryFilesStable checks the
// formatter itself on the same files.
func TestFmtRepositoryConfigs(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".river") || strings.HasSuffix(path, ".alloy")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found only %d config files under %s", len(files), root)
	}
	valid := 0
	for _, path := range files {
		rel, _ := filepath.Rel(root, path)
		code, once, stderr := flowCmd(t, "", "fmt", path)
		if code != 0 {
			continue // a file that does not parse on purpose
		}
		if code, _, stderr := flowCmd(t, once, "fmt", "-t", "-"); code != 0 {
			t.Errorf("%s: flow fmt output is not stable (flow fmt -t: %s)", rel, stderr)
		}
		if code, _, _ := flowCmd(t, "", "validate", path); code != 0 {
			continue
		}
		valid++
		tmp := filepath.Join(t.TempDir(), filepath.Base(path))
		if err := os.WriteFile(tmp, []byte(once), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, vstderr := flowCmd(t, "", "validate", tmp); code != 0 {
			t.Errorf("%s validates, but not once formatted:\n%s\n%s", rel, vstderr, stderr)
		}
	}
	if valid < 15 {
		t.Fatalf("only %d of %d files validate", valid, len(files))
	}
}
