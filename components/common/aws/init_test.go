package aws

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

// Every flow process links this package: its init must not build what
// only an AWS error or a credentials block needs (the error hints, the
// regular expressions). It allocated 75 KB before they were built on
// first use; the init heap counts about twice in RSS (issue 16).
func TestInitAllocatesLittle(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("running the test binary with inittrace: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^init github.com/flow-telemetry/flow/components/common/aws @[^,]+, [^,]+, (\d+) bytes`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no inittrace line for this package in:\n%s", out)
	}
	bytes, _ := strconv.Atoi(string(m[1]))
	if bytes > 8<<10 {
		t.Fatalf("the package's init allocated %d bytes, want under 8 KiB: build tables and regular expressions on first use", bytes)
	}
	t.Logf("init allocated %d bytes", bytes)
}

// The hints and the expressions built on first use are the ones the
// package had.
func TestLazyTablesWork(t *testing.T) {
	if Hint("MissingAuthenticationTokenException") == "" || Hint("ExpiredToken") == "" || Hint("NoSuchCode") != "" {
		t.Fatal("hints: missing an entry or the Exception spellings")
	}
	if got := Scrub("key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY ok"); got != "key AKIAIOSFODNN7EXAMPLE secret (secret) ok" {
		t.Fatalf("Scrub: %q", got)
	}
	if got := RegionFromHost("aps-workspaces.eu-west-1.amazonaws.com:443"); got != "eu-west-1" {
		t.Fatalf("RegionFromHost: %q", got)
	}
	bad := CredentialsArgs{SessionName: "x"}
	if err := bad.Validate(); err == nil {
		t.Fatal("a one-character session_name validated")
	}
}
