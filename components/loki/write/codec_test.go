package write

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/loki/write/internal/wal"
)

func TestRecordRoundTrip(t *testing.T) {
	ts := time.Unix(1700000000, 123)
	in := []loki.Entry{
		{Labels: model.LabelSet{"job": "a", loki.TenantLabel: "t1", "__internal": "x"}, Entry: push.Entry{Timestamp: ts, Line: "one"}},
		{Labels: model.LabelSet{"job": "a", loki.TenantLabel: "t1", "__internal": "x"}, Entry: push.Entry{Timestamp: ts.Add(1), Line: "two",
			StructuredMetadata: push.LabelsAdapter{{Name: "trace_id", Value: "abc"}}}},
		{Labels: model.LabelSet{"job": "b"}, Entry: push.Entry{Timestamp: ts.Add(-time.Hour), Line: ""}},
		{Labels: model.LabelSet{"__only": "internal"}, Entry: push.Entry{Timestamp: ts, Line: "dropped"}},
	}
	var e encoder
	// Without external labels the last entry has no label left.
	if _, n, dropped := e.encode(in, nil); n != 3 || dropped != 1 {
		t.Fatalf("kept %d dropped %d, want 3 and 1", n, dropped)
	}
	rec, n, _ := e.encode(in[:3], model.LabelSet{"cluster": "c1"})
	if n != 3 {
		t.Fatalf("kept %d, want 3", n)
	}
	var d decodedRecord
	if err := d.decode(rec[wal.HeaderSize:]); err != nil {
		t.Fatal(err)
	}
	if len(d.streams) != 2 || d.streams[0] != (streamKey{tenant: "t1", labels: `{cluster="c1", job="a"}`}) ||
		d.streams[1] != (streamKey{labels: `{cluster="c1", job="b"}`}) {
		t.Fatalf("streams %+v", d.streams)
	}
	if len(d.entries) != 3 || string(d.entries[1].line) != "two" || d.entries[1].meta1-d.entries[1].meta0 != 1 ||
		string(d.meta[d.entries[1].meta0].value) != "abc" ||
		d.entries[2].ts != ts.Add(-time.Hour).UnixNano() || d.entries[2].stream != 1 {
		t.Fatalf("entries %+v", d.entries)
	}
}

// FuzzDecodeRecord checks that no WAL record, however damaged, panics the
// decoder (the CRC catches disk damage; this covers records from a bug or
// another version).
func FuzzDecodeRecord(f *testing.F) {
	var e encoder
	rec, _, _ := e.encode([]loki.Entry{{Labels: model.LabelSet{"a": "b"}, Entry: push.Entry{Line: "x",
		StructuredMetadata: push.LabelsAdapter{{Name: "k", Value: "v"}}}}}, nil)
	f.Add(append([]byte(nil), rec[wal.HeaderSize:]...))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d decodedRecord
		if d.decode(b) == nil {
			for _, en := range d.entries {
				if en.stream < 0 || en.stream >= len(d.streams) {
					t.Fatalf("stream index %d of %d accepted", en.stream, len(d.streams))
				}
			}
		}
	})
}

// TestPushBodyIsGogoMarshal checks that batches encode push requests byte
// for byte as Loki's generated code (push.PushRequest.Marshal) does, for
// entries of every shape: timestamps before 1970, on a second, zero; empty
// lines; structured metadata with empty names or values; several streams
// and tenants; and that a recycled batch encodes as a new one.
func TestPushBodyIsGogoMarshal(t *testing.T) {
	stamps := []time.Time{time.Unix(0, 0), time.Unix(1700000000, 0), time.Unix(1700000000, 999999999),
		time.Unix(-1, 1), time.Unix(-86400*365*50, 123456789), time.Unix(0, 1), time.Unix(1<<33, 5)}
	lines := []string{"", "a", strings.Repeat("x", 200), strings.Repeat("é", 100)}
	metas := []push.LabelsAdapter{nil, {{Name: "trace_id", Value: "abc"}}, {{Name: "", Value: "v"}, {Name: "k", Value: ""}, {Name: "", Value: ""}},
		{{Name: "a", Value: strings.Repeat("v", 300)}}}
	labelSets := []model.LabelSet{{"job": "a"}, {"job": "b", "x": "y"}, {"job": "a", loki.TenantLabel: "t2"}}
	var in []loki.Entry
	for i := 0; i < 300; i++ {
		in = append(in, loki.Entry{Labels: labelSets[(i/7)%len(labelSets)], Entry: push.Entry{
			Timestamp: stamps[i%len(stamps)], Line: lines[(i/3)%len(lines)], StructuredMetadata: metas[(i/5)%len(metas)]}})
	}
	var enc encoder
	rec, n, _ := enc.encode(in, nil)
	if n != len(in) {
		t.Fatalf("encoded %d of %d entries", n, len(in))
	}
	var d decodedRecord
	if err := d.decode(rec[wal.HeaderSize:]); err != nil {
		t.Fatal(err)
	}
	b := newBatch()
	for round := 0; round < 2; round++ {
		// The same entries as push requests, one per tenant, built as
		// the generated types.
		want := map[string]*push.PushRequest{}
		streams := map[string]map[string]int{}
		for _, de := range d.entries {
			k := d.streams[de.stream]
			ref, _ := b.ref(k, 0)
			b.add(ref, &de, d.meta, entrySize(&de, d.meta))
			req := want[k.tenant]
			if req == nil {
				req, streams[k.tenant] = &push.PushRequest{}, map[string]int{}
				want[k.tenant] = req
			}
			j, ok := streams[k.tenant][k.labels]
			if !ok {
				j = len(req.Streams)
				streams[k.tenant][k.labels] = j
				req.Streams = append(req.Streams, push.Stream{Labels: k.labels})
			}
			e := push.Entry{Timestamp: time.Unix(0, de.ts), Line: string(de.line)}
			for _, m := range d.meta[de.meta0:de.meta1] {
				e.StructuredMetadata = append(e.StructuredMetadata, push.LabelAdapter{Name: string(m.name), Value: string(m.value)})
			}
			req.Streams[j].Entries = append(req.Streams[j].Entries, e)
		}
		if len(b.tenants) != 2 {
			t.Fatalf("%d tenants in the batch, want 2", len(b.tenants))
		}
		var pe pushEncoder
		for _, tb := range b.tenants {
			got, err := snappy.Decode(nil, pe.encode(tb))
			if err != nil {
				t.Fatal(err)
			}
			w, err := want[tb.tenant].Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, w) {
				i := 0
				for i < len(got) && got[i] == w[i] {
					i++
				}
				t.Logf("first difference at %d: got % x, want % x", i, got[max(0, i-20):min(len(got), i+10)], w[max(0, i-20):min(len(w), i+10)])
				t.Fatalf("round %d, tenant %q: push body differs from the generated Marshal's (%d bytes, want %d)", round, tb.tenant, len(got), len(w))
			}
			var back push.PushRequest
			if err := back.Unmarshal(got); err != nil {
				t.Fatal(err)
			}
		}
		b.reset(1 << 20)
		if !b.empty() || len(b.tenants) != 0 || len(b.freeSmall)+len(b.freeChunks) == 0 {
			t.Fatalf("reset left %d entries, %d tenants, %d free buffers", b.entries, len(b.tenants), len(b.freeSmall)+len(b.freeChunks))
		}
	}
}

// TestLargePushBodyIsGogoMarshal: a push of two streams of 3 MiB each
// (past the 64 KiB blocks Snappy's encoder works on, and past s2's 4 MiB
// block size in all) decodes to the generated Marshal's bytes.
func TestLargePushBodyIsGogoMarshal(t *testing.T) {
	b := newBatch()
	want := &push.PushRequest{}
	line := make([]byte, 10<<10)
	for st := 0; st < 2; st++ {
		k := streamKey{labels: fmt.Sprintf(`{job="big", stream="%d"}`, st)}
		want.Streams = append(want.Streams, push.Stream{Labels: k.labels})
		for i := 0; i < 300; i++ {
			for j := range line {
				line[j] = byte('a' + (i*31+j*7+st)%26)
			}
			de := decodedEntry{ts: int64(1700000000e9 + i), line: line}
			ref, _ := b.ref(k, 0)
			b.add(ref, &de, nil, len(line))
			want.Streams[st].Entries = append(want.Streams[st].Entries, push.Entry{Timestamp: time.Unix(0, de.ts), Line: string(line)})
		}
	}
	var pe pushEncoder
	got, err := snappy.Decode(nil, pe.encode(b.tenants[0]))
	if err != nil {
		t.Fatal(err)
	}
	w, err := want.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, w) {
		t.Fatalf("push body differs from the generated Marshal's (%d bytes, want %d)", len(got), len(w))
	}
}
