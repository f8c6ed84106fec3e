package logs

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// TestMain removes the flow binary the process tests build.
func TestMain(m *testing.M) { flowproc.Main(m) }

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
	var missing []string
	if _, ok := testwait.Poll(timeout, func() bool {
		got := map[string]bool{}
		for _, e := range lk.Entries() {
			got[e.Line] = true
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		missing = missing[:0]
		for l := range a.acked {
			if !got[l] {
				missing = append(missing, l)
			}
		}
		return len(missing) == 0
	}); !ok {
		t.Fatalf("%d acknowledged lines never reached Loki, e.g. %q", len(missing), missing[:min(5, len(missing))])
	}
}

// startFlow runs the flow binary on config with storage until the test ends,
// and waits until it is ready and its Firehose endpoint answers. The test
// kills it with SIGKILL at its end (or earlier, with Kill), as it would crash.
func startFlow(t testing.TB, config, storage string, firehoseAddr string) *flowproc.Process {
	return startFlowBinary(t, "", config, storage, firehoseAddr)
}

// startFlowBinary is startFlow with the flow binary at bin ("": Build's).
func startFlowBinary(t testing.TB, bin, config, storage string, firehoseAddr string) *flowproc.Process {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.river")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	p := flowproc.Options{Binary: bin}.Start(t, "--storage.path="+storage, cfg)
	t.Cleanup(p.Kill) // runs before Start's own cleanup, which finds it gone
	exited := false
	if _, ok := testwait.Poll(30*time.Second, func() bool {
		if c, err := net.DialTimeout("tcp", firehoseAddr, 100*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		select {
		case <-p.Done():
			exited = true
			return true
		default:
			return false
		}
	}); !ok {
		t.Fatalf("flow's Firehose endpoint %s not up after 30s: %s", firehoseAddr, p.Stderr())
	}
	if exited {
		t.Fatalf("flow exited: %s", p.Stderr())
	}
	return p
}

func logTail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// installedCopy copies the flow binary at bin into dir, as installing it
// would (a plain read and write), and returns the copy's path. The
// benchmark runs the copy: the file go build writes (through a memory map)
// sits in the page cache in 2 MiB folios, which the kernel maps whole, so
// the very same binary run from there has about 8 MiB more of its file
// resident (RssFile, counted in VmHWM) than once installed
// (BENCHMARKS.md, "cw16").
func installedCopy(tb testing.TB, bin, dir string) string {
	tb.Helper()
	src, err := os.Open(bin)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(dir, "flow")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.CopyBuffer(dst, src, make([]byte, 64<<10)); err != nil {
		dst.Close()
		tb.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}
