package remotewrite

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/common/relabel"
	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/components/prometheus/internal/rwtest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
)

// Samples left undelivered in the WAL by a run are replayed by the next one
// through flow's own replay sender: Remote-Write 2.0 requests with each
// series' type, help and unit, external labels added, write relabel rules
// applied, a 503 with Retry-After waited out, every sample delivered once.
func TestReplaySenderV2(t *testing.T) {
	r := rwtest.Start(t)
	var mu sync.Mutex
	var refusedAt, retriedAt time.Time
	r.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			mu.Lock()
			first := refusedAt.IsZero()
			if first {
				refusedAt = time.Now()
			} else if retriedAt.IsZero() {
				retriedAt = time.Now()
			}
			mu.Unlock()
			if first {
				w.Header().Set("Retry-After", "2")
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, req)
		})
	})
	args := testArgs(r.URL(), func(ep *EndpointOptions) {
		ep.ProtobufMessage = "io.prometheus.write.v2.Request"
		ep.QueueOptions.MaxSamplesPerSend = 50
		ep.QueueOptions.MaxShards = 1 // one request at a time: the second request is the retry
		ep.QueueOptions.MinBackoff = 10 * time.Millisecond
		ep.QueueOptions.MaxBackoff = 5 * time.Second
		var rule relabel.Rule
		rule.SetToDefault()
		rule.SourceLabels, rule.Regex, rule.Action = []string{"series"}, "1.*", "drop"
		ep.WriteRelabelConfigs = []relabel.Rule{rule}
	})
	args.ExternalLabels = map[string]string{"cluster": "eu"}

	// First run: the receiver is down; 30 series × 5 samples stay in the WAL.
	md := metadata.Metadata{Type: model.MetricTypeGauge, Help: "Test gauge.", Unit: "bytes"}
	var sent []int64
	opts := leaveInWAL(t, r, args, 5, func(app storage.Appender, i int) {
		ts := time.Now().UnixMilli() + int64(i)
		for s := 0; s < 30; s++ {
			l := labels.FromStrings("__name__", "test_gauge_bytes", "series", strconv.Itoa(s))
			ref, err := app.Append(0, l, ts, float64(s))
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				if _, err := app.UpdateMetadata(ref, l, md); err != nil {
					t.Fatal(err)
				}
			}
		}
		sent = append(sent, ts)
	})

	// Second run, same data directory: the receiver is back.
	c2, err := New(opts, args)
	if err != nil {
		t.Fatal(err)
	}
	promtest.Run(t, c2)
	kept := 0
	for s := 0; s < 30; s++ {
		if strings.HasPrefix(strconv.Itoa(s), "1") {
			continue
		}
		kept++
	}
	testwait.Eventually(t, 30*time.Second, func() bool { return r.Stats().Samples == kept*len(sent) }, "every kept sample replayed")
	st := r.Stats()
	if st.Duplicates != 0 || len(st.SpecViolations) != 0 {
		t.Fatalf("duplicates %d, spec violations %v", st.Duplicates, st.SpecViolations)
	}
	if got := r.Series(map[string]string{"series": "10"}); len(got) != 0 {
		t.Fatalf("a series the write relabel rules drop was sent: %v", got)
	}
	if got := r.Series(map[string]string{"cluster": "eu"}); len(got) != kept {
		t.Fatalf("%d series with the external label cluster=eu, want %d", len(got), kept)
	}
	seen := metadataSeen(r)
	if len(seen) != 1 || seen[0] != "test_gauge_bytes gauge Test gauge. unit=bytes" {
		t.Fatalf("2.0 metadata of the replayed series: %v", seen)
	}
	for _, req := range r.Requests() {
		if req.Samples > 50 {
			t.Fatalf("a request carried %d samples, max_samples_per_send is 50", req.Samples)
		}
	}
	mu.Lock()
	wait := retriedAt.Sub(refusedAt)
	mu.Unlock()
	if wait < 1900*time.Millisecond {
		t.Fatalf("retried %s after a 503 with Retry-After: 2", wait)
	}
}

// Native histograms (integer and float) and exemplars left in the WAL are
// replayed too, with Remote-Write 1.0 and 2.0, when the endpoint sends them.
func TestReplaySenderHistogramsAndExemplars(t *testing.T) {
	for _, proto := range []string{"prometheus.WriteRequest", "io.prometheus.write.v2.Request"} {
		t.Run(proto, func(t *testing.T) {
			r := rwtest.Start(t)
			args := testArgs(r.URL(), func(ep *EndpointOptions) {
				ep.ProtobufMessage = proto
				ep.SendNativeHistograms = true
			})
			h := &histogram.Histogram{Count: 3, Sum: 4.5, Schema: 0, ZeroThreshold: 0.001,
				PositiveSpans: []histogram.Span{{Offset: 0, Length: 2}}, PositiveBuckets: []int64{1, 1}}
			const series, ticks = 10, 3
			opts := leaveInWAL(t, r, args, ticks, func(app storage.Appender, i int) {
				ts := time.Now().UnixMilli() + int64(i)
				for s := 0; s < series; s++ {
					li := labels.FromStrings("__name__", "int_hist", "series", strconv.Itoa(s))
					lf := labels.FromStrings("__name__", "float_hist", "series", strconv.Itoa(s))
					if _, err := app.AppendHistogram(0, li, ts, h, nil); err != nil {
						t.Fatal(err)
					}
					if _, err := app.AppendHistogram(0, lf, ts, nil, h.ToFloat(nil)); err != nil {
						t.Fatal(err)
					}
					lx := labels.FromStrings("__name__", "with_exemplar", "series", strconv.Itoa(s))
					ref, err := app.Append(0, lx, ts, float64(i))
					if err != nil {
						t.Fatal(err)
					}
					ex := exemplar.Exemplar{Labels: labels.FromStrings("trace_id", "t"+strconv.Itoa(i)), Value: float64(i), Ts: ts, HasTs: true}
					if _, err := app.AppendExemplar(ref, lx, ex); err != nil {
						t.Fatal(err)
					}
				}
			})
			c2, err := New(opts, args)
			if err != nil {
				t.Fatal(err)
			}
			promtest.Run(t, c2)
			got := func() int {
				n := 0
				for _, req := range r.Requests() {
					n += req.Histograms
				}
				return n
			}
			testwait.Eventually(t, 30*time.Second, func() bool { return got() == 2*series*ticks }, "%d histograms replayed, want %d", got(), 2*series*ticks)
			exemplars := func() int {
				n := 0
				for _, req := range r.Requests() {
					n += req.Exemplars
				}
				return n
			}
			testwait.Eventually(t, 30*time.Second, func() bool { return exemplars() == series*ticks }, "%d exemplars replayed, want %d", exemplars(), series*ticks)
			if v := r.Stats().SpecViolations; len(v) != 0 {
				t.Fatalf("spec violations: %v", v)
			}
		})
	}
}

// leaveInWAL runs the component with the receiver down, has fill append
// samples for each of ticks commits (5 ms apart), and stops it: they stay
// in the WAL, undelivered. It returns the options (same data directory) for
// the next run, with the receiver up.
func leaveInWAL(t *testing.T, r *rwtest.Receiver, args Arguments, ticks int, fill func(app storage.Appender, tick int)) component.Options {
	t.Helper()
	opts, ex, _ := promtest.Options(t, "prometheus.remote_write.test")
	r.Stop()
	c, err := New(opts, args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	recv := ex.Last().(Exports).Receiver
	for i := 0; i < ticks; i++ {
		if i > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		app := recv.Appender(context.Background())
		fill(app, i)
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	next, _, _ := promtest.Options(t, "prometheus.remote_write.test")
	next.DataPath = opts.DataPath
	return next
}

// With sample_age_limit, the replay leaves out samples older than the limit
// (as the live queue drops them) and sends the rest; the marker passes
// both, so nothing is left undelivered. Both samples are newer than the
// marker: the old one was committed at T, the recent one is stamped T+16s,
// and the replay runs from T+16.5s with a 15 s limit. (The first run lasts
// about 10 s, its flush deadline: a shorter limit would have its live queue
// drop the old sample already.)
func TestReplaySenderSampleAgeLimit(t *testing.T) {
	r := rwtest.Start(t)
	const limit = 15 * time.Second
	args := testArgs(r.URL(), func(ep *EndpointOptions) { ep.QueueOptions.SampleAgeLimit = limit })
	var old, recent int64
	opts := leaveInWAL(t, r, args, 1, func(app storage.Appender, _ int) {
		old = time.Now().UnixMilli() + 1
		recent = old + int64((limit+time.Second)/time.Millisecond)
		for s := 0; s < 20; s++ {
			l := labels.FromStrings("__name__", "aged", "series", strconv.Itoa(s))
			for _, ts := range []int64{old, recent} {
				if _, err := app.Append(0, l, ts, 1); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	time.Sleep(time.Until(time.UnixMilli(recent + 500)))
	c, err := New(opts, args)
	if err != nil {
		t.Fatal(err)
	}
	promtest.Run(t, c)
	testwait.Eventually(t, 30*time.Second, func() bool { return r.Stats().Samples >= 20 }, "the 20 recent samples replayed")
	for s := 0; s < 20; s++ {
		series := labels.FromStrings("__name__", "aged", "series", strconv.Itoa(s)).String()
		if r.Has(series, old) {
			t.Fatalf("%s: a sample older than sample_age_limit was sent", series)
		}
		if !r.Has(series, recent) {
			t.Fatalf("%s: the recent sample is missing", series)
		}
	}
	testwait.Eventually(t, 30*time.Second, func() bool {
		ei := c.DebugInfo().(debugInfo).Endpoints
		return len(ei) == 1 && ei[0].Undelivered == 0 && !ei[0].Replaying
	}, "nothing left undelivered after the replay: %+v", c.DebugInfo())
}
