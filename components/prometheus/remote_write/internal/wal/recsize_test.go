package wal

import (
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/record"
)

// TestRecordSizesExact checks that the series and metadata records are
// sized exactly as Prometheus' encoder writes them, at every uvarint
// length boundary of references, label counts and string lengths, so that
// a commit's records are allocated once, at their size.
func TestRecordSizesExact(t *testing.T) {
	var enc record.Encoder
	lengths := []int{0, 1, 127, 128, 300, 16383, 16384, 70000}
	refs := []uint64{0, 1, 127, 128, 1 << 14, 1<<21 - 1, 1 << 35, 1<<64 - 1}
	var series []record.RefSeries
	var meta []record.RefMetadata
	for i, n := range lengths {
		b := labels.NewScratchBuilder(0)
		b.Add("__name__", "m")
		b.Add(strings.Repeat("n", max(1, n)), strings.Repeat("v", n))
		for j := range i * 40 { // up to 280 labels: a two-byte count
			b.Add("l"+strings.Repeat("x", j), "y")
		}
		b.Sort()
		s := record.RefSeries{Ref: chunks.HeadSeriesRef(refs[i]), Labels: b.Labels()}
		m := record.RefMetadata{Ref: chunks.HeadSeriesRef(refs[i]), Type: 3, Unit: strings.Repeat("u", n/2), Help: strings.Repeat("h", n)}
		if got, want := seriesRecordSize([]record.RefSeries{s}), len(enc.Series([]record.RefSeries{s}, nil)); got != want {
			t.Errorf("series with strings of %d bytes, %d labels, ref %d: size %d, encoder wrote %d", n, s.Labels.Len(), refs[i], got, want)
		}
		if got, want := metadataRecordSize([]record.RefMetadata{m}), len(enc.Metadata([]record.RefMetadata{m}, nil)); got != want {
			t.Errorf("metadata with help of %d bytes, ref %d: size %d, encoder wrote %d", n, refs[i], got, want)
		}
		series, meta = append(series, s), append(meta, m)
	}
	if got, want := seriesRecordSize(series), len(enc.Series(series, nil)); got != want {
		t.Errorf("all series: size %d, encoder wrote %d", got, want)
	}
	if got, want := metadataRecordSize(meta), len(enc.Metadata(meta, nil)); got != want {
		t.Errorf("all metadata: size %d, encoder wrote %d", got, want)
	}
	// Sized buffers are not grown by the encoder.
	b := sized(nil, seriesRecordSize(series))
	if out := enc.Series(series, b); cap(out) != cap(b) {
		t.Errorf("encoding into a sized buffer grew it: cap %d → %d", cap(b), cap(out))
	}
	if seriesRecordSize(nil) != 1 || metadataRecordSize(nil) != 1 {
		t.Errorf("empty records: sizes %d and %d, want 1 (the type)", seriesRecordSize(nil), metadataRecordSize(nil))
	}
}
