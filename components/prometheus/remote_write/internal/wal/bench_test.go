package wal

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	rtmetrics "runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/agent"

	"github.com/flow-telemetry/flow/internal/benchmeter"
)

// The benchmarks run this writer and tsdb/agent side by side on the same
// work (sub-benchmarks writer=flow and writer=agent; compare them with
// benchstat -col /writer).

type openFunc func(b *testing.B, dir string) (storage.Appendable, func())

var writers = []struct {
	name string
	open openFunc
}{
	{"writer=agent", func(b *testing.B, dir string) (storage.Appendable, func()) {
		o := agent.DefaultOptions()
		o.EnableMetadataWALRecords = true
		db, err := agent.Open(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), nil, dir, o)
		if err != nil {
			b.Fatal(err)
		}
		return db, func() { _ = db.Close() }
	}},
	{"writer=flow", func(b *testing.B, dir string) (storage.Appendable, func()) {
		db, err := Open(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), dir, Options{Metadata: true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		return db, func() { _ = db.Close() }
	}},
}

// realisticSeries are bench/metrics' shape: a name and five labels.
func realisticSeries(from, to int, tag string) []labels.Labels {
	out := make([]labels.Labels, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, labels.FromStrings("__name__", fmt.Sprintf("http_requests_%d_total", i/250), "namespace", "payments",
			"pod", fmt.Sprintf("api-%s%02d-%05x", tag, i/10000, i*2654435761%0xfffff), "method", "GET",
			"code", fmt.Sprint(200+i%7), "route", fmt.Sprintf("/v1/r%04d", i%10000)))
	}
	return out
}

// BenchmarkAppendCommit is a scrape: a transaction of 500 series, one
// sample each, appended with the refs the previous scrape got back (as the
// scrape cache does) and committed, from GOMAXPROCS goroutines at once.
func BenchmarkAppendCommit(b *testing.B) {
	for _, w := range writers {
		b.Run(w.name, func(b *testing.B) {
			app, closeDB := w.open(b, b.TempDir())
			defer closeDB()
			var worker atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := benchmeter.CPUTime()
			b.RunParallel(func(pb *testing.PB) {
				series := realisticSeries(0, 500, fmt.Sprint(worker.Add(1)))
				refs := make([]storage.SeriesRef, len(series))
				ts := time.Now().UnixMilli()
				for pb.Next() {
					ts++
					a := app.Appender(context.Background())
					for i, s := range series {
						ref, err := a.Append(refs[i], s, ts, float64(ts))
						if err != nil {
							b.Fatal(err)
						}
						refs[i] = ref
					}
					if err := a.Commit(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64((benchmeter.CPUTime()-cpu0).Nanoseconds())/float64(b.N*500), "cpu-ns/sample")
		})
	}
}

func liveHeap() float64 {
	runtime.GC()
	runtime.GC()
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s)
	return float64(s[0].Value.Uint64())
}

// BenchmarkMemoryPerSeries is the writer's live heap per active series,
// the labels not counted (the scrape holds them): "total" is the heap of
// an open WAL with 100,000 series over an empty one's, per series (fixed
// costs included), "marginal" is what 50,000 series more add to 100,000.
func BenchmarkMemoryPerSeries(b *testing.B) {
	const base, extra = 100000, 50000
	all := realisticSeries(0, base+extra, "")
	for _, w := range writers {
		b.Run(w.name, func(b *testing.B) {
			var total, marginal float64
			for range b.N {
				h0 := liveHeap()
				app, closeDB := w.open(b, b.TempDir())
				add := func(ls []labels.Labels) {
					ts := time.Now().UnixMilli()
					for off := 0; off < len(ls); off += 1000 {
						a := app.Appender(context.Background())
						for _, l := range ls[off:min(off+1000, len(ls))] {
							if _, err := a.Append(0, l, ts, 1); err != nil {
								b.Fatal(err)
							}
						}
						if err := a.Commit(); err != nil {
							b.Fatal(err)
						}
					}
				}
				add(all[:base])
				h1 := liveHeap()
				add(all[base:])
				h2 := liveHeap()
				runtime.KeepAlive(app)
				closeDB()
				total += (h1 - h0) / base
				marginal += (h2 - h1) / extra
			}
			b.ReportMetric(total/float64(b.N), "B/series-total")
			b.ReportMetric(marginal/float64(b.N), "B/series-marginal")
		})
	}
}
