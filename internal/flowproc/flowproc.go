// Package flowproc is test helpers for running the flow binary: Build
// compiles ./cmd/flow once per test binary (FLOW_BIN=path uses an already
// built one), Start runs `flow run` on a free loopback port and waits until
// /-/ready answers 200, and Process stops it with SIGTERM or kills it with
// SIGKILL. LockedBuffer holds a process's stderr, or a slog handler's output,
// while the test reads it.
//
// A package that builds flow should remove the build when its tests end:
//
//	func TestMain(m *testing.M) { flowproc.Main(m) }
package flowproc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/childproc"
)

// mainPackage is built by Build; naming it by import path lets the build run
// from any test's package directory inside the module.
const mainPackage = "github.com/flow-telemetry/flow/cmd/flow"

// builds caches one build per tag set for the life of the test binary.
var builds struct {
	mu   sync.Mutex
	dirs []string
	byTT map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// Build returns the path of a flow binary built with tags, building
// ./cmd/flow into a temporary directory the first time a tag set is asked
// for. FLOW_BIN=path returns path instead, whatever the tags: it must have
// been built with the tags the tests need. A failed build fails the test.
func Build(tb testing.TB, tags ...string) string {
	tb.Helper()
	p, err := Binary(tags...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Binary is Build for TestMain, which has no testing.TB: it returns the
// build's error instead of failing a test.
func Binary(tags ...string) (string, error) {
	if p := os.Getenv("FLOW_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("FLOW_BIN names no usable flow binary: %w (unset it to build ./cmd/flow)", err)
		}
		return p, nil
	}
	key := strings.Join(tags, ",")
	builds.mu.Lock()
	if builds.byTT == nil {
		builds.byTT = map[string]*build{}
	}
	b := builds.byTT[key]
	if b == nil {
		b = &build{}
		builds.byTT[key] = b
	}
	builds.mu.Unlock()
	b.once.Do(func() { b.path, b.err = goBuild(tags) })
	return b.path, b.err
}

func goBuild(tags []string) (string, error) {
	dir, err := os.MkdirTemp("", "flow-bin-")
	if err != nil {
		return "", fmt.Errorf("creating a directory for the flow binary: %w", err)
	}
	builds.mu.Lock()
	builds.dirs = append(builds.dirs, dir)
	builds.mu.Unlock()
	// go test puts its own toolchain first on the test's PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building the flow binary needs the go command on PATH: %w", err)
	}
	bin := filepath.Join(dir, "flow")
	args := []string{"build"}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, "-o", bin, mainPackage)
	out, err := exec.Command(goTool, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// Cleanup removes every binary Build made. Call it once the tests are done
// (Main does); a later Build builds again.
func Cleanup() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	for _, d := range builds.dirs {
		os.RemoveAll(d)
	}
	builds.dirs, builds.byTT = nil, nil
}

// Main runs the tests, removes the builds and exits with the tests' code:
// the whole TestMain of a package that needs nothing else there.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// FreePort returns a loopback port that nothing listened on a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("finding a free loopback port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Defaults of Options.
const (
	DefaultReadyTimeout = 30 * time.Second
	DefaultStopTimeout  = 10 * time.Second
)

// Options change how Start runs flow; the zero value is what Start uses.
type Options struct {
	// Binary is the flow to run; empty means Build(tb) (no tags).
	Binary string
	// ReadyTimeout bounds the wait for /-/ready (DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// StopTimeout is how long the test's cleanup waits after SIGTERM
	// before it kills flow and fails the test (DefaultStopTimeout).
	StopTimeout time.Duration
	// Stdout adds flow's standard output (loki.echo prints there) to what
	// Stderr returns. It is off by default because a busy pipeline would
	// fill memory with it.
	Stdout bool
	// Env adds variables ("NAME=value") to the environment flow inherits,
	// for configs that read sys.env.
	Env []string
}

// Start runs `flow run` with args (flags, then the config path) as Options{}
// would.
func Start(tb testing.TB, args ...string) *Process {
	tb.Helper()
	return Options{}.Start(tb, args...)
}

// Start runs `flow run --server.http.listen-addr=127.0.0.1:<free port>`
// with args (flags, then the config path), adding --storage.path under
// tb.TempDir() unless args give one, and waits until /-/ready answers 200.
// If flow exits or is not ready in time the test fails with its stderr; a
// listen port taken between choosing and binding it is retried twice with
// another. The process is stopped with SIGTERM when the test ends (a test
// may stop or kill it earlier), and the test fails if it does not exit
// within StopTimeout.
func (o Options) Start(tb testing.TB, args ...string) *Process {
	tb.Helper()
	bin := o.Binary
	if bin == "" {
		bin = Build(tb)
	}
	readyTimeout := o.ReadyTimeout
	if readyTimeout <= 0 {
		readyTimeout = DefaultReadyTimeout
	}
	if !hasFlag(args, "storage.path") {
		args = append([]string{"--storage.path=" + tb.TempDir()}, args...)
	}
	const attempts = 3
	for attempt := 1; ; attempt++ {
		p := o.start(tb, bin, "127.0.0.1:"+strconv.Itoa(FreePort(tb)), args)
		err := p.waitReady(readyTimeout)
		if err == nil {
			return p
		}
		_ = p.Stop(o.stopTimeout())
		if attempt < attempts && p.lostListenPort() {
			continue
		}
		tb.Fatalf("%v; flow's stderr:\n%s", err, p.Stderr())
	}
}

func (o Options) stopTimeout() time.Duration {
	if o.StopTimeout <= 0 {
		return DefaultStopTimeout
	}
	return o.StopTimeout
}

// start launches one attempt listening on addr and registers its cleanup.
func (o Options) start(tb testing.TB, bin, addr string, args []string) *Process {
	tb.Helper()
	p := &Process{
		addr:   addr,
		stderr: &LockedBuffer{},
		done:   make(chan struct{}),
	}
	p.cmd = childproc.Command(bin, append([]string{"run", "--server.http.listen-addr=" + p.addr}, args...)...)
	p.cmd.Stderr = p.stderr
	if len(o.Env) > 0 {
		p.cmd.Env = append(os.Environ(), o.Env...)
	}
	if o.Stdout {
		p.cmd.Stdout = p.stderr
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	timeout := o.stopTimeout()
	tb.Cleanup(func() {
		if err := p.Stop(timeout); errors.Is(err, ErrNotStopped) {
			tb.Errorf("%v; flow's stderr:\n%s", err, p.Stderr())
		}
	})
	return p
}

// hasFlag reports whether args set the flag name, in any of the forms the
// flag package accepts.
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// Process is a running `flow run`.
type Process struct {
	cmd    *exec.Cmd
	addr   string
	stderr *LockedBuffer
	done   chan struct{} // closed once the process has exited
	err    error         // Wait's result, set before done is closed
}

// Addr is flow's HTTP address (host:port).
func (p *Process) Addr() string { return p.addr }

// URL is flow's HTTP base URL, http://host:port.
func (p *Process) URL() string { return "http://" + p.addr }

// Stderr returns what flow has written to stderr so far (and to stdout, if
// Options.Stdout).
func (p *Process) Stderr() string { return p.stderr.String() }

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to flow (SIGHUP reloads its config).
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed when flow has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for flow to exit and returns how it exited (nil for status 0).
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// ErrNotStopped is wrapped by Stop's error when flow outlived its timeout.
var ErrNotStopped = errors.New("flow did not exit on SIGTERM")

// Stop sends SIGTERM and waits up to timeout for flow to exit, returning
// how it exited (nil for status 0). If flow is still running then, it is
// killed and the error wraps ErrNotStopped. Stopping an exited process only
// returns how it exited.
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%w within %v, so it was killed", ErrNotStopped, timeout)
	}
}

// Kill sends SIGKILL, as a crash or the OOM killer would, and waits for
// flow to be gone.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitReady polls /-/ready every millisecond (so a benchmark of the time
// to ready is not rounded up) until it answers 200.
func (p *Process) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := client.Get(p.URL() + "/-/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("flow exited (%v) before GET %s/-/ready answered 200", p.err, p.URL())
		case <-time.After(time.Millisecond):
		}
	}
	return fmt.Errorf("flow was not ready after %v: GET %s/-/ready never answered 200", timeout, p.URL())
}

// lostListenPort reports whether flow exited because another process took
// its listen port after FreePort chose it.
func (p *Process) lostListenPort() bool {
	select {
	case <-p.done:
	default:
		return false
	}
	s := p.Stderr()
	return strings.Contains(s, "--server.http.listen-addr="+p.addr) && strings.Contains(s, "address already in use")
}

// LockedBuffer is an io.Writer that is safe for concurrent use: a process's
// stderr or a slog handler writes to it while the test reads it with String.
// The zero value is ready to use.
type LockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p.
func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
