package queue

import (
	"bytes"
	"math"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// TestRW1LabelsMatchPrompb checks the Remote-Write 1.0 label encoding
// against prompb's generated marshal at every length around the one-byte
// fast path's bound (a Label message of 127 bytes) and beyond, where
// lengths take two and three varint bytes. (Values are never empty: a
// label with an empty value is no label.)
func TestRW1LabelsMatchPrompb(t *testing.T) {
	for _, name := range []int{1, 8, 60, 123, 124, 127, 128, 200, 20000} {
		for _, value := range []int{1, 2, 3, 4, 60, 122, 123, 124, 127, 128, 300, 70000} {
			l := labels.FromStrings(strings.Repeat("n", name), strings.Repeat("v", value), "z", "last")
			got := appendRW1Labels([]byte{0xff}, l)
			ts := prompb.TimeSeries{}
			l.Range(func(l labels.Label) { ts.Labels = append(ts.Labels, prompb.Label{Name: l.Name, Value: l.Value}) })
			want, err := ts.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[1:], want) || got[0] != 0xff {
				t.Fatalf("name of %d bytes, value of %d: encoded\n%x\nwant\n%x", name, value, got, want)
			}
		}
	}
}

// TestRW2SymbolMarkWraps: when the encoder's 32-bit request mark wraps,
// marks left from 2^32 requests earlier are not taken for this request's:
// every request still carries each symbol it refers to.
func TestRW2SymbolMarkWraps(t *testing.T) {
	d := newDict()
	items, lbls := benchItems(true, d)
	// Two requests of different series (each pod is in one series).
	a, b := items[:1000], items[1000:]
	e := encoder{v2: true}
	var gen atomic.Uint64
	check := func(what string, items []item, lbls []labels.Labels) {
		t.Helper()
		raw, err := snappy.Decode(nil, e.encode(items, &gen))
		if err != nil {
			t.Fatal(err)
		}
		var req writev2.Request
		if err := req.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		var sb labels.ScratchBuilder
		for i, ts := range req.Timeseries {
			if l, err := ts.ToLabels(&sb, req.Symbols); err != nil || !labels.Equal(l, lbls[i]) {
				t.Fatalf("%s: series %d: %s (%v), want %s", what, i, l, err, lbls[i])
			}
		}
	}
	check("first request (mark 1)", a, lbls[:1000])
	// 2^32 - 1 requests later, the mark wraps during b's request; a's
	// pods keep mark 1, which the request after b would have again.
	e.lgen = math.MaxUint32
	check("request that wraps the mark", b, lbls[1000:])
	check("request after the wrap", a, lbls[:1000])
}
