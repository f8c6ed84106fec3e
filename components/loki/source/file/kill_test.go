package file

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
)

func TestMain(m *testing.M) { flowproc.Main(m) }

// TestKill9 runs the real flow binary tailing a file that a writer fills
// at 10,000 lines/s, rotating it by rename every 5,000 lines, into a
// fake Loki through loki.write (with its WAL). flow is killed with SIGKILL
// mid-stream and started again on the same storage path. Every line must
// reach Loki; a line may arrive twice only if it was in the batch in flight
// at the kill (one loki.source.file batch, plus the one loki.write was
// pushing).
func TestKill9(t *testing.T) {
	testwait.Long(t, "kill -9 and restart of a flow binary under 10,000 lines/s")
	loki, err := fakeloki.Start(fakeloki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer loki.Close()
	dir, storage := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "")
	cfg := filepath.Join(t.TempDir(), "config.river")
	river := fmt.Sprintf(`
local.file_match "app" {
  path_targets = [{"__path__" = %q, "job" = "app"}]
  sync_period  = "100ms"
}

loki.source.file "app" {
  targets    = local.file_match.app.targets
  forward_to = [loki.write.fake.receiver]

  file_watch {
    min_poll_frequency = "10ms"
    max_poll_frequency = "50ms"
  }
}

loki.write "fake" {
  endpoint {
    url        = %q
    batch_wait = "100ms"
  }
}
`, filepath.Join(dir, "*.log"), loki.URL())
	if err := os.WriteFile(cfg, []byte(river), 0o644); err != nil {
		t.Fatal(err)
	}

	args := []string{"--storage.path=" + storage, cfg}
	flow := flowproc.Start(t, args...)

	// The writer: 10,000 lines/s for 5s, a rename rotation every 5,000
	// lines, going on while flow is down for 300ms: a rotation may happen
	// then, and the restarted flow finds the file its saved offset belongs
	// to by its inode and finishes it first. (Two rotations while down
	// would lose the middle file unless the glob matched rotated names:
	// see the package doc.) So that a slow restart on a loaded machine does
	// not make it two, the writer waits before line 29,000 (the next
	// rotation is at 30,000) until the restarted flow tails the new file.
	total := make(chan int)
	tailingNew := make(chan struct{})
	killed := make(chan struct{})
	var written atomic.Int64
	go func() {
		n := 0
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			panic(err)
		}
		begin := time.Now()
		for n < 50_000 {
			if n == 23_500 {
				<-killed
			}
			if n == 29_000 {
				<-tailingNew
			}
			fmt.Fprintf(f, "line %07d\n", n)
			n++
			written.Store(int64(n))
			if n%5000 == 0 {
				f.Close()
				if err := os.Rename(path, fmt.Sprintf("%s.%d", path, n)); err != nil {
					panic(err)
				}
				if f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
					panic(err)
				}
			}
			if n%100 == 0 {
				if ahead := time.Duration(n)*time.Second/10_000 - time.Since(begin); ahead > 0 {
					time.Sleep(ahead)
				}
			}
		}
		f.Close()
		total <- n
	}()

	// Kill 150ms before the rotation at line 25,000, and stay down for
	// 300ms: the rotation happens while nothing tails the file. The writer
	// pauses at line 23,500 until the kill, and the kill waits until the
	// positions file holds the end of the current file (lines 20,000 to
	// 23,499, 13 bytes each): on a loaded machine the tailer can lag the
	// writer by more than the 350ms since the rotation at 20,000, and a
	// position still in the file before it would make the rotation at
	// 25,000 the second one while down (see above), a loss the test does not
	// mean to provoke.
	posFile := filepath.Join(storage, "loki.source.file.app", "positions.yml")
	want := fmt.Sprintf("%q", fmt.Sprint(3_500*13))
	testwait.Eventually(t, 90*time.Second, func() bool {
		b, _ := os.ReadFile(posFile)
		return written.Load() == 23_500 && strings.Contains(string(b), ": "+want+"\n")
	}, "the positions file to reach line 23,500 (offset %s)", want)
	flow.Kill()
	close(killed)
	time.Sleep(300 * time.Millisecond)
	flow2 := flowproc.Start(t, args...)
	testwait.Eventually(t, 90*time.Second, func() bool {
		for _, e := range loki.Entries() {
			if e.Line >= "line 0025000" {
				return true
			}
		}
		return false
	}, "the restarted flow to send a line of the file created at the rotation")
	close(tailingNew)

	n := <-total
	var seen map[string]int
	testwait.Poll(90*time.Second, func() bool {
		seen = map[string]int{}
		for _, e := range loki.Entries() {
			seen[e.Line]++
		}
		return len(seen) >= n
	})
	var missing []string
	dups := 0
	for i := range n {
		l := fmt.Sprintf("line %07d", i)
		switch c := seen[l]; {
		case c == 0:
			missing = append(missing, l)
		case c > 1:
			dups += c - 1
		}
	}
	if len(missing) > 0 {
		if resp, err := http.Get(flow2.URL() + "/api/v0/components/loki.source.file.app"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("loki.source.file: %s", b)
		}
		if resp, err := http.Get(flow2.URL() + "/api/v0/components/loki.write.fake"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("loki.write: %s", b)
		}
		t.Fatalf("%d of %d lines never reached Loki (first %v); flow's log before the kill:\n%s\nafter:\n%s", len(missing), n, missing[:min(5, len(missing))], flow.Stderr(), flow2.Stderr())
	}
	// One loki.source.file batch in flight, and what loki.write was
	// pushing from its WAL at the kill.
	if limit := 2 * maxBatchLines; dups > limit {
		t.Fatalf("%d duplicated lines after a kill -9, more than %d", dups, limit)
	}
	t.Logf("%d lines, %d duplicated after the kill -9", n, dups)
	for _, e := range loki.Entries()[:1] {
		if e.Labels["job"] != "app" || !strings.HasSuffix(string(e.Labels["filename"]), "app.log") {
			t.Errorf("labels %v", e.Labels)
		}
	}
}
