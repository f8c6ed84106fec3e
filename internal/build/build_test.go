package build

import (
	"strings"
	"testing"
)

func TestVersionAndUserAgent(t *testing.T) {
	v := Version()
	if v == "" || strings.ContainsAny(v, " \t\n") {
		t.Fatalf("Version() = %q: want a non-empty token", v)
	}
	if UserAgent() != "flow/"+v {
		t.Fatalf("UserAgent() = %q", UserAgent())
	}
}
