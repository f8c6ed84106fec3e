package file

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// recorder collects published exports.
type recorder struct {
	mu   sync.Mutex
	last []Exports
}

func (r *recorder) onStateChange(e component.Exports) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = append(r.last, e.(Exports))
}

func (r *recorder) latest() (Exports, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.last) == 0 {
		return Exports{}, 0
	}
	return r.last[len(r.last)-1], len(r.last)
}

func start(t *testing.T, args Arguments) (*Component, *recorder) {
	t.Helper()
	return startLive(t, args, nil)
}

// startLive is start with live debugging publishing to ld.
func startLive(t *testing.T, args Arguments, ld component.LiveDebug) (*Component, *recorder) {
	t.Helper()
	rec := &recorder{}
	opts := component.Options{
		ID:            "local.file.test",
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer:    prometheus.NewRegistry(),
		DataPath:      t.TempDir(),
		OnStateChange: rec.onStateChange,
		LiveDebug:     ld,
	}
	c, err := New(opts, args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, rec
}

func defaults(a Arguments) Arguments {
	d := Arguments{}
	d.SetToDefault()
	d.Filename, d.IsSecret = a.Filename, a.IsSecret
	if a.PollFrequency != 0 {
		d.PollFrequency = a.PollFrequency
	}
	return d
}

func TestExportsContentAndFollowsChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, rec := start(t, defaults(Arguments{Filename: path}))
	if e, _ := rec.latest(); e.Content != "one" {
		t.Fatalf("content after build = %#v", e.Content)
	}
	if h := c.CurrentHealth(); h.Health != component.HealthHealthy {
		t.Fatalf("health = %+v", h)
	}
	// A rewrite is seen at once (fsnotify), long before the default
	// poll_frequency of 1m.
	if err := os.WriteFile(path, []byte("two!"), 0o600); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, func() bool { e, _ := rec.latest(); return e.Content == "two!" }, "new content")
	_, n := rec.latest()
	time.Sleep(1200 * time.Millisecond)
	if _, m := rec.latest(); m != n {
		t.Fatalf("unchanged file republished (%d → %d exports)", n, m)
	}
}

func TestSameSizeSameMtimeRewriteIsCaughtByPoll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(path, []byte("aaaa"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	_, rec := start(t, defaults(Arguments{Filename: path, PollFrequency: 100 * time.Millisecond}))
	if err := os.WriteFile(path, []byte("bbbb"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, func() bool { e, _ := rec.latest(); return e.Content == "bbbb" }, "rewritten content")
}

func TestSecretContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, rec := start(t, defaults(Arguments{Filename: path, IsSecret: true}))
	e, _ := rec.latest()
	s, ok := e.Content.(value.Secret)
	if !ok || string(s) != "hunter2" {
		t.Fatalf("content = %#v, want the secret", e.Content)
	}
	// Turning is_secret off re-exports the same content as a string.
	if err := c.Update(defaults(Arguments{Filename: path})); err != nil {
		t.Fatal(err)
	}
	if e, _ := rec.latest(); e.Content != "hunter2" {
		t.Fatalf("content after is_secret=false = %#v", e.Content)
	}
}

func TestMissingFileIsUnhealthyUntilItAppears(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.txt")
	c, rec := start(t, defaults(Arguments{Filename: path, PollFrequency: 50 * time.Millisecond}))
	h := c.CurrentHealth()
	if h.Health != component.HealthUnhealthy || !strings.Contains(h.Message, path) || !strings.Contains(h.Message, "no such file") {
		t.Fatalf("health = %+v, want unhealthy naming the path and error", h)
	}
	if e, _ := rec.latest(); e.Content != "" {
		t.Fatalf("content of a missing file = %#v, want empty string", e.Content)
	}
	if err := os.WriteFile(path, []byte("here"), 0o600); err != nil {
		t.Fatal(err)
	}
	// (An event may come between the file's creation and its write, so
	// wait for the content itself.)
	testwait.Eventually(t, 20*time.Second, func() bool {
		e, _ := rec.latest()
		return c.CurrentHealth().Health == component.HealthHealthy && e.Content == "here"
	}, "healthy with the content")
	// Removing it again keeps the last content but turns unhealthy.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, func() bool { return c.CurrentHealth().Health == component.HealthUnhealthy }, "unhealthy again")
	if e, _ := rec.latest(); e.Content != "here" {
		t.Fatalf("content after removal = %#v, want the last good one", e.Content)
	}
}

func TestUpdateSwitchesFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	_ = os.WriteFile(a, []byte("A"), 0o600)
	_ = os.WriteFile(b, []byte("B"), 0o600)
	c, rec := start(t, defaults(Arguments{Filename: a}))
	if err := c.Update(defaults(Arguments{Filename: b})); err != nil {
		t.Fatal(err)
	}
	if e, _ := rec.latest(); e.Content != "B" {
		t.Fatalf("content after switching file = %#v", e.Content)
	}
}

func TestValidate(t *testing.T) {
	for _, a := range []Arguments{{}, {Filename: "x", PollFrequency: -1}} {
		if err := a.Validate(); err == nil {
			t.Errorf("%+v validated", a)
		}
	}
}
