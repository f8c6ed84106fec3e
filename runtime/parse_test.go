package runtime

import (
	"strings"
	"testing"
)

// A reload parses only the files whose source changed: an unchanged file's
// tree is the running config's, a changed or renamed one is parsed anew
// (with its own errors).
func TestParseConfigReusesUnchangedFiles(t *testing.T) {
	t.Parallel()
	a := []byte("local.file \"a\" {\n  filename = \"/a\"\n}\n")
	b := []byte("local.file \"b\" {\n  filename = \"/b\"\n}\n")
	first, diags := parseConfig(map[string][]byte{"a.river": a, "b.river": b}, nil)
	if diags.HasErrors() || len(first) != 2 {
		t.Fatalf("first parse: %d files, %v", len(first), diags)
	}
	sameA := append([]byte(nil), a...) // equal bytes, another slice
	changedB := []byte("local.file \"b\" {\n  filename = \"/b2\"\n}\n")
	second, diags := parseConfig(map[string][]byte{"a.river": sameA, "b.river": changedB}, first)
	if diags.HasErrors() || len(second) != 2 {
		t.Fatalf("second parse: %d files, %v", len(second), diags)
	}
	if second[0] != first[0] {
		t.Error("the unchanged a.river was parsed again")
	}
	if second[1] == first[1] || !strings.Contains(string(second[1].Bytes), "/b2") {
		t.Error("the changed b.river kept its old tree")
	}
	// The same source under another name is parsed: positions name the file.
	third, _ := parseConfig(map[string][]byte{"c.river": a}, second)
	if third[0] == first[0] || third[0].Name != "c.river" {
		t.Errorf("a.river's source as c.river reused the tree of %s", third[0].Name)
	}
	// A changed file with an error reports it even beside reused ones.
	_, diags = parseConfig(map[string][]byte{"a.river": a, "b.river": []byte("local.file \"b\" {\n")}, second)
	if !diags.HasErrors() || diags[0].Subject.Filename != "b.river" {
		t.Errorf("a broken b.river beside an unchanged a.river: %v", diags)
	}
}
