package file_match

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
)

func touch(t *testing.T, path string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func paths(ts []map[string]string) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t["__path__"])
	}
	return out
}

func TestExpand(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	touch(t, filepath.Join(dir, "a.log"), time.Time{})
	touch(t, filepath.Join(dir, "b.log"), time.Time{})
	touch(t, filepath.Join(dir, "b.log.1"), time.Time{})
	touch(t, filepath.Join(dir, "skip.log"), time.Time{})
	touch(t, filepath.Join(dir, "old.log"), now.Add(-48*time.Hour))
	touch(t, filepath.Join(dir, "nested", "deep", "c.log"), time.Time{})
	if err := os.Mkdir(filepath.Join(dir, "dir.log"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, problem := Expand([]map[string]string{
		{"__path__": filepath.Join(dir, "*.log"), "__path_exclude__": filepath.Join(dir, "skip.log"), "job": "app"},
		{"__path__": filepath.Join(dir, "**", "c.log"), "job": "deep"},
		{"job": "no path: skipped"},
	}, 24*time.Hour, now)
	if problem != "" {
		t.Fatal(problem)
	}
	want := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log"), filepath.Join(dir, "nested", "deep", "c.log")}
	if g := paths(got); len(g) != len(want) || g[0] != want[0] || g[1] != want[1] || g[2] != want[2] {
		t.Fatalf("got %v, want %v (no directory, no excluded file, nothing older than ignore_older_than)", g, want)
	}
	if got[0]["job"] != "app" || got[2]["job"] != "deep" {
		t.Errorf("labels not carried: %v", got)
	}
	if _, ok := got[0]["__path_exclude__"]; ok {
		t.Errorf("__path_exclude__ must not reach the file targets: %v", got[0])
	}
}

// TestRescan: a file created later appears in the exports at the next sync.
func TestRescan(t *testing.T) {
	dir := t.TempDir()
	touch(t, filepath.Join(dir, "a.log"), time.Time{})
	var mu sync.Mutex
	var last Exports
	c, err := New(component.Options{ID: "local.file_match.test", Logger: slog.New(slog.DiscardHandler),
		OnStateChange: func(e component.Exports) { mu.Lock(); last = e.(Exports); mu.Unlock() }},
		Arguments{PathTargets: []map[string]string{{"__path__": filepath.Join(dir, "*.log")}}, SyncPeriod: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx) }()
	mu.Lock()
	if n := len(last.Targets); n != 1 {
		t.Fatalf("first scan: %d targets", n)
	}
	mu.Unlock()
	touch(t, filepath.Join(dir, "b.log"), time.Time{})
	if _, ok := testwait.Poll(30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(last.Targets) == 2
	}); !ok {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the new file never appeared: %v", last)
	}
	if h := c.CurrentHealth(); h.Health != component.HealthHealthy {
		t.Errorf("health %+v", h)
	}
}

func TestValidate(t *testing.T) {
	a := Arguments{PathTargets: []map[string]string{{"__path__": "/var/log/[.log"}}, SyncPeriod: time.Second}
	if err := a.Validate(); err == nil {
		t.Error("a broken glob must be refused")
	}
	a = Arguments{SyncPeriod: 0}
	if err := a.Validate(); err == nil {
		t.Error("sync_period 0 must be refused")
	}
}
