package remotewrite

import (
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/common/relabel"
)

func newTestTracker(t *testing.T) *tracker {
	t.Helper()
	dir := t.TempDir()
	tr, err := newTracker(dir, "ep")
	if err != nil {
		t.Fatal(err)
	}
	var ep EndpointOptions
	ep.SetToDefault()
	if err := tr.configure(&ep, labels.EmptyLabels()); err != nil {
		t.Fatal(err)
	}
	// Start from a known marker rather than "now".
	tr.marker, tr.highest = 100, 100
	return tr
}

func TestTrackerMarker(t *testing.T) {
	tr := newTestTracker(t)
	now := time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tr.expect([]tsCount{{t: 200, n: 3}, {t: 300, n: 2}}))
	must(tr.delivered(map[int64]int64{300: 2}))
	if m := tr.advance(now); m != 100 {
		t.Fatalf("marker %d: moved past 200, which is not delivered", m)
	}
	must(tr.delivered(map[int64]int64{200: 2}))
	if m := tr.advance(now); m != 100 {
		t.Fatalf("marker %d with one sample at 200 outstanding", m)
	}
	must(tr.delivered(map[int64]int64{200: 1}))
	if m := tr.advance(now); m != 300 {
		t.Fatalf("marker %d, want 300 once everything is delivered", m)
	}
	if _, h := tr.state(); h != 300 {
		t.Fatalf("highest %d, want 300", h)
	}

	must(tr.flush(now))
	if m, _, _ := readMarker(t, tr); m != 300 {
		t.Fatalf("flushed marker %d, want 300", m)
	}
	// A late commit below the written marker lowers it and writes it down
	// before the commit goes ahead.
	must(tr.expect([]tsCount{{t: 250, n: 1}}))
	m, h, err := readMarker(t, tr)
	if err != nil || m != 249 || h != 300 {
		t.Fatalf("marker file holds (%d, %d, %v), want (249, 300)", m, h, err)
	}
	must(tr.delivered(map[int64]int64{250: 1}))
	if m := tr.advance(now); m != 250 {
		t.Fatalf("marker %d, want 250", m)
	}
	must(tr.flush(now))
	if m, _, _ := readMarker(t, tr); m != 250 {
		t.Fatalf("flushed marker %d", m)
	}

	// A failed commit withdraws its samples.
	must(tr.expect([]tsCount{{t: 400, n: 5}}))
	tr.unexpect([]tsCount{{t: 400, n: 5}})
	if n := tr.outstanding(); n != 0 {
		t.Fatalf("%d outstanding after a withdrawn commit", n)
	}
}

func readMarker(t *testing.T, tr *tracker) (int64, int64, error) {
	t.Helper()
	// Read the tracker's file through a second handle, as a restart would.
	f2, m, h, err := openMarkerFileAt(tr.file.path)
	if err == nil {
		_ = f2.close()
	}
	return m, h, err
}

func TestTrackerKeepsWriteRelabel(t *testing.T) {
	tr := newTestTracker(t)
	var ep EndpointOptions
	ep.SetToDefault()
	var r relabel.Rule
	r.SetToDefault()
	r.Action = "drop"
	r.SourceLabels = []string{"env"}
	r.Regex = "dev"
	ep.WriteRelabelConfigs = []relabel.Rule{r}
	// External labels are applied before the rules, as Prometheus does.
	if err := tr.configure(&ep, labels.FromStrings("env", "dev")); err != nil {
		t.Fatal(err)
	}
	if tr.keeps(storage.SeriesRef(1), labels.FromStrings("__name__", "a")) {
		t.Error("series given env=dev by external labels kept")
	}
	if !tr.keeps(storage.SeriesRef(2), labels.FromStrings("__name__", "b", "env", "prod")) {
		t.Error("series with its own env=prod dropped")
	}
}

func TestRequestTimestamps(t *testing.T) {
	v1 := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: []prompb.Label{{Name: "__name__", Value: "a"}}, Samples: []prompb.Sample{{Value: 1, Timestamp: 10}, {Value: 2, Timestamp: 20}},
			Histograms: []prompb.Histogram{{Timestamp: 20}}},
		{Labels: []prompb.Label{{Name: "__name__", Value: "b"}}, Samples: []prompb.Sample{{Value: 1, Timestamp: 10}}},
	}}
	b, err := v1.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := requestTimestamps(snappy.Encode(nil, b), false, true)
	if err != nil || got[10] != 2 || got[20] != 2 || len(got) != 2 {
		t.Fatalf("v1 counts %v, %v", got, err)
	}
	got, _ = requestTimestamps(snappy.Encode(nil, b), false, false)
	if got[20] != 1 {
		t.Fatalf("v1 counts without histograms %v", got)
	}

	v2 := writev2.Request{Symbols: []string{"", "__name__", "a"}, Timeseries: []writev2.TimeSeries{
		{LabelsRefs: []uint32{1, 2}, Samples: []writev2.Sample{{Value: 1, Timestamp: 30}}, Histograms: []writev2.Histogram{{Timestamp: 40}}},
	}}
	b, err = v2.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err = requestTimestamps(snappy.Encode(nil, b), true, true)
	if err != nil || got[30] != 1 || got[40] != 1 || len(got) != 2 {
		t.Fatalf("v2 counts %v, %v", got, err)
	}
	if _, err := requestTimestamps([]byte("not snappy"), false, false); err == nil {
		t.Error("garbage accepted")
	}
}

// BenchmarkRequestTimestamps is the accounting cost per request of 2000
// samples, the default max_samples_per_send.
func BenchmarkRequestTimestamps(b *testing.B) {
	var wr prompb.WriteRequest
	for i := 0; i < 2000; i++ {
		wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "bench_metric"}, {Name: "instance", Value: "10.0.0.1:9100"}, {Name: "series", Value: string(rune('a' + i%26))}},
			Samples: []prompb.Sample{{Value: float64(i), Timestamp: 1700000000000}},
		})
	}
	raw, _ := wr.Marshal()
	req := snappy.Encode(nil, raw)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := requestTimestamps(req, false, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrackerDelivered is the accounting of one delivered request
// (delivered moves the marker and writes it down): 1,000 scrape
// timestamps outstanding, 2,000 samples each, delivered in order, one
// request of 2,000 samples per op.
func BenchmarkTrackerDelivered(b *testing.B) {
	tr, err := newTracker(b.TempDir(), "ep")
	if err != nil {
		b.Fatal(err)
	}
	const outstanding = 1000
	next := int64(1_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%outstanding == 0 {
			b.StopTimer()
			counts := make([]tsCount, outstanding)
			for j := range counts {
				counts[j] = tsCount{t: next + int64(j), n: 2000}
			}
			if err := tr.expect(counts); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if err := tr.delivered(map[int64]int64{next + int64(i%outstanding): 2000}); err != nil {
			b.Fatal(err)
		}
		if i%outstanding == outstanding-1 {
			next += outstanding
		}
	}
}
