package queue

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
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
