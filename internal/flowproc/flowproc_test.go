package flowproc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/childproc"
)

func TestMain(m *testing.M) { Main(m) }

func writeConfig(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.river")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStartStop: Start returns once /-/ready answers, with the storage
// directory it chose, and Stop ends flow cleanly.
func TestStartStop(t *testing.T) {
	p := Start(t, writeConfig(t, "// nothing to run\n"))
	if !strings.HasPrefix(p.URL(), "http://127.0.0.1:") || p.URL() != "http://"+p.Addr() {
		t.Fatalf("URL %q, Addr %q", p.URL(), p.Addr())
	}
	if !strings.Contains(p.Stderr(), "serving HTTP") {
		t.Fatalf("stderr does not show the HTTP server:\n%s", p.Stderr())
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("Stop: %v\n%s", err, p.Stderr())
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("Wait after a clean stop: %v", err)
	}
	// Stopping again only reports how it exited.
	if err := p.Stop(time.Millisecond); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

// TestKill: Kill ends flow with SIGKILL, which Wait reports.
func TestKill(t *testing.T) {
	storage := t.TempDir()
	p := Start(t, "--storage.path="+storage, writeConfig(t, ""))
	p.Kill()
	var ee *exec.ExitError
	if err := p.Wait(); !errors.As(err, &ee) || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Wait after Kill: %v", err)
	}
}

// TestNotReady: a process that exits before /-/ready answers is reported
// with why, and a lost listen port is recognised as such only when flow
// says so.
func TestNotReady(t *testing.T) {
	bin := Build(t)
	bad := writeConfig(t, "nosuch.component \"x\" {}\n")
	p := Options{}.start(t, bin, fmt.Sprintf("127.0.0.1:%d", FreePort(t)), []string{"--storage.path=" + t.TempDir(), bad})
	err := p.waitReady(10 * time.Second)
	if err == nil || !strings.Contains(err.Error(), "flow exited (exit status 1)") {
		t.Fatalf("waitReady on a bad config: %v", err)
	}
	if p.lostListenPort() {
		t.Fatalf("a bad config taken for a lost port:\n%s", p.Stderr())
	}

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	p = Options{}.start(t, bin, taken.Addr().String(), []string{"--storage.path=" + t.TempDir(), writeConfig(t, "")})
	if err := p.waitReady(10 * time.Second); err == nil {
		t.Fatal("ready on a port another listener holds")
	}
	if !p.lostListenPort() {
		t.Fatalf("a taken listen port not recognised:\n%s", p.Stderr())
	}
}

func TestHasFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"--storage.path=/x", "c.river"}, true},
		{[]string{"-storage.path", "/x", "c.river"}, true},
		{[]string{"--storage.path", "/x"}, true},
		{[]string{"--storage.pathx=/x", "c.river"}, false},
		{[]string{"c.river"}, false},
	} {
		if got := hasFlag(c.args, "storage.path"); got != c.want {
			t.Errorf("hasFlag(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}

// TestLockedBuffer: concurrent writers lose nothing and readers see whole
// writes.
func TestLockedBuffer(t *testing.T) {
	var b LockedBuffer
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				fmt.Fprintf(&b, "w%d-%d\n", w, i)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 8*200 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	if len(seen) != 8*200 {
		t.Fatalf("%d distinct lines, want %d", len(seen), 8*200)
	}
}

// TestFlowDiesWithTestBinary: a flow started by Start is killed with the
// test binary, even when that gets SIGKILL and no cleanup runs (an aborted
// `go test`); left running, it kept scraping ports later tests reused.
func TestFlowDiesWithTestBinary(t *testing.T) {
	childproc.DiesWithParent(t, []string{"FLOW_BIN=" + Build(t)}, func(t *testing.T) int {
		return Start(t, writeConfig(t, "")).Pid()
	})
}
