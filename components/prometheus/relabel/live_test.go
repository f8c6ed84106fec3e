package relabel

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/internal/benchmeter"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/livedebug"
)

// The Live tab of prometheus.relabel shows each sample's relabelling, with
// its value and timestamp, and the samples it drops.
func TestLiveShowsRelabelling(t *testing.T) {
	svc := livedebug.New()
	svc.SetEnabled(true)
	opts, ex, _ := promtest.Options(t, "prometheus.relabel.live")
	opts.LiveDebug = svc.Publisher(opts.ID)
	if _, err := New(opts, args([]storage.Appendable{nopAppendable{}}, addEnv, dropDebug)); err != nil {
		t.Fatal(err)
	}
	recv := ex.Last().(Exports).Receiver
	v, err := svc.Watch(opts.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	app := recv.Appender(context.Background())
	_, _ = app.Append(0, labels.FromStrings("__name__", "up", "instance", "a"), 1_700_000_000_000, 1)
	_, _ = app.Append(0, labels.FromStrings("__name__", "debug_x", "instance", "a"), 1_700_000_000_000, 2.5)
	_ = app.Commit()
	want := []string{
		`{__name__="up", instance="a"} → {__name__="up", env="prod", instance="a"} 1 2023-11-14T22:13:20.000Z`,
		`{__name__="debug_x", instance="a"} → dropped 2.5 2023-11-14T22:13:20.000Z`,
	}
	for i, w := range want {
		e := testwait.Receive(t, 30*time.Second, v.Events(), "event %d did not arrive", i)
		if e.Kind != "sample" || e.Text != w {
			t.Fatalf("event %d = %s %q, want sample %q", i, e.Kind, e.Text, w)
		}
	}
}

// BenchmarkLivePipeline measures the CPU per sample of prometheus.relabel
// (five rules, warm cache, forwarding to a receiver that does nothing: the
// cheapest pipeline, so the relative cost of live debugging is at its
// largest) with live debugging off, on with nobody watching, and on with
// one viewer reading the stream (200 events/s reach it; the rest are
// sampled out).
func BenchmarkLivePipeline(b *testing.B) {
	for _, mode := range []string{"off", "on-no-viewer", "one-viewer"} {
		b.Run("live="+mode, func(b *testing.B) {
			svc := livedebug.New()
			svc.SetEnabled(mode != "off")
			opts, ex, _ := promtest.Options(b, "prometheus.relabel.bench")
			opts.LiveDebug = svc.Publisher(opts.ID)
			if mode == "one-viewer" {
				v, err := svc.Watch(opts.ID)
				if err != nil {
					b.Fatal(err)
				}
				var wg sync.WaitGroup
				stop := make(chan struct{})
				wg.Add(1)
				go func() { // the API's stream loop, minus the network
					defer wg.Done()
					tick := time.NewTicker(livedebug.TickInterval)
					defer tick.Stop()
					var sb strings.Builder
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							v.Tick()
						case e := <-v.Events():
							sb.Reset()
							sb.WriteString(e.Text)
						}
					}
				}()
				b.Cleanup(func() { close(stop); wg.Wait(); v.Close() })
			}
			const series, perCommit = 10_000, 1000
			recv, lsets, refs := warmBench(b, opts, ex, series)
			b.ReportAllocs()
			cpu0 := int64(benchmeter.CPUTime())
			b.ResetTimer()
			// A transaction per 1,000 samples, as a scrape of a
			// 1,000-series target.
			app := recv.Appender(context.Background())
			for i := 0; i < b.N; i++ {
				j := i % series
				refs[j], _ = app.Append(refs[j], lsets[j], int64(i), 1)
				if i%perCommit == perCommit-1 {
					_ = app.Commit()
					app = recv.Appender(context.Background())
				}
			}
			_ = app.Commit()
			b.StopTimer()
			// CPU time of the whole process (the viewer's reader
			// included) per sample: on a shared machine it varies far
			// less than wall time.
			b.ReportMetric(float64(int64(benchmeter.CPUTime())-cpu0)/float64(b.N), "cpu-ns/sample")
		})
	}
}
