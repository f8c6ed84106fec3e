package remotewrite

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/prompb"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promproc"
	"github.com/flow-telemetry/flow/syntax/value"
)

// TestSplittingClientAgainstPrometheus sends Prometheus (Remote-Write 1.0)
// a request of which one sample is older than what Prometheus already holds
// for its series: Prometheus refuses the whole request with 400. The replay
// client splits it until only that sample is left out, and Prometheus ends
// up with every sample.
func TestSplittingClientAgainstPrometheus(t *testing.T) {
	prom := promproc.StartPrometheus(t)
	var ep EndpointOptions
	ep.SetToDefault()
	ep.Name, ep.URL = "prom", value.NewURL(prom.URL()+"/api/v1/write")
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := newEndpointClient(&ep, &endpointStatus{}, m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().UnixMilli() - 60_000
	series := func(name string, ts ...int64) prompb.TimeSeries {
		s := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "split_test"}, {Name: "s", Value: name}}}
		for _, t := range ts {
			s.Samples = append(s.Samples, prompb.Sample{Timestamp: base + t, Value: float64(t)})
		}
		return s
	}
	body := func(ts ...prompb.TimeSeries) []byte {
		b, err := (&prompb.WriteRequest{Timeseries: ts}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return snappy.Encode(nil, b)
	}
	// Before the "restart": a and b got their samples up to 2000.
	if _, err := cl.Store(context.Background(), body(series("a", 1000, 2000), series("b", 1000, 2000)), 0); err != nil {
		t.Fatal(err)
	}
	// The replay sends everything after the marker (1000): a and b from
	// 2000 on (2000 is a duplicate, accepted), and c to j. For a, Prometheus
	// already holds 2000, so 1500 is out of order and the whole request is
	// refused.
	replay := []prompb.TimeSeries{series("a", 1500, 2000, 3000), series("b", 2000, 3000)}
	for _, n := range "cdefghij" {
		replay = append(replay, series(string(n), 1500, 2000, 3000))
	}
	probe := context.WithValue(context.Background(), probeKey{}, true) // not counted as a drop
	if _, err := cl.Store(probe, body(replay...), 0); statusOf(err) != 400 {
		t.Fatalf("Prometheus answered %v to a request with an out-of-order sample, want 400", err)
	}
	sc := &splittingClient{ep: cl, h: base + 2000}
	if _, err := sc.Store(context.Background(), body(replay...), 0); err != nil {
		t.Fatalf("replay request: %v", err)
	}
	t.Logf("%d requests, %d samples refused as already there", sc.requests.Load(), sc.refused.Load())
	if sc.refused.Load() != 1 {
		t.Errorf("%d samples refused, want 1 (a@1500)", sc.refused.Load())
	}
	if n := sc.requests.Load(); n > 12 {
		t.Errorf("%d requests to settle one refused sample among 10 series", n)
	}
	want := map[string][]int64{"a": {1000, 2000, 3000}, "b": {1000, 2000, 3000}}
	for _, n := range "cdefghij" {
		want[string(n)] = []int64{1500, 2000, 3000}
	}
	for name, ts := range want {
		got := rangeTimestamps(t, prom, fmt.Sprintf(`split_test{s=%q}[10m]`, name))
		var have []int64
		for t := range got {
			have = append(have, t-base)
		}
		sort.Slice(have, func(i, j int) bool { return have[i] < have[j] })
		if fmt.Sprint(have) != fmt.Sprint(ts) {
			t.Errorf("series %s: Prometheus has %v, want %v", name, have, ts)
		}
	}
	if n := testutil.ToFloat64(m.droppedSamples.WithLabelValues("prom", "400")); n != 0 {
		t.Errorf("%v samples already at the receiver were counted as drops", n)
	}
}
