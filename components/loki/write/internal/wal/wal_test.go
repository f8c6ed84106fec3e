package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func rec(s string) []byte { return append(make([]byte, HeaderSize), s...) }

func mustOpen(t *testing.T, dir string, seg int64) *WAL {
	t.Helper()
	w, err := Open(Options{Dir: dir, SegmentSize: seg})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// readAll reads records until none arrives within a short wait.
func readAll(t *testing.T, r *Reader) []string {
	t.Helper()
	var out []string
	for {
		p, _, ok, err := r.Next(context.Background(), time.Now().Add(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, string(p))
	}
}

func TestAppendReadAcrossSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, 64) // tiny segments: a roll every couple of records
	var want []string
	for i := 0; i < 20; i++ {
		s := fmt.Sprintf("record-%02d-%s", i, bytes.Repeat([]byte{'x'}, i))
		want = append(want, s)
		if err := w.Append(rec(s)); err != nil {
			t.Fatal(err)
		}
	}
	if st := w.Stats(); st.Segments < 5 {
		t.Fatalf("only %d segments for 20 records of up to 40 bytes with 64-byte segments", st.Segments)
	}
	got := readAll(t, w.NewReader(w.First()))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read %q\nwant %q", got, want)
	}
	w.Close()

	// A reopened log starts a new segment and still reads the old records.
	w = mustOpen(t, dir, 64)
	defer w.Close()
	if err := w.Append(rec("after-reopen")); err != nil {
		t.Fatal(err)
	}
	got = readAll(t, w.NewReader(w.First()))
	if len(got) != 21 || got[20] != "after-reopen" {
		t.Fatalf("after reopen read %d records, last %q", len(got), got[len(got)-1])
	}
}

func TestTornTailIsSkippedAfterCrash(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, 0)
	for _, s := range []string{"one", "two", "three"} {
		if err := w.Append(rec(s)); err != nil {
			t.Fatal(err)
		}
	}
	seg := w.segmentPath(w.Stats().Current)
	w.Close()
	// Simulate kill -9 in the middle of writing a fourth record: a header
	// promising 100 bytes followed by only 5 of them.
	f, _ := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	var hdr [HeaderSize]byte
	binary.LittleEndian.PutUint32(hdr[:4], 100)
	f.Write(hdr[:])
	f.Write([]byte("four-"))
	f.Close()

	w = mustOpen(t, dir, 0)
	defer w.Close()
	w.Append(rec("five"))
	r := w.NewReader(w.First())
	var corrupt []error
	r.OnCorrupt = func(_ Position, err error) { corrupt = append(corrupt, err) }
	got := readAll(t, r)
	if fmt.Sprint(got) != "[one two three five]" {
		t.Fatalf("read %q", got)
	}
	if len(corrupt) != 1 {
		t.Fatalf("reported %d torn tails, want 1", len(corrupt))
	}
}

func TestChecksumMismatchStopsSegment(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, 0)
	w.Append(rec("good"))
	w.Append(rec("flipped"))
	w.Append(rec("after"))
	seg := w.segmentPath(w.Stats().Current)
	w.Close()
	b, _ := os.ReadFile(seg)
	i := bytes.Index(b, []byte("flipped"))
	b[i] ^= 0xff
	os.WriteFile(seg, b, 0o644)

	w = mustOpen(t, dir, 0)
	defer w.Close()
	r := w.NewReader(w.First())
	n := 0
	r.OnCorrupt = func(Position, error) { n++ }
	if got := readAll(t, r); fmt.Sprint(got) != "[good]" || n != 1 {
		t.Fatalf("read %q with %d corruption reports", got, n)
	}
}

func TestZeroFilledTailIsNotARecord(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, 0)
	w.Append(rec("a"))
	seg := w.segmentPath(w.Stats().Current)
	w.Close()
	f, _ := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(make([]byte, 4096)) // what some filesystems leave after a crash
	f.Close()
	w = mustOpen(t, dir, 0)
	defer w.Close()
	if got := readAll(t, w.NewReader(w.First())); fmt.Sprint(got) != "[a]" {
		t.Fatalf("read %q", got)
	}
}

func TestConcurrentAppendersAllDurableAndOrderedPerAppender(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, 4096)
	defer w.Close()
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := w.Append(rec(fmt.Sprintf("%d:%d", g, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// A reader follows along while the writers run.
	r := w.NewReader(Position{})
	seen := map[int]int{}
	total := 0
	for total < writers*each {
		p, _, ok, err := r.Next(context.Background(), time.Now().Add(5*time.Second))
		if err != nil || !ok {
			t.Fatalf("after %d records: ok=%v err=%v", total, ok, err)
		}
		var g, i int
		fmt.Sscanf(string(p), "%d:%d", &g, &i)
		if i != seen[g] {
			t.Fatalf("writer %d: record %d after %d", g, i, seen[g]-1)
		}
		seen[g]++
		total++
	}
	wg.Wait()
}

func TestTruncateKeepsCurrentAndLaterSegments(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, 32)
	defer w.Close()
	for i := 0; i < 10; i++ {
		w.Append(rec(fmt.Sprintf("r%02d-padding-padding", i)))
	}
	cur := w.Stats().Current
	if _, err := w.Truncate(cur - 2); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(files) != 3 || w.Stats().Segments != 3 {
		t.Fatalf("%d files (%d known) after truncating before %d of %d, want 3", len(files), w.Stats().Segments, cur-2, cur)
	}
	// A reader positioned in a deleted segment moves on to the first kept one.
	got := readAll(t, w.NewReader(Position{Segment: 1, Offset: 17}))
	// One record per segment: segments cur-2, cur-1 and cur hold the last three.
	if fmt.Sprint(got) != "[r07-padding-padding r08-padding-padding r09-padding-padding]" {
		t.Fatalf("read %q from the kept segments", got)
	}
	if _, err := w.Truncate(cur + 10); err != nil {
		t.Fatal(err)
	}
	if w.Stats().Segments != 1 {
		t.Fatal("Truncate deleted the current segment")
	}
}

func TestReaderWaitsAndHonoursContextAndClose(t *testing.T) {
	w := mustOpen(t, t.TempDir(), 0)
	r := w.NewReader(w.Durable())
	go func() {
		time.Sleep(30 * time.Millisecond)
		w.Append(rec("late"))
	}()
	p, end, ok, err := r.Next(context.Background(), time.Time{})
	if err != nil || !ok || string(p) != "late" || end.Offset != int64(HeaderSize+4) {
		t.Fatalf("Next = %q %v %v %v", p, end, ok, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, _, err := r.Next(ctx, time.Time{}); err != context.Canceled {
		t.Fatalf("cancelled Next returned %v", err)
	}
	go func() { time.Sleep(20 * time.Millisecond); w.Close() }()
	if _, _, _, err := r.Next(context.Background(), time.Time{}); err != ErrClosed {
		t.Fatalf("Next on closed WAL returned %v", err)
	}
	if err := w.Append(rec("x")); err != ErrClosed {
		t.Fatalf("Append on closed WAL returned %v", err)
	}
}

func TestPositionsRoundTripAndDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), PositionsFile)
	p, err := LoadPositions(path)
	if err != nil || len(p) != 0 {
		t.Fatalf("missing file: %v %v", p, err)
	}
	want := Positions{"a": {Segment: 3, Offset: 99}}
	if err := SavePositions(path, want); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadPositions(path); err != nil || got["a"] != want["a"] {
		t.Fatalf("got %v %v", got, err)
	}
	os.WriteFile(path, []byte("{garbage"), 0o644)
	if got, err := LoadPositions(path); err == nil || len(got) != 0 {
		t.Fatalf("damaged file: %v %v", got, err)
	}
}

func TestRejectsOversizedAndEmptyRecords(t *testing.T) {
	w := mustOpen(t, t.TempDir(), 0)
	defer w.Close()
	if err := w.Append(make([]byte, HeaderSize)); err == nil {
		t.Fatal("empty record accepted")
	}
	if err := w.Append(make([]byte, HeaderSize+MaxRecordSize+1)); err == nil {
		t.Fatal("oversized record accepted")
	}
}

func BenchmarkAppend140KiB(b *testing.B) {
	w, _ := Open(Options{Dir: b.TempDir()})
	defer w.Close()
	r := rec(string(bytes.Repeat([]byte{'a'}, 140<<10)))
	b.SetBytes(int64(len(r)))
	b.RunParallel(func(pb *testing.PB) {
		buf := append([]byte(nil), r...)
		for pb.Next() {
			if err := w.Append(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// MaxSegmentAge starts a new segment at the first append after the current
// one has held records that long, and only then: an empty segment never
// ages, and segment size still cuts as before.
func TestMaxSegmentAgeCutsOldSegments(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Options{Dir: dir, SegmentSize: 1 << 20, MaxSegmentAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	now := time.Unix(1000, 0)
	w.now = func() time.Time { return now }
	segOf := func() uint64 { w.mu.Lock(); defer w.mu.Unlock(); return w.seg }

	start := segOf()
	now = now.Add(2 * time.Hour) // an empty segment does not age
	if err := w.Append(rec("a")); err != nil {
		t.Fatal(err)
	}
	if segOf() != start {
		t.Fatalf("an empty segment was cut for its age")
	}
	now = now.Add(59 * time.Minute)
	if err := w.Append(rec("b")); err != nil {
		t.Fatal(err)
	}
	if segOf() != start {
		t.Fatalf("cut before max_segment_age")
	}
	now = now.Add(time.Minute)
	if err := w.Append(rec("c")); err != nil {
		t.Fatal(err)
	}
	if segOf() != start+1 {
		t.Fatalf("segment %d after an hour, want %d", segOf(), start+1)
	}
	r := w.NewReader(w.First())
	defer r.Close()
	if got := readAll(t, r); strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("read %v, want a,b,c across the cut", got)
	}
}

// BenchmarkAppendGroupCommit: appenders writing 100 KiB records (a Firehose
// request of 500 entries) at once, each waiting for its record to be
// fsynced, as Send does. It reports records/s and fsyncs per record: with
// group commit one fsync covers every record written while the previous
// one ran.
//
//	go test -run '^$' -bench BenchmarkAppendGroupCommit -benchtime 2000x -count 5 ./components/loki/write/internal/wal/
func BenchmarkAppendGroupCommit(b *testing.B) {
	for _, appenders := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			w, err := Open(Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			began := time.Now()
			for a := 0; a < appenders; a++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rec := make([]byte, HeaderSize+100<<10)
					for next.Add(1) <= int64(b.N) {
						if err := w.Append(rec); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "records/s")
			b.ReportMetric(float64(w.Stats().Syncs)/float64(b.N), "fsyncs/record")
		})
	}
}

// Write returns once the record is written, so its buffer can be reused
// while the fsync runs; readers see the record only once it is durable,
// which WaitDurable waits for.
func TestWriteThenWaitDurable(t *testing.T) {
	w := mustOpen(t, t.TempDir(), 0)
	defer w.Close()
	r := w.NewReader(w.First())
	buf := rec("first-record")
	var at Position
	p, err := w.Write(buf, func(_, end Position) { at = end })
	if err != nil {
		t.Fatal(err)
	}
	if at != p.end {
		t.Fatalf("written reported end %v, Pending has %v", at, p.end)
	}
	copy(buf[HeaderSize:], "reused-buffer") // the caller's buffer is free again
	if w.Durable().Before(p.end) {
		if got := readAll(t, r); len(got) != 0 {
			t.Fatalf("read %q before the record was durable", got)
		}
	}
	if err := w.WaitDurable(p); err != nil {
		t.Fatal(err)
	}
	if w.Durable().Before(p.end) {
		t.Fatalf("durable %v after WaitDurable, want at least %v", w.Durable(), p.end)
	}
	if got := readAll(t, r); len(got) != 1 || got[0] != "first-record" {
		t.Fatalf("read %q, want the record as written", got)
	}
	// Closed: Write fails, nothing to wait for.
	w.Close()
	if _, err := w.Write(rec("late"), nil); err != ErrClosed {
		t.Fatalf("Write on a closed WAL: %v, want ErrClosed", err)
	}
}
