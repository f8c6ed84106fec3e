package relabel

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/internal/benchmeter"
	"github.com/flow-telemetry/flow/internal/realtarget"
)

// BenchmarkRelabelScrapeShape measures the receiver as ten scrape loops of
// 10,000 series each call it: 100,000 series of the realistic shape (eight
// labels with job and instance, about 150 bytes), every loop passing back
// the references it got, three rules, forwarding to a receiver that does
// nothing; with the cache holding every series (warm) and with
// max_cache_size 5% below the series (full). b.N is the number of samples;
// cpu-ns/sample is the process' CPU time per sample, which a busy machine
// disturbs less than ns/op.
func BenchmarkRelabelScrapeShape(b *testing.B) {
	const loops, perLoop = 10, 10_000
	lsets := make([][]labels.Labels, loops)
	methods, codes := []string{"GET", "POST", "PUT", "DELETE"}, []string{"200", "201", "204", "400", "404", "500", "503"}
	for l := range lsets {
		for i := range perLoop {
			lsets[l] = append(lsets[l], labels.FromStrings(
				"__name__", fmt.Sprintf("http_server_requests_total_%d", i/250),
				"namespace", []string{"payments", "checkout", "inventory", "search", "identity", "shipping"}[(i/7)%6],
				"pod", fmt.Sprintf("api-%02d-%05x", l, i*2654435761%0xfffff),
				"method", methods[i%len(methods)], "code", codes[(i/4)%len(codes)],
				"route", fmt.Sprintf("/v1/r%04d", i),
				"job", "bench", "instance", fmt.Sprintf("10.0.0.%d:9100", l)))
		}
	}
	rules := realtarget.RelabelRules()
	for _, size := range []struct {
		name string
		max  int
	}{{"warm", DefaultMaxCacheSize}, {"full", loops * perLoop * 95 / 100}} {
		b.Run(size.name, func(b *testing.B) {
			opts, ex, _ := promtest.Options(b, "prometheus.relabel.bench")
			a := args([]storage.Appendable{nopAppendable{}}, rules...)
			a.MaxCacheSize = size.max
			if _, err := New(opts, a); err != nil {
				b.Fatal(err)
			}
			recv := ex.Last().(Exports).Receiver
			refs := make([][]storage.SeriesRef, loops)
			for l := range refs {
				refs[l] = make([]storage.SeriesRef, perLoop)
			}
			// scrape appends one round of loop l's series.
			scrape := func(l int, t int64, n int) {
				app := recv.Appender(context.Background())
				for i := range n {
					refs[l][i], _ = app.Append(refs[l][i], lsets[l][i], t, 1)
				}
				_ = app.Commit()
			}
			for l := range loops {
				scrape(l, 0, perLoop)
			}
			cpu0 := benchmeter.CPUTime()
			b.ResetTimer()
			var wg sync.WaitGroup
			for l := range loops {
				n := b.N / loops
				wg.Go(func() {
					for t := int64(1); n > 0; t++ {
						k := min(n, perLoop)
						scrape(l, t, k)
						n -= k
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64((benchmeter.CPUTime()-cpu0).Nanoseconds())/float64(b.N/loops*loops), "cpu-ns/sample")
		})
	}
}
