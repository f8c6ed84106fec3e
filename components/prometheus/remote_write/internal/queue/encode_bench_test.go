package queue

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/record"
)

// benchItems is one request of the realistic shape (bench/metrics): 2,000
// series with the name, job, instance and five more labels, one sample
// each, with metadata.
func benchItems(v2 bool, d *dict) ([]item, []labels.Labels) {
	items := make([]item, 2000)
	lbls := make([]labels.Labels, len(items))
	for i := range items {
		l := labels.FromStrings("__name__", fmt.Sprintf("http_requests_%d_total", i%8), "job", "bench", "instance", "target-3:9100",
			"namespace", fmt.Sprintf("ns-%d", i%20), "pod", fmt.Sprintf("api-7d9f8c-%05d", i), "method", []string{"GET", "POST"}[i%2],
			"code", []string{"200", "500", "404"}[i%3], "route", fmt.Sprintf("/api/v1/items/%d", i%50))
		lbls[i] = l
		s := newSeries(uint64(i+1), l, l, v2, d)
		if v2 {
			s.meta.Store(&seriesMeta{typ: model.MetricTypeCounter, help: "Requests served.", unit: "", hid: d.id("Requests served."), uid: 0})
		}
		items[i] = item{s: s, t: 1_700_000_000_000, v: float64(i)}
	}
	return items, lbls
}

// BenchmarkEncode compares flow's encoder (impl=flow) with what
// Prometheus' queue manager does per request (impl=prometheus: prompb /
// writev2 structs built per sample, the 2.0 symbol table rebuilt per
// request, Marshal, snappy). ns/op is per request of 2,000 samples.
func BenchmarkEncode(b *testing.B) {
	for _, v2 := range []bool{false, true} {
		proto := "rw1"
		if v2 {
			proto = "rw2"
		}
		b.Run("proto="+proto+"/impl=prometheus", func(b *testing.B) {
			items, lbls := benchItems(v2, newDict())
			st := writev2.NewSymbolTable()
			var lb []prompb.Label
			var out []byte
			b.ReportAllocs()
			for b.Loop() {
				var raw []byte
				if v2 {
					st.Reset()
					req := writev2.Request{Timeseries: make([]writev2.TimeSeries, 0, len(items))}
					for i := range items {
						it := &items[i]
						m := it.s.meta.Load()
						req.Timeseries = append(req.Timeseries, writev2.TimeSeries{
							LabelsRefs: st.SymbolizeLabels(lbls[i], nil),
							Samples:    []writev2.Sample{{Value: it.v, Timestamp: it.t}},
							Metadata:   writev2.Metadata{Type: writev2.FromMetadataType(m.typ), HelpRef: st.Symbolize(m.help), UnitRef: st.Symbolize(m.unit)},
						})
					}
					req.Symbols = st.Symbols()
					raw, _ = req.Marshal()
				} else {
					req := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, len(items))}
					for i := range items {
						it := &items[i]
						lb = prompb.FromLabels(lbls[i], lb[:0])
						req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
							Labels:  append([]prompb.Label(nil), lb...),
							Samples: []prompb.Sample{{Value: it.v, Timestamp: it.t}},
						})
					}
					raw, _ = req.Marshal()
				}
				out = snappy.Encode(out[:cap(out)], raw)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(items))/1000, "µs/sample")
		})
		b.Run("proto="+proto+"/impl=flow", func(b *testing.B) {
			items, _ := benchItems(v2, newDict())
			e := encoder{v2: v2}
			var gen atomic.Uint64
			b.ReportAllocs()
			for b.Loop() {
				e.encode(items, &gen)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(items))/1000, "µs/sample")
		})
	}
}

// TestEncoderMatchesPrometheus: flow's encoder and Prometheus' structs
// decode to the same request (a check that the benchmark compares like
// with like, and of the encoder itself).
func TestEncoderMatchesPrometheus(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		items, lbls := benchItems(v2, newDict())
		e := encoder{v2: v2}
		var gen atomic.Uint64
		raw, err := snappy.Decode(nil, e.encode(items, &gen))
		if err != nil {
			t.Fatal(err)
		}
		if v2 {
			var req writev2.Request
			if err := req.Unmarshal(raw); err != nil {
				t.Fatal(err)
			}
			if len(req.Timeseries) != len(items) {
				t.Fatalf("%d series, want %d", len(req.Timeseries), len(items))
			}
			var b labels.ScratchBuilder
			for i, ts := range req.Timeseries {
				l, err := ts.ToLabels(&b, req.Symbols)
				if err != nil || !labels.Equal(l, lbls[i]) {
					t.Fatalf("series %d: %s (%v), want %s", i, l, err, lbls[i])
				}
				md, _ := ts.ToMetadata(req.Symbols)
				if md.Type != model.MetricTypeCounter || md.Help != "Requests served." || ts.Samples[0].Value != items[i].v || ts.Samples[0].Timestamp != items[i].t {
					t.Fatalf("series %d: %+v %+v", i, md, ts.Samples)
				}
			}
			seen := map[string]bool{}
			for _, s := range req.Symbols {
				if seen[s] {
					t.Fatalf("symbol %q twice", s)
				}
				seen[s] = true
			}
		} else {
			var req prompb.WriteRequest
			if err := req.Unmarshal(raw); err != nil {
				t.Fatal(err)
			}
			var b labels.ScratchBuilder
			for i, ts := range req.Timeseries {
				if l := ts.ToLabels(&b, nil); !labels.Equal(l, lbls[i]) || ts.Samples[0].Value != items[i].v {
					t.Fatalf("series %d: %s, want %s", i, l, lbls[i])
				}
			}
		}
	}
}

// discard is a Sender for benchmarks: the request is dropped.
type discard struct{}

func (discard) Send(context.Context, []byte, int) error { return nil }

// BenchmarkQueue measures the queue from Append to a sent request (series
// lookup, sharding, batching, encoding, snappy; no HTTP): one scrape of
// 100,000 series of the realistic shape per op, in WAL records of 10,000
// samples (one target each), on 1 or 4 shards, in requests of 1,000
// (so that no shard waits for batch_send_deadline).
func BenchmarkQueue(b *testing.B) {
	for _, v2 := range []bool{false, true} {
		for _, shards := range []int{1, 4} {
			b.Run(fmt.Sprintf("v2=%v/shards=%d", v2, shards), func(b *testing.B) {
				const n = 100_000
				var done atomic.Int64
				m, _ := NewMetrics(nil)
				q := New(Config{V2: v2, Capacity: 10000, MaxSamplesPerSend: 1000, MinShards: shards, MaxShards: shards,
					BatchSendDeadline: time.Second, OnDone: func(c map[int64]int64) {
						for _, k := range c {
							done.Add(k)
						}
					}}, discard{}, m)
				defer q.Stop(context.Background())
				var ss []record.RefSeries
				var mds []record.RefMetadata
				for i := 0; i < n; i++ {
					l := labels.FromStrings("__name__", fmt.Sprintf("http_requests_%d_total", i%8), "job", "bench", "instance", fmt.Sprintf("target-%d:9100", i/10000),
						"namespace", fmt.Sprintf("ns-%d", i%20), "pod", fmt.Sprintf("api-7d9f8c-%05d", i), "method", []string{"GET", "POST"}[i%2],
						"code", []string{"200", "500", "404"}[i%3], "route", fmt.Sprintf("/api/v1/items/%d", i%50))
					ss = append(ss, record.RefSeries{Ref: chunks.HeadSeriesRef(i + 1), Labels: l})
					mds = append(mds, record.RefMetadata{Ref: chunks.HeadSeriesRef(i + 1), Type: record.GetMetricType(model.MetricTypeCounter), Help: "Requests served."})
				}
				q.StoreSeries(ss, 0)
				q.StoreMetadata(mds)
				recs := make([][]record.RefSample, n/10000)
				b.ReportAllocs()
				var want int64
				for b.Loop() {
					ts := time.Now().UnixMilli()
					for r := range recs {
						recs[r] = recs[r][:0]
						for i := r * 10000; i < (r+1)*10000; i++ {
							recs[r] = append(recs[r], record.RefSample{Ref: chunks.HeadSeriesRef(i + 1), T: ts, V: float64(i)})
						}
						q.Append(recs[r])
					}
					want += n
					for done.Load() < want {
						time.Sleep(50 * time.Microsecond)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want)/1000, "µs/sample")
			})
		}
	}
}
