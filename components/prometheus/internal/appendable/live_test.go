package appendable

import (
	"context"
	"testing"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/runtime/livedebug"
)

// Nobody watching: the wrapper hands out the receiver's own appender, so
// the data path is exactly what it was without live debugging.
func TestLiveUnwatchedIsTheReceiversAppender(t *testing.T) {
	svc := livedebug.New()
	svc.SetEnabled(true)
	rec := promtest.NewRecorder()
	app := rec.Appender(context.Background())
	if got := LiveAppender(app, svc.Publisher("c")); got != app {
		t.Fatalf("LiveAppender with no viewer returned %T, want the receiver's appender itself", got)
	}
}

// Watched: samples, histograms and exemplars are published as they are
// appended (and still reach the receiver); over the rate, the drop count
// is exact.
func TestLivePublishesSamplesAndCountsDrops(t *testing.T) {
	svc := livedebug.New()
	svc.SetEnabled(true)
	rec := promtest.NewRecorder()
	v, err := svc.Watch("prometheus.scrape.x")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	a := Live(rec, svc.Publisher("prometheus.scrape.x"))
	app := a.Appender(context.Background())
	l := labels.FromStrings("__name__", "up", "job", "x")
	_, _ = app.Append(0, l, 1_700_000_000_000, 1)
	_, _ = app.AppendHistogram(0, labels.FromStrings("__name__", "lat"), 1_700_000_000_000,
		&histogram.Histogram{Count: 5, Sum: 2.5, PositiveBuckets: []int64{2, 1}, PositiveSpans: []histogram.Span{{Offset: 0, Length: 2}}}, nil)
	_, _ = app.AppendExemplar(0, l, exemplar.Exemplar{Labels: labels.FromStrings("trace_id", "abc"), Value: 1, Ts: 1_700_000_000_000, HasTs: true})
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	want := []struct{ kind, text string }{
		{"sample", `{__name__="up", job="x"} 1 2023-11-14T22:13:20.000Z`},
		{"histogram", `{__name__="lat"} histogram{count=5, sum=2.5, buckets=2} 2023-11-14T22:13:20.000Z`},
		{"exemplar", `{__name__="up", job="x"} exemplar{{trace_id="abc"} 1} 2023-11-14T22:13:20.000Z`},
	}
	for i, w := range want {
		e := <-v.Events()
		if e.Kind != w.kind || e.Text != w.text {
			t.Fatalf("event %d = %s %q, want %s %q", i, e.Kind, e.Text, w.kind, w.text)
		}
	}
	if n := len(rec.Samples()); n != 1 {
		t.Fatalf("the receiver got %d samples, want 1", n)
	}

	// 50,000 more in one transaction: the viewer gets what its bucket
	// holds, and every other sample is counted as dropped.
	app = a.Appender(context.Background())
	const n = 50_000
	for i := range n {
		_, _ = app.Append(0, l, int64(i), float64(i))
	}
	_ = app.Commit()
	got := len(v.Events())
	if got == 0 || got > livedebug.Rate {
		t.Fatalf("the viewer got %d of %d samples; want between 1 and its burst of %d", got, n, livedebug.Rate)
	}
	if d := v.Tick(); d != int64(n-got) {
		t.Fatalf("dropped = %d, want %d (all the samples it did not get)", d, n-got)
	}
}
