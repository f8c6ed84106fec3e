package remotewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/tsdb/record"

	"github.com/flow-telemetry/flow/components/prometheus/internal/rwtest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
)

const diskSeries = 3000

// mountTmpfs mounts a tmpfs of the given size (mount(8) syntax, "8m") on a
// fresh directory and unmounts it when the test ends.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test fills a real filesystem: it mounts a %s tmpfs and must run as root (CI does); run it with sudo", size)
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -t tmpfs -o size=%s tmpfs %s: %v: %s", size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillUp writes a file until the filesystem is full, then shrinks it so that
// about leave bytes are free. It returns the file's path.
func fillUp(t *testing.T, dir string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte{0xAB}, 64<<10)
	var size int64
	for {
		n, err := f.Write(buf)
		size += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(max(0, size-leave)); err != nil {
		t.Fatal(err)
	}
	return path
}

// logCapture keeps a component's log lines for assertions and shows them in
// the test log.
type logCapture struct {
	t  *testing.T
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (l *logCapture) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// running is a component started by startAt.
type running struct {
	c    *Component
	recv *Receiver
	stop func()
}

// startAt runs prometheus.remote_write on dataPath until stop (or the end of
// the test).
func startAt(t *testing.T, dataPath string, args Arguments, logs io.Writer) *running {
	t.Helper()
	var recv *Receiver
	c, err := New(component.Options{
		ID:         "prometheus.remote_write.disk",
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Registerer: prometheus.NewRegistry(),
		DataPath:   dataPath,
		OnStateChange: func(e component.Exports) {
			recv = e.(Exports).Receiver.(*Receiver)
		},
	}, args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Errorf("Run did not return 60s after cancellation")
			}
		})
	}
	t.Cleanup(stop)
	return &running{c: c, recv: recv, stop: stop}
}

// tryTick is tick for a disk that may be full: a sample counts as committed
// only if its commit succeeded.
func (g *generator) tryTick() error {
	g.mu.Lock()
	recv := g.recv
	ts := max(time.Now().UnixMilli(), g.last+1)
	g.last = ts
	g.mu.Unlock()
	app := recv.Appender(context.Background())
	for _, s := range g.series {
		if _, err := app.Append(0, s, ts, float64(ts)); err != nil {
			_ = app.Rollback()
			return err
		}
	}
	if err := app.Commit(); err != nil {
		return err
	}
	g.mu.Lock()
	for _, s := range g.series {
		g.committed[s.String()] = append(g.committed[s.String()], ts)
	}
	g.mu.Unlock()
	return nil
}

func (g *generator) setReceiver(recv *Receiver) {
	g.mu.Lock()
	g.recv = recv
	g.mu.Unlock()
}

// walSamples reads every (series, timestamp) the WAL in dataPath holds.
func walSamples(t *testing.T, dataPath string) map[string]bool {
	t.Helper()
	byRef := map[uint64]string{}
	out := map[string]bool{}
	err := readWAL(filepath.Join(dataPath, "wal"), slog.New(slog.DiscardHandler), func(_ int, typ record.Type, rec []byte, dec *record.Decoder) error {
		switch typ {
		case record.Series:
			series, err := dec.Series(rec, nil)
			if err != nil {
				return err
			}
			for _, s := range series {
				byRef[uint64(s.Ref)] = s.Labels.String()
			}
		case record.Samples, record.SamplesV2:
			samples, err := dec.Samples(rec, nil)
			if err != nil {
				return err
			}
			for _, s := range samples {
				out[fmt.Sprintf("%s@%d", byRef[uint64(s.Ref)], s.T)] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading the WAL: %v", err)
	}
	return out
}

// notInWAL lists committed samples the WAL no longer holds.
func (g *generator) notInWAL(t *testing.T, dataPath string) []string {
	t.Helper()
	have := walSamples(t, dataPath)
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, s := range g.series {
		for _, ts := range g.committed[s.String()] {
			if k := fmt.Sprintf("%s@%d", s, ts); !have[k] {
				out = append(out, k)
			}
		}
	}
	return out
}

// failUntilFull commits until a commit fails for lack of space and returns
// that error.
func failUntilFull(t *testing.T, g *generator) error {
	t.Helper()
	var err error
	testwait.Eventually(t, 60*time.Second, func() bool {
		err = g.tryTick()
		return err != nil
	}, "the disk never filled within 60s")
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("commit failed with %v, want ENOSPC", err)
	}
	return err
}

func waitHealth(t *testing.T, c *Component, want component.HealthType, contains string, timeout time.Duration) component.Health {
	t.Helper()
	var h component.Health
	if _, ok := testwait.Poll(timeout, func() bool {
		h = c.CurrentHealth()
		return h.Health == want && strings.Contains(h.Message, contains)
	}); !ok {
		t.Fatalf("health is %s %q, want %s containing %q", h.Health, h.Message, want, contains)
	}
	return h
}

// diskRun is prometheus.remote_write on an 8 MiB tmpfs, sending to r, with
// a warmed-up generator of diskSeries series: 3,000 series make each
// commit's samples record larger than a WAL page, so the write that fails
// is cut across pages, as in production (smaller records fail within one
// page and are later completed).
type diskRun struct {
	mnt, data string
	r         *rwtest.Receiver
	logs      *logCapture
	args      Arguments
	rc        *running
	g         *generator
}

func startOnTmpfs(t *testing.T) *diskRun {
	t.Helper()
	d := &diskRun{mnt: mountTmpfs(t, "8m"), r: rwtest.Start(t), logs: &logCapture{t: t}}
	d.data = filepath.Join(d.mnt, "data")
	if err := os.Mkdir(d.data, 0o750); err != nil {
		t.Fatal(err)
	}
	d.args = testArgs(d.r.URL())
	d.rc = startAt(t, d.data, d.args, d.logs)
	d.g = newGenerator(d.rc.recv, diskSeries)
	d.g.warmUp(t, d.r)
	return d
}

// checkInWAL fails t unless the WAL holds every committed sample.
func (d *diskRun) checkInWAL(t *testing.T, when string) {
	t.Helper()
	if miss := d.g.notInWAL(t, d.data); len(miss) > 0 {
		t.Fatalf("%s, %d of %d committed samples are not in the WAL, e.g. %v", when, len(miss), d.g.total(), miss[:min(3, len(miss))])
	}
}

// deliverAfterRestart commits 20 more ticks to the restarted rc2 and waits
// until every committed sample has been delivered.
func (d *diskRun) deliverAfterRestart(t *testing.T, rc2 *running) {
	t.Helper()
	d.g.setReceiver(rc2.recv)
	for i := 0; i < 20; i++ {
		if err := d.g.tryTick(); err != nil {
			t.Fatalf("commit after restart: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitAll(t, d.g, d.r, 60*time.Second)
}

// TestFullDiskLosesNothingCommitted fills the WAL's filesystem (a real
// tmpfs) while samples are committed and sent: the commit that does not fit
// fails with ENOSPC, later ones are refused, and the component is unhealthy
// saying so. Once space is freed, commits succeed again by themselves, every
// committed sample reaches the receiver, and a restart finds every one of
// them still in the WAL (the repair removes only the write that failed).
func TestFullDiskLosesNothingCommitted(t *testing.T) {
	d := startOnTmpfs(t)
	mnt, data, r, logs, args, rc, g := d.mnt, d.data, d.r, d.logs, d.args, d.rc, d.g

	filler := fillUp(t, mnt, 256<<10)
	failErr := failUntilFull(t, g)
	t.Logf("commit failed as the disk filled: %v", failErr)
	if err := g.tryTick(); err == nil {
		t.Fatal("a commit succeeded on a full disk after one had failed")
	}
	h := waitHealth(t, rc.c, component.HealthUnhealthy, "no space left on device", 10*time.Second)
	if !strings.Contains(h.Message, "WAL append failing since") {
		t.Errorf("health %q does not say that WAL appends fail", h.Message)
	}
	t.Logf("health on a full disk: %s", h.Message)
	// What was committed before the disk filled is still delivered.
	waitAll(t, g, r, 60*time.Second)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 30*time.Second, func() bool { return g.tryTick() == nil }, "commits to succeed once space is free")
	for i := 0; i < 50; i++ {
		if err := g.tryTick(); err != nil {
			t.Fatalf("commit %d after space was freed: %v", i, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitAll(t, g, r, 60*time.Second)
	waitHealth(t, rc.c, component.HealthHealthy, "", 10*time.Second)
	if n := logs.count("dropping buffer") + logs.count("error tailing WAL"); n > 0 {
		t.Errorf("the WAL watcher failed to read the WAL %d times", n)
	}

	// A restart: the WAL must still hold every committed sample.
	rc.stop()
	d.checkInWAL(t, "after stopping")
	rc2 := startAt(t, data, args, logs)
	d.checkInWAL(t, "after the restart's repair")
	if n := logs.count("attempting repair"); n > 0 {
		t.Errorf("Prometheus' own WAL repair ran %d times", n)
	}
	d.deliverAfterRestart(t, rc2)
	t.Logf("%d samples committed around a full disk and a restart, all delivered; %d delivered more than once", g.total(), r.Stats().Duplicates)
}

// TestFullDiskStopWhileFull stops the component while its disk is still
// full: stopping cuts the torn record of the failed write (using the space
// reserve to close the WAL) and says so; the next start finds every
// committed sample in the WAL, needs no repair, and delivers.
func TestFullDiskStopWhileFull(t *testing.T) {
	d := startOnTmpfs(t)
	mnt, data, r, logs, args, rc, g := d.mnt, d.data, d.r, d.logs, d.args, d.rc, d.g

	filler := fillUp(t, mnt, 256<<10)
	failUntilFull(t, g)
	waitAll(t, g, r, 60*time.Second)
	rc.stop()
	if n := logs.count("WAL repair removed a torn record"); n != 1 {
		t.Errorf("stopping on a full disk logged %d repairs of the torn record, want 1", n)
	}
	if n := logs.count("closing the WAL failed"); n > 0 {
		t.Errorf("the WAL could not be closed on a full disk despite the reserve")
	}
	d.checkInWAL(t, "after stopping")
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}

	rc2 := startAt(t, data, args, logs)
	if n := logs.count("attempting repair") + logs.count("WAL repair removed"); n != 1 {
		t.Errorf("the start after a clean stop repaired the WAL (%d repair messages in all, want the stop's 1)", n)
	}
	d.deliverAfterRestart(t, rc2)
	if h := rc2.c.CurrentHealth(); h.Health != component.HealthHealthy {
		t.Errorf("health after restart: %s %q", h.Health, h.Message)
	}
}
