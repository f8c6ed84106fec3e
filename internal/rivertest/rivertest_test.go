package rivertest

import (
	"strings"
	"testing"
)

type args struct {
	Name  string `river:"name,attr"`
	Count int    `river:"count,attr,optional"`
}

func TestDecodeKeepsDefaultsAndReportsErrors(t *testing.T) {
	a := args{Count: 3}
	Decode(t, `name = "x"`, &a)
	if a.Name != "x" || a.Count != 3 {
		t.Fatalf("decoded %+v, want name x and the default count 3", a)
	}
	if diags := DecodeErr(`count = 1`, &args{}); !diags.HasErrors() || !strings.Contains(diags.Error(), "name") {
		t.Fatalf("a body without the required name: %v", diags)
	}
	if diags := DecodeErr(`name = `, &args{}); !diags.HasErrors() {
		t.Fatal("a parse error was not reported")
	}
}
