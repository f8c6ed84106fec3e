package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each argument of flow validate is its own graph, as flow run would load it:
// two files that each define the same component are both valid, and an error
// in one is reported against that file only.
func TestValidateChecksEachArgumentAsItsOwnGraph(t *testing.T) {
	dir := t.TempDir()
	same := `local.file "x" {
  filename = "/etc/hostname"
}
`
	a, b := filepath.Join(dir, "a.river"), filepath.Join(dir, "b.river")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, []byte(same), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, stdout, stderr := flowCmd(t, "", "validate", a, b); code != 0 {
		t.Fatalf("validate a b = %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}

	bad := filepath.Join(dir, "bad.river")
	if err := os.WriteFile(bad, []byte("local.file \"x\" {\n  filenam = \"/etc/hostname\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := flowCmd(t, "", "validate", a, bad)
	if code != 1 {
		t.Fatalf("validate a bad = %d, want 1; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "bad.river:2:3") || strings.Contains(stderr, "a.river:") {
		t.Errorf("want the error at bad.river:2:3 only, got:\n%s", stderr)
	}
}
