package childproc

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/testwait"
)

// parentEnv marks a test binary that DiesWithParent re-executed to be the
// parent: it runs start, reports the child's pid and waits to be killed.
const parentEnv = "FLOW_CHILDPROC_PARENT"

// pidPrefix starts the line the parent reports its child's pid on.
const pidPrefix = "childproc-child-pid="

// DiesWithParent checks that the child process start launches does not
// outlive its parent: it re-executes this test binary to run only t's test
// as the parent (env added to its environment), where start launches the
// child and returns its pid; then it kills the parent with SIGKILL, so no
// cleanup runs (as when `go test` is killed), and fails t unless the child
// is gone within 30 s. The test calling it is both sides: in the parent,
// DiesWithParent runs start and never returns.
func DiesWithParent(t *testing.T, env []string, start func(t *testing.T) int) {
	t.Helper()
	if os.Getenv(parentEnv) == t.Name() {
		reportChild(start(t))
	}
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal exists only on Linux")
	}
	parent, child := startParent(t, env)
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if took, ok := testwait.Poll(30*time.Second, func() bool { return !Alive(child) }); !ok {
		if p, err := os.FindProcess(child); err == nil {
			_ = p.Kill()
		}
		t.Fatalf("child %d still runs 30 s after its parent was killed", child)
	} else {
		t.Logf("child %d gone %v after its parent was killed", child, took)
	}
}

// StartParent is DiesWithParent's first half, for a test that checks what
// happens to a child without the parent-death signal: it returns the
// running parent and its child's pid; the caller kills both. In the parent
// it runs start and never returns.
func StartParent(t *testing.T, env []string, start func(t *testing.T) int) (parent *exec.Cmd, child int) {
	t.Helper()
	if os.Getenv(parentEnv) == t.Name() {
		reportChild(start(t))
	}
	return startParent(t, env)
}

func reportChild(pid int) {
	fmt.Printf("\n%s%d\n", pidPrefix, pid)
	for {
		time.Sleep(time.Minute) // until killed
	}
}

func startParent(t *testing.T, env []string) (*exec.Cmd, int) {
	t.Helper()
	cmd := Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.timeout=5m")
	// The parent's temporary directories (never removed: it is killed)
	// go inside this test's.
	cmd.Env = append(append(os.Environ(), parentEnv+"="+t.Name(), "TMPDIR="+t.TempDir()), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := make(chan int, 1)
	go func() {
		defer close(pid)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), pidPrefix)); err == nil && strings.HasPrefix(sc.Text(), pidPrefix) {
				pid <- n
			}
		}
	}()
	select {
	case n, ok := <-pid:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("the parent exited without reporting a child:\n%s", stderr.String())
		}
		return cmd, n
	case <-time.After(2 * time.Minute):
		t.Fatalf("the parent reported no child within 2 min:\n%s", stderr.String())
	}
	return nil, 0
}

// Alive reports whether process pid exists and has not exited. An exited
// child whose new parent has not reaped it yet (a zombie) is not alive.
func Alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself hold ") ".
	s := string(stat)
	i := strings.LastIndex(s, ") ")
	if i < 0 || i+2 >= len(s) {
		return false
	}
	state := s[i+2]
	return state != 'Z' && state != 'X'
}
