package remotewrite

import (
	"maps"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// FuzzRequestTimestamps feeds arbitrary protobuf through the hand-written
// field walker that counts a remote-write request's samples per timestamp:
// it must never panic, and wherever Prometheus' own generated code decodes
// the bytes, the walker must count, in Prometheus' encoding of the
// series, samples and histograms it decoded (the requests flow sends are
// Prometheus-encoded, with no unknown fields), exactly what those hold. On raw bytes the two may differ: gogo's decoder skips a
// malformed group in an unknown field that protowire refuses.
//
//	go test -fuzz FuzzRequestTimestamps ./components/prometheus/remote_write/
func FuzzRequestTimestamps(f *testing.F) {
	v1 := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: []prompb.Label{{Name: "__name__", Value: "a"}}, Samples: []prompb.Sample{{Value: 1, Timestamp: 10}, {Value: 2, Timestamp: 20}},
			Histograms: []prompb.Histogram{{Timestamp: 20}}},
		{Labels: []prompb.Label{{Name: "__name__", Value: "b"}}, Samples: []prompb.Sample{{Value: 1, Timestamp: -10}}},
	}}
	v2 := writev2.Request{Symbols: []string{"", "__name__", "a"}, Timeseries: []writev2.TimeSeries{
		{LabelsRefs: []uint32{1, 2}, Samples: []writev2.Sample{{Value: 1, Timestamp: 30}}, Histograms: []writev2.Histogram{{Timestamp: 40}}},
	}}
	b1, _ := v1.Marshal()
	b2, _ := v2.Marshal()
	for _, raw := range [][]byte{b1, b2, {}, {0x0a, 0x05}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		f.Add(raw, false, true)
		f.Add(raw, true, true)
	}
	f.Fuzz(func(t *testing.T, raw []byte, isV2, withHist bool) {
		_, _ = requestTimestamps(snappy.Encode(nil, raw), isV2, withHist)
		want := map[int64]int64{}
		var canonical []byte
		if isV2 {
			var r writev2.Request
			if r.Unmarshal(raw) != nil {
				return
			}
			var c writev2.Request
			for _, ts := range r.Timeseries {
				var cts writev2.TimeSeries
				for _, s := range ts.Samples {
					want[s.Timestamp]++
					cts.Samples = append(cts.Samples, writev2.Sample{Value: s.Value, Timestamp: s.Timestamp})
				}
				for _, h := range ts.Histograms {
					if withHist {
						want[h.Timestamp]++
					}
					cts.Histograms = append(cts.Histograms, writev2.Histogram{Timestamp: h.Timestamp})
				}
				c.Timeseries = append(c.Timeseries, cts)
			}
			canonical, _ = c.Marshal()
		} else {
			var r prompb.WriteRequest
			if r.Unmarshal(raw) != nil {
				return
			}
			var c prompb.WriteRequest
			for _, ts := range r.Timeseries {
				var cts prompb.TimeSeries
				for _, s := range ts.Samples {
					want[s.Timestamp]++
					cts.Samples = append(cts.Samples, prompb.Sample{Value: s.Value, Timestamp: s.Timestamp})
				}
				for _, h := range ts.Histograms {
					if withHist {
						want[h.Timestamp]++
					}
					cts.Histograms = append(cts.Histograms, prompb.Histogram{Timestamp: h.Timestamp})
				}
				c.Timeseries = append(c.Timeseries, cts)
			}
			canonical, _ = c.Marshal()
		}
		got, err := requestTimestamps(snappy.Encode(nil, canonical), isV2, withHist)
		if err != nil {
			t.Fatalf("Prometheus encodes the request, the walker fails on it: %v", err)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("counts %v, Prometheus' decoding holds %v", got, want)
		}
	})
}
