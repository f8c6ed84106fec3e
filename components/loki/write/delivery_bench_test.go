package write

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/internal/httpfixture"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// decodingLoki is a push receiver that does what Loki's distributor does
// with a body before storing it (snappy, then protobuf), after waiting rtt
// (a network round trip to a remote Loki), and records each entry's
// delivery lag: its arrival minus its timestamp, which is when it was sent.
type decodingLoki struct {
	rtt  time.Duration
	want int64
	got  atomic.Int64
	done chan struct{}

	mu       sync.Mutex
	arrivals []arrival
}

type arrival struct{ sent, at time.Time }

func (l *decodingLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req push.PushRequest
	if err := httpfixture.ReadSnappyProto(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	time.Sleep(l.rtt)
	now := time.Now()
	var n int64
	l.mu.Lock()
	for _, st := range req.Streams {
		for _, e := range st.Entries {
			l.arrivals = append(l.arrivals, arrival{sent: e.Timestamp, at: now})
			n++
		}
	}
	l.mu.Unlock()
	if l.got.Add(n) >= l.want && l.got.Load()-n < l.want {
		close(l.done)
	}
	w.WriteHeader(http.StatusNoContent)
}

// BenchmarkDelivery: 4 senders Send 500 entries at a time (4 streams,
// ~200-byte distinct lines) as fast as loki.write acknowledges them (WAL on,
// group-committed fsyncs), to a receiver that decodes every push after a
// round trip of rtt. It reports acknowledged and delivered records/s and
// the p99 of the delivery lag, with 1 and 4 shards, over the steady state
// (entries sent up to batch_wait before the last one; see below).
//
//	go test -run '^$' -bench BenchmarkDelivery -benchtime 1000000x -count 5 ./components/loki/write/
func BenchmarkDelivery(b *testing.B) {
	for _, rtt := range []time.Duration{0, 50 * time.Millisecond} {
		for _, shards := range []int{1, 4} {
			b.Run(fmt.Sprintf("rtt=%s/shards=%d", rtt, shards), func(b *testing.B) {
				benchDelivery(b, rtt, shards)
			})
		}
	}
}

func benchDelivery(b *testing.B, rtt time.Duration, shards int) {
	const perSend, senders, streams = 500, 4, 4
	total := int64(max(b.N, perSend*senders))
	lk := &decodingLoki{rtt: rtt, want: total, done: make(chan struct{})}
	srv := httptest.NewServer(lk)
	defer srv.Close()

	var ea EndpointArgs
	ea.SetToDefault()
	ea.URL = value.NewURL(srv.URL + "/loki/api/v1/push")
	ea.QueueConfig.MinShards = shards
	args := defaultArgs(ea)
	c, err := New(component.Options{ID: "loki.write.bench", Registerer: prometheus.NewRegistry(), DataPath: b.TempDir(),
		OnStateChange: func(component.Exports) {}}, args)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = c.Run(ctx) }()
	defer func() { cancel(); <-ran }()

	pad := make([]byte, 180)
	for i := range pad {
		pad[i] = 'a' + byte(i%26)
	}
	labels := make([]model.LabelSet, streams)
	for i := range labels {
		labels[i] = model.LabelSet{"job": "bench", "stream": model.LabelValue(strconv.Itoa(i))}
	}
	var next atomic.Int64
	b.ResetTimer()
	began := time.Now()
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			entries := make([]loki.Entry, perSend)
			for {
				first := next.Add(perSend) - perSend
				if first >= total {
					return
				}
				n := min(int64(perSend), total-first)
				now := time.Now()
				for i := range entries[:n] {
					seq := first + int64(i)
					line := strconv.AppendInt(make([]byte, 0, 200), seq, 10)
					line = append(line, ' ')
					line = append(line, pad[seq%26:]...)
					entries[i] = loki.Entry{Labels: labels[seq%streams], Entry: push.Entry{Timestamp: now.Add(time.Duration(i)), Line: string(line)}}
				}
				if err := c.recv.Send(context.Background(), entries[:n]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	acked := time.Since(began)
	select {
	case <-lk.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d entries delivered", lk.got.Load(), total)
	}
	b.StopTimer()
	// The steady state: entries sent up to batch_wait before the last Send.
	// Later ones wait in batches that only batch_wait seals, since no more
	// entries come to fill them, which says nothing about keeping up.
	lk.mu.Lock()
	arrivals := slices.Clone(lk.arrivals)
	lk.mu.Unlock()
	var last time.Time
	for _, a := range arrivals {
		if a.sent.After(last) {
			last = a.sent
		}
	}
	cutoff := last.Add(-ea.BatchWait)
	var lags []time.Duration
	var lastAt time.Time
	for _, a := range arrivals {
		if a.sent.After(cutoff) {
			continue
		}
		lags = append(lags, a.at.Sub(a.sent))
		if a.at.After(lastAt) {
			lastAt = a.at
		}
	}
	if len(lags) < len(arrivals)/2 {
		if b.N == 1 {
			return // the framework's probe run
		}
		b.Fatalf("only %d of %d entries in the steady state: raise -benchtime", len(lags), len(arrivals))
	}
	slices.Sort(lags)
	b.ReportMetric(float64(len(lags))/lastAt.Sub(began).Seconds(), "records/s")
	b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "lag-p50-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Milliseconds()), "lag-p99-ms")
	b.ReportMetric(float64(total)/acked.Seconds(), "acked-records/s")
	b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "lag-p50-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Milliseconds()), "lag-p99-ms")
	b.ReportMetric(0, "ns/op")
}
