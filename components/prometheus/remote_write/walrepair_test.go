package remotewrite

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/prometheus/prometheus/tsdb/wlog"
	"github.com/prometheus/prometheus/util/compression"

	"github.com/flow-telemetry/flow/components/prometheus/internal/rwtest"
	"github.com/flow-telemetry/flow/components/prometheus/remote_write/internal/wal"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
)

// walBuilder writes WAL records with Prometheus' own wlog and remembers
// what each holds.
type walBuilder struct {
	t      *testing.T
	dir    string
	w      *wlog.WL
	series int
	next   int64 // next sample timestamp
	// samples holds "series@ts" of every samples record logged, in order,
	// one slice per record.
	samples [][]string
}

func newWALBuilder(t *testing.T, dir string, series int) *walBuilder {
	t.Helper()
	w, err := wlog.NewSize(nil, nil, dir, wlog.DefaultSegmentSize, compression.None)
	if err != nil {
		t.Fatal(err)
	}
	b := &walBuilder{t: t, dir: dir, w: w, series: series, next: 1000}
	rs := make([]record.RefSeries, series)
	for i := range rs {
		rs[i] = record.RefSeries{Ref: chunks.HeadSeriesRef(i + 1), Labels: labels.FromStrings("__name__", "m", "i", fmt.Sprint(i))}
	}
	b.log((&record.Encoder{}).Series(rs, nil))
	return b
}

func (b *walBuilder) log(rec []byte) {
	if err := b.w.Log(rec); err != nil {
		b.t.Fatal(err)
	}
}

// samplesRecord logs one sample per series at the next timestamp.
func (b *walBuilder) samplesRecord() {
	ss := make([]record.RefSample, b.series)
	keys := make([]string, b.series)
	for i := range ss {
		ss[i] = record.RefSample{Ref: chunks.HeadSeriesRef(i + 1), T: b.next, V: float64(i)}
		keys[i] = fmt.Sprintf(`{__name__="m", i="%d"}@%d`, i, b.next)
	}
	b.next += 1000
	b.log((&record.Encoder{}).Samples(ss, nil))
	b.samples = append(b.samples, keys)
}

// size is how far the current segment has been written.
func (b *walBuilder) size() int64 {
	st, err := os.Stat(wlog.SegmentName(b.dir, 0))
	if err != nil {
		b.t.Fatal(err)
	}
	return st.Size()
}

func (b *walBuilder) close() {
	if err := b.w.Close(); err != nil {
		b.t.Fatal(err)
	}
}

// expectInWAL checks that every sample of the given records is in the WAL.
func expectInWAL(t *testing.T, dataPath string, recs [][]string) {
	t.Helper()
	have := walSamples(t, dataPath)
	for i, rec := range recs {
		for _, k := range rec {
			if !have[k] {
				t.Fatalf("record %d: sample %s is not in the WAL", i, k)
			}
		}
	}
}

// openAgent opens the WAL as prometheus.remote_write does and reports
// whether Prometheus ran its own repair.
func openAgent(t *testing.T, dataPath string) (repaired bool) {
	t.Helper()
	var logs bytes.Buffer
	db, err := wal.Open(slog.New(slog.NewTextHandler(&logs, nil)), prometheus.NewRegistry(), dataPath, wal.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return strings.Contains(logs.String(), msgPromRepair)
}

// TestRepairCutsTornTail: a process killed while writing a record that
// spans pages leaves its first fragments. The repair truncates exactly that
// record, so Prometheus reads the WAL without repairing it itself.
func TestRepairCutsTornTail(t *testing.T) {
	data := t.TempDir()
	b := newWALBuilder(t, filepath.Join(data, "wal"), 4000) // > 1 page per record
	for i := 0; i < 3; i++ {
		b.samplesRecord()
	}
	good := b.size()
	b.samplesRecord()
	full := b.size()
	b.close()
	seg := wlog.SegmentName(b.dir, 0)
	if err := os.Truncate(seg, good+(full-good)/2); err != nil {
		t.Fatal(err)
	}

	rep, err := repairWAL(b.dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Damage) != 1 || !rep.Damage[0].Tail || rep.Damage[0].Offset != good {
		t.Fatalf("repair found %+v, want one torn tail at offset %d", rep.Damage, good)
	}
	if rep.midSegment() {
		t.Error("a torn tail was reported as possibly holding acknowledged samples")
	}
	if st, _ := os.Stat(seg); st.Size() != good {
		t.Fatalf("segment is %d bytes after the repair, want %d", st.Size(), good)
	}
	t.Logf("repair: %s", rep)
	expectInWAL(t, data, b.samples[:3])
	if openAgent(t, data) {
		t.Error("Prometheus still repaired the WAL after flow's repair")
	}
	expectInWAL(t, data, b.samples[:3])
}

// TestRepairKeepsRecordsAfterDamage: a WAL written by an older flow after a
// failed write has the first fragment of the failed record, the rest of its
// page, then valid records from the next page on. Prometheus' repair
// deletes everything after the damage; flow's zeroes the damaged page and
// keeps the records after it.
func TestRepairKeepsRecordsAfterDamage(t *testing.T) {
	damaged := func(t *testing.T) (string, *walBuilder, int64) {
		data := t.TempDir()
		b := newWALBuilder(t, filepath.Join(data, "wal"), 500)
		for i := 0; i < 3; i++ {
			b.samplesRecord()
		}
		good := b.size()
		b.close()
		seg := wlog.SegmentName(b.dir, 0)
		head, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		// Without the closing padding: the page was being written.
		head = head[:good]
		// The first fragment of the record whose write failed, to the end
		// of the page, as Prometheus' WAL leaves it.
		frag := make([]byte, walPageSize-int(good%walPageSize)-7)
		for i := range frag {
			frag[i] = byte(i)
		}
		hdr := make([]byte, 7)
		hdr[0] = 2 // recFirst
		binary.BigEndian.PutUint16(hdr[1:], uint16(len(frag)))
		binary.BigEndian.PutUint32(hdr[3:], crc32.Checksum(frag, crc32.MakeTable(crc32.Castagnoli)))
		out := append(append(head, hdr...), frag...)
		// Then records written after space returned, from a fresh page.
		tail := newWALBuilder(t, t.TempDir(), 500)
		tail.next = b.next
		for i := 0; i < 3; i++ {
			tail.samplesRecord()
		}
		tail.close()
		more, err := os.ReadFile(wlog.SegmentName(tail.dir, 0))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, more...)
		if err := os.WriteFile(seg, out, 0o644); err != nil {
			t.Fatal(err)
		}
		b.samples = append(b.samples, tail.samples...)
		return data, b, good
	}

	t.Run("prometheus", func(t *testing.T) {
		// Without flow's repair: Prometheus deletes what follows.
		data, b, _ := damaged(t)
		if !openAgent(t, data) {
			t.Fatal("Prometheus did not repair a damaged WAL")
		}
		have := walSamples(t, data)
		if have[b.samples[4][0]] {
			t.Fatal("Prometheus' repair kept the records after the damage; this test no longer shows what flow's repair is for")
		}
	})
	t.Run("flow", func(t *testing.T) {
		data, b, good := damaged(t)
		rep, err := repairWAL(b.dir, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Damage) != 1 || rep.Damage[0].Tail || rep.Damage[0].Offset != good || rep.Damage[0].End%walPageSize != 0 {
			t.Fatalf("repair found %+v, want damage from %d to the next page", rep.Damage, good)
		}
		if !rep.midSegment() {
			t.Error("damage followed by records was not reported as possibly holding acknowledged samples")
		}
		t.Logf("repair: %s", rep)
		if openAgent(t, data) {
			t.Error("Prometheus still repaired the WAL after flow's repair")
		}
		expectInWAL(t, data, b.samples)
	})
}

// TestPrometheusRepairIsReported: damage flow's repair cannot see (a record
// whose checksum is right but whose content cannot be decoded) is left to
// Prometheus, whose repair deletes what follows it; the component's health
// says so.
func TestPrometheusRepairIsReported(t *testing.T) {
	data := t.TempDir()
	b := newWALBuilder(t, filepath.Join(data, "wal"), 10)
	b.samplesRecord()
	b.log([]byte{byte(record.Samples), 0xff, 0xff, 0xff})
	b.samplesRecord()
	b.close()

	r := rwtest.Start(t)
	opts := component.Options{
		ID: "prometheus.remote_write.repair", Logger: slog.New(slog.DiscardHandler),
		Registerer: prometheus.NewRegistry(), DataPath: data, OnStateChange: func(component.Exports) {},
	}
	c, err := New(opts, testArgs(r.URL()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.mu.Lock()
		c.shutdown()
		c.mu.Unlock()
	}()
	h := c.CurrentHealth()
	if !strings.Contains(h.Message, "Prometheus' WAL repair deleted every record after the damage") {
		t.Fatalf("health %q does not report Prometheus' repair", h.Message)
	}
	t.Logf("health: %s", h.Message)
}

// TestWatcherFailureIsUnhealthy: when an endpoint's WAL tailer cannot read
// the WAL, the component is unhealthy and names the endpoint and the error.
func TestWatcherFailureIsUnhealthy(t *testing.T) {
	r := rwtest.Start(t)
	c, recv, _ := start(t, testArgs(r.URL()))
	g := newGenerator(recv, 10)
	g.warmUp(t, r)
	_, last, err := wlog.Segments(c.walDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(wlog.SegmentName(c.walDir(), last), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte{0xff}, 64)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var h component.Health
	if _, ok := testwait.Poll(60*time.Second, func() bool {
		g.tick(t) // wakes the tailer
		h = c.CurrentHealth()
		return h.Health == component.HealthUnhealthy && strings.Contains(h.Message, `endpoint "test": the WAL watcher cannot read the WAL since`)
	}); !ok {
		t.Fatalf("health is %s %q 60s after the WAL was damaged", h.Health, h.Message)
	}
	t.Logf("health: %s", h.Message)
}
