package logs

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/fakeloki"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ackTracker records the lines of every request Firehose would consider
// delivered (answered 200): exactly those must reach Loki.
type ackTracker struct {
	mu     sync.Mutex
	acked  map[string]bool
	failed atomic.Int64 // requests not answered 200 (to be retried by Firehose)
	reqs   atomic.Int64
}

func newAckTracker() *ackTracker { return &ackTracker{acked: map[string]bool{}} }

// lineFor makes a unique line of size bytes.
func lineFor(sender, req, rec int, size int) []byte {
	b := []byte(fmt.Sprintf("s%d-r%d-e%d ", sender, req, rec))
	if len(b) < size {
		b = append(b, bytes.Repeat([]byte("x"), size-len(b))...)
	}
	return b
}

// run sends requests of n records from one sender until stop closes,
// retrying a refused request with the same lines (as Firehose does) and
// counting lines as acknowledged only on 200.
func (a *ackTracker) run(s *fh.Sender, id, n int, stop <-chan struct{}, pause time.Duration) {
	for req := 0; ; req++ {
		select {
		case <-stop:
			return
		default:
		}
		recs := make([][]byte, n)
		for i := range recs {
			recs[i] = lineFor(id, req, i, 60)
		}
		reqID := fh.NewRequestID()
		for {
			r, err := s.SendWithID(reqID, recs)
			a.reqs.Add(1)
			if err == nil && r.Status == 200 {
				a.mu.Lock()
				for _, l := range recs {
					a.acked[string(l)] = true
				}
				a.mu.Unlock()
				break
			}
			a.failed.Add(1)
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		if pause > 0 {
			time.Sleep(pause)
		}
	}
}

func (a *ackTracker) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.acked)
}

// checkAllArrived fails unless every acknowledged line is in Loki.
func (a *ackTracker) checkAllArrived(t testing.TB, lk *fakeloki.Server, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var missing []string
	for {
		got := map[string]bool{}
		for _, e := range lk.Entries() {
			got[e.Line] = true
		}
		a.mu.Lock()
		missing = missing[:0]
		for l := range a.acked {
			if !got[l] {
				missing = append(missing, l)
			}
		}
		a.mu.Unlock()
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			if len(missing) > 5 {
				missing = missing[:5]
			}
			t.Fatalf("%d acknowledged lines never reached Loki, e.g. %q", len(missing), missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var (
	buildOnce sync.Once
	flowBin   string
	buildErr  error
)

// flowBinary builds cmd/flow once per test binary, or uses $FLOW_BINARY.
func flowBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("FLOW_BINARY"); p != "" {
			flowBin = p
			return
		}
		dir, err := os.MkdirTemp("", "flow-logs-bench")
		if err != nil {
			buildErr = err
			return
		}
		flowBin = filepath.Join(dir, "flow")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", flowBin, "./cmd/flow")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building cmd/flow: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return flowBin
}

// flowProcess is a running `flow run`.
type flowProcess struct {
	cmd    *exec.Cmd
	api    string // flow's own HTTP server (API, metrics, pprof)
	stderr *lockedBuffer
	done   chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startFlow runs the binary on config with storage, and waits until its
// Firehose endpoint answers.
func startFlow(t testing.TB, config, storage string, firehoseAddr string) *flowProcess {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.river")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &flowProcess{stderr: &lockedBuffer{}, done: make(chan struct{}), api: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	p.cmd = exec.Command(flowBinary(t), "run", "--server.http.listen-addr="+p.api, "--storage.path="+storage, cfg)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", firehoseAddr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("flow exited: %s", p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("flow's Firehose endpoint %s not up after 30s: %s", firehoseAddr, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to go.
func (p *flowProcess) kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

func logTail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
