package file

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
)

// collector is a receiver that keeps every line it accepted, and can be told
// to refuse.
type collector struct {
	mu     sync.Mutex
	lines  []string
	labels []model.LabelSet
	refuse atomic.Int64 // refuse this many more Sends
}

func (c *collector) receiver() loki.LogsReceiver {
	return loki.NewReceiver(func(ctx context.Context, entries []loki.Entry) error {
		if c.refuse.Load() > 0 {
			c.refuse.Add(-1)
			return errors.New("receiver refuses (test)")
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, e := range entries {
			c.lines = append(c.lines, e.Line)
			c.labels = append(c.labels, e.Labels)
		}
		return nil
	})
}

func (c *collector) snapshot() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// waitLines waits (generously: CI machines are shared) until at least n lines arrived.
func (c *collector) waitLines(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	if _, ok := testwait.Poll(60*time.Second, func() bool { got = c.snapshot(); return len(got) >= n }); !ok {
		t.Fatalf("got %d lines after 60s, want %d; last: %q", len(got), n, tail(got, 3))
	}
	return got
}

func tail(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

type harness struct {
	c      *Component
	cancel context.CancelFunc
	done   chan struct{}
}

// start runs a loki.source.file on targets with data directory dataDir.
func start(t *testing.T, dataDir string, args Arguments) *harness {
	t.Helper()
	var a Arguments
	a.SetToDefault()
	a.FileWatch = FileWatch{MinPollFrequency: 10 * time.Millisecond, MaxPollFrequency: 50 * time.Millisecond}
	a.Targets, a.ForwardTo = args.Targets, args.ForwardTo
	if args.Encoding != "" {
		a.Encoding = args.Encoding
	}
	if args.MaxLineSize != 0 {
		a.MaxLineSize = args.MaxLineSize
	}
	a.TailFromEnd, a.LegacyPositionsFile, a.Decompression = args.TailFromEnd, args.LegacyPositionsFile, args.Decompression
	return startWith(t, dataDir, a)
}

// startWith runs a loki.source.file with exactly a.
func startWith(t testing.TB, dataDir string, a Arguments) *harness {
	t.Helper()
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := New(component.Options{
		ID: "loki.source.file.test", Logger: slog.New(slog.DiscardHandler),
		Registerer: prometheus.NewRegistry(), DataPath: dataDir,
		OnStateChange: func(component.Exports) {},
	}, a)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{c: c, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(h.done); _ = c.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
}

func target(path string, labels ...string) []map[string]string {
	m := map[string]string{"__path__": path}
	for i := 0; i+1 < len(labels); i += 2 {
		m[labels[i]] = labels[i+1]
	}
	return []map[string]string{m}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestTailLinesAndLabels(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "one\ntwo\r\nthree")
	col := &collector{}
	start(t, t.TempDir(), Arguments{Targets: target(path, "job", "app", "__internal", "x"), ForwardTo: []loki.LogsReceiver{col.receiver()}})
	got := col.waitLines(t, 2)
	if strings.Join(got, "|") != "one|two" {
		t.Fatalf("got %q: a line is sent once complete, without its \\r\\n", got)
	}
	// The partial line is held until its newline arrives.
	time.Sleep(100 * time.Millisecond)
	if n := len(col.snapshot()); n != 2 {
		t.Fatalf("a line without a newline was sent early: %q", col.snapshot())
	}
	appendFile(t, path, " and more\nfour\n")
	got = col.waitLines(t, 4)
	if strings.Join(got, "|") != "one|two|three and more|four" {
		t.Fatalf("got %q", got)
	}
	want := model.LabelSet{"job": "app", "filename": model.LabelValue(path)}
	if !col.labels[0].Equal(want) {
		t.Errorf("labels %v, want %v (public target labels and filename)", col.labels[0], want)
	}
}

// TestRotationUnderLoad is the bar: a writer producing 10,000 lines/s
// rotates the file by rename 100 times; every line arrives exactly once.
func TestRotationUnderLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	col := &collector{}
	appendFile(t, path, "")
	start(t, t.TempDir(), Arguments{Targets: target(path), ForwardTo: []loki.LogsReceiver{col.receiver()}})

	const rotations, perFile = 100, 200 // 20,000 lines, a rotation every 20ms
	total := writeRotating(t, path, rotations, perFile, 10_000, func(f *os.File, i int) { rotateRename(t, path, f, i) })
	testwait.Poll(60*time.Second, func() bool { return len(col.snapshot()) >= total }) // checkExactlyOnce reports a shortfall
	time.Sleep(200 * time.Millisecond)
	checkExactlyOnce(t, col.snapshot(), total)
}

// TestTruncateRotation is copytruncate: the file is emptied in place.
func TestTruncateRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	col := &collector{}
	appendFile(t, path, "")
	h := start(t, t.TempDir(), Arguments{Targets: target(path), ForwardTo: []loki.LogsReceiver{col.receiver()}})
	n := 0
	for range 20 {
		for range 50 {
			appendFile(t, path, fmt.Sprintf("line %06d\n", n))
			n++
		}
		col.waitLines(t, n) // copytruncate loses what was not read before the truncation: wait
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		// A truncation is seen at the next poll; one re-grown past the old
		// offset before that would not be (documented), so wait for it.
		waitPosition(t, h.c, path, 0)
	}
	appendFile(t, path, "last\n")
	col.waitLines(t, n+1)
	checkExactlyOnce(t, col.snapshot()[:n], n)
}

// TestDeleteAndRecreate: the file is deleted, then a new one appears.
func TestDeleteAndRecreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	col := &collector{}
	appendFile(t, path, "a\nb\n")
	start(t, t.TempDir(), Arguments{Targets: target(path), ForwardTo: []loki.LogsReceiver{col.receiver()}})
	col.waitLines(t, 2)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	appendFile(t, path, "c\n")
	got := col.waitLines(t, 3)
	if strings.Join(got, "|") != "a|b|c" {
		t.Fatalf("got %q", got)
	}
}

// TestRestartResumes: a stopped and restarted component (same data
// directory) sends neither a line twice nor loses one written while it was
// down, and its positions file has Alloy's layout.
func TestRestartResumes(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "1\n2\n3\n")
	col := &collector{}
	h := start(t, data, Arguments{Targets: target(path, "job", "x"), ForwardTo: []loki.LogsReceiver{col.receiver()}})
	col.waitLines(t, 3)
	h.stop()
	b, err := os.ReadFile(filepath.Join(data, "positions.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("positions:\n  ? path: %s\n    labels: '{job=\"x\"}'\n  : \"6\"\nfiles:\n", path); !strings.HasPrefix(string(b), want) {
		t.Errorf("positions.yml:\n%s\nwant Alloy's layout (then flow's files key):\n%s", b, want)
	}
	appendFile(t, path, "4\n5\n")
	col2 := &collector{}
	start(t, data, Arguments{Targets: target(path, "job", "x"), ForwardTo: []loki.LogsReceiver{col2.receiver()}})
	col2.waitLines(t, 2)
	time.Sleep(100 * time.Millisecond) // nothing more arrives
	if got := col2.snapshot(); strings.Join(got, "|") != "4|5" {
		t.Fatalf("after restart got %q, want 4|5", got)
	}
}

// TestLegacyPositions: a Promtail positions file is imported on first start.
func TestLegacyPositions(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "old1\nold2\nnew\n")
	legacy := filepath.Join(dir, "positions.yaml")
	if err := os.WriteFile(legacy, []byte(fmt.Sprintf("positions:\n  %s: \"10\"\n", path)), 0o644); err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	start(t, data, Arguments{Targets: target(path, "job", "x"), ForwardTo: []loki.LogsReceiver{col.receiver()}, LegacyPositionsFile: legacy})
	col.waitLines(t, 1)
	time.Sleep(100 * time.Millisecond) // nothing more arrives
	if got := col.snapshot(); strings.Join(got, "|") != "new" {
		t.Fatalf("got %q, want only the line after Promtail's offset", got)
	}
}

// TestBackPressure: while forward_to refuses, nothing is lost or skipped,
// and health says why.
func TestBackPressure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "a\nb\n")
	col := &collector{}
	col.refuse.Store(3)
	h := start(t, t.TempDir(), Arguments{Targets: target(path), ForwardTo: []loki.LogsReceiver{col.receiver()}})
	testwait.Poll(10*time.Second, func() bool { // whichever comes first; the lines are checked below
		return h.c.CurrentHealth().Health == component.HealthUnhealthy || col.refuse.Load() <= 0
	})
	got := col.waitLines(t, 2)
	if strings.Join(got, "|") != "a|b" {
		t.Fatalf("got %q", got)
	}
	if h.c.CurrentHealth().Health != component.HealthHealthy {
		t.Errorf("health after recovery: %+v", h.c.CurrentHealth())
	}
}

func TestEncodings(t *testing.T) {
	dir := t.TempDir()
	utf16le, _ := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte("héllo\r\nwörld\r\n"))
	latin1, _ := charmap.ISO8859_1.NewEncoder().Bytes([]byte("café\nnaïve\n"))
	for _, tc := range []struct {
		name, encoding string
		data           []byte
		want           string
	}{
		{"utf16le-bom", "UTF-16", utf16le, "héllo|wörld"},
		{"utf16le", "UTF-16LE", utf16le, "héllo|wörld"},
		{"latin1", "ISO-8859-1", latin1, "café|naïve"},
		{"utf8-bom", "", append([]byte{0xEF, 0xBB, 0xBF}, "x\ny\n"...), "x|y"},
		{"invalid-utf8", "", []byte("ok\n\xff\xfe bad\n"), "ok|\uFFFD bad"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".log")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			col := &collector{}
			start(t, t.TempDir(), Arguments{Targets: target(path), ForwardTo: []loki.LogsReceiver{col.receiver()}, Encoding: tc.encoding})
			got := col.waitLines(t, 2)
			if strings.Join(got, "|") != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	var a Arguments
	a.SetToDefault()
	a.Encoding = "klingon"
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "unknown encoding") {
		t.Errorf("unknown encoding: %v", err)
	}
}

// TestMaxLineSize: a line longer than max_line_size is cut, the rest
// skipped, and the following lines are intact.
func TestMaxLineSize(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	long := strings.Repeat("x", 1000)
	appendFile(t, path, "short\n"+long+"\nafter\n")
	col := &collector{}
	start(t, t.TempDir(), Arguments{Targets: target(path), ForwardTo: []loki.LogsReceiver{col.receiver()}, MaxLineSize: 100})
	got := col.waitLines(t, 3)
	if len(got) != 3 || got[0] != "short" || got[1] != long[:100] || got[2] != "after" {
		t.Fatalf("got %q", got)
	}
}

func TestGzip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for i := range 5000 {
		fmt.Fprintf(zw, "gz %d\n", i)
	}
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	col := &collector{}
	start(t, t.TempDir(), Arguments{Targets: target(path), ForwardTo: []loki.LogsReceiver{col.receiver()},
		Decompression: Decompression{Enabled: true, Format: "gz"}})
	col.waitLines(t, 5000)
	time.Sleep(100 * time.Millisecond) // nothing more arrives
	if got := col.snapshot(); len(got) != 5000 || got[4999] != "gz 4999" {
		t.Fatalf("got %d lines, last %q", len(got), tail(got, 1))
	}
}

func TestTailFromEnd(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "old\n")
	col := &collector{}
	h := start(t, t.TempDir(), Arguments{Targets: target(path), ForwardTo: []loki.LogsReceiver{col.receiver()}, TailFromEnd: true})
	waitPosition(t, h.c, path, 4)
	appendFile(t, path, "new\n")
	got := col.waitLines(t, 1)
	if strings.Join(got, "|") != "new" {
		t.Fatalf("got %q", got)
	}
}

func waitPosition(t *testing.T, c *Component, path string, want int64) {
	t.Helper()
	if _, ok := testwait.Poll(30*time.Second, func() bool {
		for _, f := range c.DebugInfo().(DebugInfo).Files {
			if f.Path == path && f.Position == want {
				return true
			}
		}
		return false
	}); !ok {
		t.Fatalf("position of %s never reached %d: %+v", path, want, c.DebugInfo())
	}
}

// writeRotating writes rotations×perFile numbered lines at about rate
// lines/s, calling rotate after each perFile lines, and returns the total.
func writeRotating(t *testing.T, path string, rotations, perFile, rate int, rotate func(f *os.File, i int)) int {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	begin := time.Now()
	for r := range rotations {
		for range perFile {
			if _, err := fmt.Fprintf(f, "line %07d\n", n); err != nil {
				t.Fatal(err)
			}
			n++
			if n%100 == 0 {
				if ahead := time.Duration(n)*time.Second/time.Duration(rate) - time.Since(begin); ahead > 0 {
					time.Sleep(ahead)
				}
			}
		}
		rotate(f, r)
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	return n
}

// rotateRename is logrotate's default: rename the file away, a new one is
// created at the path by the writer.
func rotateRename(t *testing.T, path string, f *os.File, i int) {
	t.Helper()
	f.Close()
	if err := os.Rename(path, fmt.Sprintf("%s.%d", path, i)); err != nil {
		t.Fatal(err)
	}
}

func checkExactlyOnce(t *testing.T, got []string, total int) {
	t.Helper()
	seen := make([]int, total)
	for _, l := range got {
		var n int
		if _, err := fmt.Sscanf(l, "line %d", &n); err != nil || n < 0 || n >= total {
			t.Fatalf("unexpected line %q", l)
		}
		seen[n]++
	}
	var missing, dup []int
	for i, c := range seen {
		if c == 0 {
			missing = append(missing, i)
		}
		if c > 1 {
			dup = append(dup, i)
		}
	}
	if len(missing) > 0 {
		var ranges []string
		from := missing[0]
		for i := 1; i <= len(missing); i++ {
			if i == len(missing) || missing[i] != missing[i-1]+1 {
				ranges = append(ranges, fmt.Sprintf("%d-%d", from, missing[i-1]))
				if i < len(missing) {
					from = missing[i]
				}
			}
		}
		t.Logf("missing ranges: %v", ranges)
	}
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("%d lines missing (first %v), %d duplicated (first %v)", len(missing), head(missing), len(dup), head(dup))
	}
}

func head(s []int) []int {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

// TestRotationWhileDown: the file is rotated (renamed, a new one created)
// while the component is stopped; at the next start the rest of the rotated
// file is read first, then the new file whole: nothing lost, nothing twice.
func TestRotationWhileDown(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "1\n2\n")
	col := &collector{}
	h := start(t, data, Arguments{Targets: target(path), ForwardTo: []loki.LogsReceiver{col.receiver()}})
	col.waitLines(t, 2)
	h.stop()
	appendFile(t, path, "3\n4\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "5\n6\n7\n")
	col2 := &collector{}
	start(t, data, Arguments{Targets: target(path), ForwardTo: []loki.LogsReceiver{col2.receiver()}})
	col2.waitLines(t, 5)
	time.Sleep(100 * time.Millisecond)
	if got := col2.snapshot(); strings.Join(got, "|") != "3|4|5|6|7" {
		t.Fatalf("after a rotation while stopped got %q, want 3|4|5|6|7", got)
	}
}

// TestPausesWhileFull: while forward_to is full (loki.ErrFull, e.g.
// loki.write over wal > max_backlog_size), no line is passed on or skipped,
// Sends are retried at the Retry-After asked rather than in a tight loop,
// health says why, and reading resumes once there is room.
func TestPausesWhileFull(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "a\nb\nc\n")
	var full atomic.Bool
	full.Store(true)
	var tries atomic.Int64
	col := &collector{}
	inner := col.receiver()
	recv := loki.NewReceiverWithFull(func(ctx context.Context, e []loki.Entry) error {
		if full.Load() {
			tries.Add(1)
			return &loki.FullError{Component: "loki.write.test", Reason: "backlog over max_backlog_size", RetryAfter: 200 * time.Millisecond}
		}
		return inner.Send(ctx, e)
	}, nil)
	h := start(t, t.TempDir(), Arguments{Targets: target(path), ForwardTo: []loki.LogsReceiver{recv}})
	if _, ok := testwait.Poll(30*time.Second, func() bool { return h.c.CurrentHealth().Health == component.HealthUnhealthy }); !ok {
		t.Fatal("health never said forward_to is full")
	}
	if msg := h.c.CurrentHealth().Message; !strings.Contains(msg, "full") {
		t.Fatalf("health does not say why: %s", msg)
	}
	began, before := time.Now(), tries.Load()
	time.Sleep(time.Second)
	// At 200ms intervals about 5 tries fit in a second (a loaded machine
	// makes fewer); a tight loop would make thousands.
	if n := tries.Load() - before; n > 8 {
		t.Fatalf("%d sends in %s while full", n, time.Since(began))
	}
	if got := col.snapshot(); len(got) != 0 {
		t.Fatalf("lines passed on while full: %q", got)
	}
	full.Store(false)
	got := col.waitLines(t, 3)
	if strings.Join(got, "|") != "a|b|c" {
		t.Fatalf("got %q", got)
	}
}
