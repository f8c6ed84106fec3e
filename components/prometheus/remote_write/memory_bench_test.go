package remotewrite

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	rtmetrics "runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// BenchmarkMemoryPerSeries measures the heap the component keeps per
// additional active series (WAL series, queue, delivery accounting,
// metadata): 20,000 series are appended and delivered, then 50,000 more;
// the live heap grows by B/series for each of them. Each series has five
// labels and the name, like bench/metrics' realistic shape, and its
// metadata is appended (as prometheus.scrape does when an endpoint sends
// it). The series' labels are counted once (prometheus.scrape creates
// them; the WAL keeps the same ones); the scrape cache's entry, which
// prometheus.scrape keeps per series on top, is not.
func BenchmarkMemoryPerSeries(b *testing.B) {
	for _, proto := range []string{"prometheus.WriteRequest", "io.prometheus.write.v2.Request"} {
		b.Run(strings.TrimSuffix(strings.TrimPrefix(proto, "io."), ".Request"), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.ReportMetric(memoryPerSeries(b, proto), "B/series")
			}
		})
	}
}

func memoryPerSeries(b *testing.B, proto string) float64 {
	const base, extra, ticks = 20000, 50000, 3
	v2 := proto != "prometheus.WriteRequest"
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if counts, err := requestTimestamps(body, v2, false); err == nil {
			for _, n := range counts {
				got.Add(n)
			}
		}
		if v2 {
			w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", "0")
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	opts, ex, _ := promtest.Options(b, "prometheus.remote_write.bench")
	opts.Logger = slog.New(slog.DiscardHandler)
	c, err := New(opts, testArgs(srv.URL+"/api/v1/write", func(ep *EndpointOptions) { ep.ProtobufMessage = proto }))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	recv := ex.Last().(Exports).Receiver

	all := make([]labels.Labels, 0, base+extra)
	add := func(n int) {
		for i := len(all); i < n; i++ {
			all = append(all, labels.FromStrings("__name__", fmt.Sprintf("http_requests_%d_total", i/250), "namespace", "payments",
				"pod", fmt.Sprintf("api-%02d-%05x", i/10000, i*2654435761%0xfffff), "method", "GET",
				"code", fmt.Sprint(200+i%7), "route", fmt.Sprintf("/v1/r%04d", i%10000)))
		}
	}
	md := metadata.Metadata{Type: model.MetricTypeCounter, Help: "Requests served."}
	var sent int64
	tick := func(n int, first bool) {
		ts := time.Now().UnixMilli()
		app := recv.Appender(context.Background())
		for _, l := range all[:n] {
			ref, err := app.Append(0, l, ts, 1)
			if err != nil {
				b.Fatal(err)
			}
			if first {
				if _, err := app.UpdateMetadata(ref, l, md); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := app.Commit(); err != nil {
			b.Fatal(err)
		}
		sent += int64(n)
		time.Sleep(10 * time.Millisecond)
	}
	heap := func() float64 {
		testwait.Eventually(b, 60*time.Second, func() bool { return got.Load() >= sent }, "%d of %d samples delivered", got.Load(), sent)
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		runtime.GC()
		s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		rtmetrics.Read(s)
		return float64(s[0].Value.Uint64())
	}
	add(base)
	for i := 0; i < ticks; i++ {
		tick(base, i == 0)
	}
	h0 := heap()
	add(base + extra) // counted: the labels are the series' (the scrape's and the WAL's)
	for i := 0; i < ticks; i++ {
		tick(base+extra, i == 0)
	}
	h1 := heap()
	return (h1 - h0) / extra
}
