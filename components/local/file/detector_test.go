package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
)

// With fsnotify (the default) a rewrite is seen at once even when it keeps
// size and modification time and poll_frequency is an hour away; so is a
// file replaced by rename, as editors and Kubernetes ConfigMaps do.
func TestFSNotifySeesRewritesAndRenames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	if err := os.WriteFile(path, []byte("aaaa"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	_, rec := start(t, defaults(Arguments{Filename: path, PollFrequency: time.Hour}))
	time.Sleep(100 * time.Millisecond) // let Run set up the watch
	if err := os.WriteFile(path, []byte("bbbb"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, func() bool { e, _ := rec.latest(); return e.Content == "bbbb" }, "same-size rewrite seen by fsnotify")

	tmp := filepath.Join(dir, ".f.txt.tmp")
	if err := os.WriteFile(tmp, []byte("renamed into place"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, func() bool { e, _ := rec.latest(); return e.Content == "renamed into place" }, "renamed file seen")
}

// With detector = "poll", a same-size, same-time rewrite waits for
// poll_frequency (it is not seen within two stat intervals), while a size
// change is seen by the 1 s stat.
func TestPollDetector(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(path, []byte("aaaa"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	args := defaults(Arguments{Filename: path, PollFrequency: time.Hour})
	args.Detector = DetectorPoll
	_, rec := start(t, args)
	if err := os.WriteFile(path, []byte("bbbb"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2*maxStatInterval + 200*time.Millisecond)
	if e, _ := rec.latest(); e.Content != "aaaa" {
		t.Fatalf("poll saw a rewrite that kept size and time before poll_frequency: %#v", e.Content)
	}
	if err := os.WriteFile(path, []byte("longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, func() bool { e, _ := rec.latest(); return e.Content == "longer" }, "size change seen by the stat")
}

// Devices and oversized files fail clearly instead of filling memory.
func TestRefusesDevicesAndHugeFiles(t *testing.T) {
	c, _ := start(t, defaults(Arguments{Filename: "/dev/zero"}))
	if h := c.CurrentHealth(); h.Health != component.HealthUnhealthy || !strings.Contains(h.Message, "not a regular file") {
		t.Errorf("/dev/zero: health = %+v", h)
	}
	big := filepath.Join(t.TempDir(), "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxFileSize + 1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	c, _ = start(t, defaults(Arguments{Filename: big}))
	if h := c.CurrentHealth(); h.Health != component.HealthUnhealthy || !strings.Contains(h.Message, "64 MiB") {
		t.Errorf("oversized file: health = %+v", h)
	}
}

func TestValidateDetector(t *testing.T) {
	a := defaults(Arguments{Filename: "x"})
	a.Detector = "inotify"
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), `"fsnotify" or "poll"`) {
		t.Errorf("detector inotify: %v", err)
	}
}

// A rewrite in two steps (truncate, then write: os.WriteFile, shell
// redirection) is read once it settles: dependants never see the empty,
// half-written file.
func TestFSNotifyWaitsForARewriteToSettle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("old-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, rec := start(t, defaults(Arguments{Filename: path, PollFrequency: time.Hour}))
	time.Sleep(100 * time.Millisecond) // let Run set up the watch
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if _, err := f.WriteString("new-token"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	testwait.Eventually(t, 20*time.Second, func() bool { e, _ := rec.latest(); return e.Content == "new-token" }, "the new content")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, e := range rec.last {
		if e.Content == "" {
			t.Fatalf("the empty, half-written file was exported: %v", rec.last)
		}
	}
}
