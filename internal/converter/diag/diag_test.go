package diag

import (
	"strings"
	"testing"
)

func TestReportAndBlocking(t *testing.T) {
	ds := Diagnostics{
		{Severity: Warning, File: "a.yaml", Line: 3, Column: 5, Summary: "w", Hint: "do x"},
		{Severity: Error, File: "a.yaml", Line: 1, Column: 1, Summary: "e."},
		{Severity: Info, Summary: "i"},
	}
	ds.Sort()
	if ds[0].Line != 0 || ds[1].Line != 1 {
		t.Errorf("not sorted by position: %v", ds)
	}
	if !ds.Blocking(false) || ds.Blocking(true) {
		t.Error("an Error blocks unless bypassed")
	}
	var sb strings.Builder
	if err := ds.WriteReport(&sb, true); err != nil {
		t.Fatal(err)
	}
	want := "(Info) i\n(Error) a.yaml:1:1: e.\n(Warning) a.yaml:3:5: w. Hint: do x\n0 critical, 1 error(s), 1 warning(s), 1 info.\n" +
		"A configuration was generated with --bypass-errors: what the errors above name is not in it.\n"
	if sb.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", sb.String(), want)
	}
	crit := append(ds, Diagnostic{Severity: Critical, Summary: "c"})
	if !crit.Blocking(true) {
		t.Error("a Critical blocks even with bypass")
	}
}

func TestHCLPositions(t *testing.T) {
	src := []byte("a: 1\nbé: 2\n")
	h := Diagnostics{{Severity: Error, File: "f", Line: 2, Column: 3, Summary: "x", Hint: "y"}}.HCL(map[string][]byte{"f": src})
	if r := h[0].Subject; r == nil || r.Start.Byte != 8 || h[0].Detail != "hint: y" {
		t.Fatalf("subject %+v detail %q: byte offset must count é as 2 bytes", h[0].Subject, h[0].Detail)
	}
}
