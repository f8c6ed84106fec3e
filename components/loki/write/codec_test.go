package write

import (
	"testing"
	"time"

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
	if len(d.entries) != 3 || d.entries[1].Line != "two" || d.entries[1].StructuredMetadata[0].Value != "abc" ||
		!d.entries[2].Timestamp.Equal(ts.Add(-time.Hour)) || d.entries[2].stream != 1 {
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
