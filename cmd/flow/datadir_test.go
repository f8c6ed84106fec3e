package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/childproc"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime"
)

func lokiWrites(labels ...string) string {
	var b strings.Builder
	for _, l := range labels {
		fmt.Fprintf(&b, "loki.write %q {\n  endpoint {\n    url = \"http://127.0.0.1:9/loki/api/v1/push\"\n  }\n}\n\n", l)
	}
	return b.String()
}

// validateBinary runs the real `flow validate` on path.
func validateBinary(t *testing.T, path string) (int, string) {
	t.Helper()
	cmd := childproc.Command(flowproc.Build(t), "validate", path)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// Two labels whose data directories coincide (same readable prefix, same
// 48-bit hash: found by a birthday search) are rejected by `flow validate`
// at both blocks, as `flow run` rejects them.
func TestValidateRejectsDataDirCollision(t *testing.T) {
	labels := []string{
		"Collision" + strings.Repeat("x", 50) + "-45579246",
		"Collision" + strings.Repeat("x", 50) + "-34599368",
	}
	if a, b := runtime.DataDirName("loki.write."+labels[0]), runtime.DataDirName("loki.write."+labels[1]); a != b {
		t.Fatalf("the labels no longer collide: %s %s", a, b)
	}
	path := filepath.Join(t.TempDir(), "collide.river")
	must(t, os.WriteFile(path, []byte(lokiWrites(labels...)), 0o644))
	code, out := validateBinary(t, path)
	if code != 1 {
		t.Fatalf("flow validate exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{path + ":1:1: components ", path + ":7:1: components ", "would share the data directory", "2 error(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	storage := t.TempDir()
	cmd := childproc.Command(flowproc.Build(t), "run", fmt.Sprintf("--server.http.listen-addr=127.0.0.1:%d", flowproc.FreePort(t)), "--storage.path="+storage, path)
	runOut, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(runOut), path+":7:1: components ") {
		t.Fatalf("flow run: %v\n%s", err, runOut)
	}
	if entries, _ := os.ReadDir(storage); len(entries) != 0 {
		t.Fatalf("flow run created %v for a rejected config", entries)
	}
}

// Labels that climb out of --storage.path or exceed NAME_MAX pass
// `flow validate`, and `flow run` keeps each component's WAL in its own
// directory directly under --storage.path.
func TestRunKeepsDataDirsInsideStoragePath(t *testing.T) {
	base := t.TempDir()
	storage := filepath.Join(base, "x", "y", "storage")
	labels := []string{"/../../../escape", "../sibling", strings.Repeat("L", 300), "plain"}
	path := filepath.Join(base, "x", "hostile.river")
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(lokiWrites(labels...)), 0o644))
	if code, out := validateBinary(t, path); code != 0 {
		t.Fatalf("flow validate exit %d:\n%s", code, out)
	}

	p := flowproc.Start(t, "--storage.path="+storage, path)
	want := map[string]bool{}
	for _, l := range labels {
		want[filepath.Join(storage, runtime.DataDirName("loki.write."+l), "wal")] = true
	}
	missing := 0
	if _, ok := testwait.Poll(30*time.Second, func() bool {
		missing = 0
		for w := range want {
			if fi, err := os.Stat(w); err != nil || !fi.IsDir() {
				missing++
			}
		}
		return missing == 0
	}); !ok {
		t.Fatalf("%d WAL directories missing under %s; stderr:\n%s", missing, storage, p.Stderr())
	}
	if _, err := os.Stat(filepath.Join(storage, "loki.write.plain", "wal")); err != nil {
		t.Errorf("a plain label does not keep its directory name: %v", err)
	}
	must(t, filepath.WalkDir(base, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		inside := q == storage || strings.HasPrefix(q, storage+string(filepath.Separator))
		if !inside && q != path && !strings.HasPrefix(storage, q+string(filepath.Separator)) {
			t.Errorf("flow created %s outside --storage.path", q)
		}
		return nil
	}))
	entries, err := os.ReadDir(storage)
	must(t, err)
	if len(entries) != len(labels) {
		t.Errorf("%d directories under --storage.path, want %d", len(entries), len(labels))
	}
}
