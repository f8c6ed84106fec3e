package main

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/childproc"
	"github.com/flow-telemetry/flow/internal/flowproc"
)

// unaryChain is the config: one attribute holding 3 MB of "!".
// Before the parser bounded the depth of the tree it builds, evaluating it
// overflowed the stack: `fatal error: stack overflow`, the process gone.
func unaryChain() string {
	return "local.file \"x\" {\n  filename = " + strings.Repeat("!", 3_000_000) + "true\n}\n"
}

const deepError = "nesting is too deep (more than 1000 levels)"

// flow validate, the built binary in its own process, reports the deep
// expression at its position and exits 1 rather than crashing.
func TestValidateRefusesDeepExpression(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deep.river")
	must(t, os.WriteFile(path, []byte(unaryChain()), 0o644))
	var stdout, stderr bytes.Buffer
	cmd := childproc.Command(flowproc.Build(t), "validate", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("flow validate: %v (want exit status 1)\nstderr: %.2000s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "deep.river:2:14: "+deepError) {
		t.Errorf("stderr does not name the position and the limit:\n%.2000s", stderr.String())
	}
	if stderr.Len() > 10_000 {
		t.Errorf("stderr is %d bytes: the 3 MB line must not be quoted whole", stderr.Len())
	}
}

// POST /-/reload?dry_run=1 with the same config answers 400 with the error,
// and the agent keeps running.
func TestReloadDryRunRefusesDeepExpression(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.river")
	must(t, os.WriteFile(cfgPath, []byte("local.file \"a\" {\n  filename = \""+cfgPath+"\"\n}\n"), 0o644))
	p := startFlow(t, cfgPath, 10*time.Second)
	for _, path := range []string{"/-/reload?dry_run=1", "/-/reload"} {
		code, body := p.post(t, path, unaryChain())
		if code != http.StatusBadRequest || !strings.Contains(body, ":2:14: "+deepError) {
			t.Errorf("%s: %d %.1000s", path, code, body)
		}
	}
	resp, err := http.Get(p.URL() + "/-/ready")
	if err != nil {
		t.Fatalf("after the deep config: %v\nstderr: %s", err, p.Stderr())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/-/ready = %d after the deep config", resp.StatusCode)
	}
	if _, ok := p.components(t)["local.file.a"]; !ok {
		t.Error("the running config was replaced by a refused one")
	}
}
