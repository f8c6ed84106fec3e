package remotewrite

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/internal/benchmeter"
)

// BenchmarkCommit measures a scrape-sized transaction (500 series, one
// sample each) appended and committed to the WAL, from GOMAXPROCS
// goroutines at once as concurrent scrapes do. Commits are serialised
// (walguard.go), so this shows what that costs.
func BenchmarkCommit(b *testing.B) {
	// A receiver that reads and discards: the benchmark is about the WAL.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close) // after the component stops (cleanups run last first)
	opts, ex, _ := promtest.Options(b, "prometheus.remote_write.bench")
	opts.Logger = slog.New(slog.DiscardHandler)
	c, err := New(opts, testArgs(srv.URL+"/api/v1/write"))
	if err != nil {
		b.Fatal(err)
	}
	promtest.Run(b, c)
	recv := ex.Last().(Exports).Receiver
	var worker atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := benchmeter.CPUTime()
	b.RunParallel(func(pb *testing.PB) {
		w := worker.Add(1)
		series := make([]labels.Labels, 500)
		for i := range series {
			series[i] = labels.FromStrings("__name__", "bench_metric", "worker", fmt.Sprint(w), "i", fmt.Sprint(i))
		}
		ts := time.Now().UnixMilli()
		for pb.Next() {
			ts++
			app := recv.Appender(context.Background())
			for _, s := range series {
				if _, err := app.Append(0, s, ts, 1); err != nil {
					b.Fatal(err)
				}
			}
			if err := app.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "samples/s")
	// The process's CPU time per sample (the queues reading the WAL and
	// sending included): on a shared machine, the work regardless of
	// contention.
	b.ReportMetric(float64((benchmeter.CPUTime()-cpu0).Nanoseconds())/float64(b.N*500), "cpu-ns/sample")
}
