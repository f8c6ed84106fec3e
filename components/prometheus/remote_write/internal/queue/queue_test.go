package queue

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/prometheus/prometheus/tsdb/wlog"
	"github.com/prometheus/prometheus/util/compression"

	"github.com/flow-telemetry/flow/internal/testwait"
)

// got is what the receiver decoded from one request.
type got struct {
	series   []gotSeries
	metadata []prompb.MetricMetadata
	symbols  int
}

type gotSeries struct {
	labels     string
	samples    []prompb.Sample
	histograms int
	exemplars  []string // labels=value@t
	meta       string   // 2.0: type/help/unit
}

// receiver is a real HTTP server decoding Remote-Write 1.0 or 2.0.
type receiver struct {
	t   *testing.T
	srv *httptest.Server
	v2  bool
	// answer decides the status of request n (0-based) and its headers.
	answer func(n int) (int, http.Header)

	mu   sync.Mutex
	reqs []got
	n    int
	at   []time.Time
}

func newReceiver(t *testing.T, v2 bool) *receiver {
	r := &receiver{t: t, v2: v2}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	n := r.n
	r.n++
	r.at = append(r.at, time.Now())
	r.mu.Unlock()
	if r.answer != nil {
		if code, h := r.answer(n); code != http.StatusNoContent {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.WriteHeader(code)
			return
		}
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		r.t.Errorf("request %d: snappy: %v", n, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var g got
	if r.v2 {
		var wr writev2.Request
		if err := wr.Unmarshal(raw); err != nil {
			r.t.Errorf("request %d: decoding 2.0: %v", n, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		g.symbols = len(wr.Symbols)
		if len(wr.Symbols) == 0 || wr.Symbols[0] != "" {
			r.t.Errorf("request %d: symbols must start with the empty string: %q", n, wr.Symbols)
		}
		for _, ts := range wr.Timeseries {
			var b labels.ScratchBuilder
			lbls, err := ts.ToLabels(&b, wr.Symbols)
			if err != nil {
				r.t.Errorf("request %d: labels: %v", n, err)
			}
			s := gotSeries{labels: lbls.String(), histograms: len(ts.Histograms)}
			for _, x := range ts.Samples {
				s.samples = append(s.samples, prompb.Sample{Value: x.Value, Timestamp: x.Timestamp})
			}
			for _, e := range ts.Exemplars {
				ex, err := e.ToExemplar(&b, wr.Symbols)
				if err != nil {
					r.t.Errorf("request %d: exemplar: %v", n, err)
				}
				s.exemplars = append(s.exemplars, fmt.Sprintf("%s=%g@%d", ex.Labels, ex.Value, ex.Ts))
			}
			md, err := ts.ToMetadata(wr.Symbols)
			if err != nil {
				r.t.Errorf("request %d: metadata: %v", n, err)
			}
			s.meta = fmt.Sprintf("%s/%s/%s", md.Type, md.Help, md.Unit)
			g.series = append(g.series, s)
		}
	} else {
		var wr prompb.WriteRequest
		if err := wr.Unmarshal(raw); err != nil {
			r.t.Errorf("request %d: decoding 1.0: %v", n, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		g.metadata = wr.Metadata
		for _, ts := range wr.Timeseries {
			var b labels.ScratchBuilder
			s := gotSeries{labels: ts.ToLabels(&b, nil).String(), samples: ts.Samples, histograms: len(ts.Histograms)}
			for _, e := range ts.Exemplars {
				var eb labels.ScratchBuilder
				s.exemplars = append(s.exemplars, fmt.Sprintf("%s=%g@%d", e.ToExemplar(&eb, nil).Labels, e.Value, e.Timestamp))
			}
			g.series = append(g.series, s)
		}
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, g)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) received() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]got(nil), r.reqs...)
}

// samples returns every sample received, by series.
func (r *receiver) samples() map[string][]prompb.Sample {
	out := map[string][]prompb.Sample{}
	for _, g := range r.received() {
		for _, s := range g.series {
			out[s.labels] = append(out[s.labels], s.samples...)
		}
	}
	return out
}

func (r *receiver) count() int {
	n := 0
	for _, ss := range r.samples() {
		n += len(ss)
	}
	return n
}

// httpSender posts requests as Prometheus' client does.
type httpSender struct {
	url string
	v2  bool
}

type statusError struct {
	code  int
	after time.Duration
}

func (e *statusError) Error() string { return "status " + strconv.Itoa(e.code) }

func (s *httpSender) Send(ctx context.Context, req []byte, _ int) error {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(req))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Encoding", "snappy")
	if s.v2 {
		r.Header.Set("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request")
	} else {
		r.Header.Set("Content-Type", "application/x-protobuf")
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 == 2 {
		return nil
	}
	se := &statusError{code: resp.StatusCode}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		se.after = time.Duration(ra) * time.Second
	}
	return se
}

func classify(err error) (bool, time.Duration) {
	se, ok := err.(*statusError)
	if !ok {
		return true, 0
	}
	return se.code/100 == 5 || se.code == http.StatusTooManyRequests, se.after
}

// wal writes a real WAL.
type wal struct {
	t   *testing.T
	dir string
	w   *wlog.WL
	enc record.Encoder
}

func newWAL(t *testing.T) *wal {
	dir := filepath.Join(t.TempDir(), "wal")
	w, err := wlog.NewSize(nil, nil, dir, 128<<10, compression.None)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return &wal{t: t, dir: dir, w: w}
}

func (w *wal) log(rec []byte) {
	w.t.Helper()
	if err := w.w.Log(rec); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wal) series(n int, extra ...string) {
	var ss []record.RefSeries
	for i := 1; i <= n; i++ {
		ss = append(ss, record.RefSeries{Ref: chunks.HeadSeriesRef(i), Labels: labels.FromStrings(append([]string{"__name__", "m", "i", strconv.Itoa(i)}, extra...)...)})
	}
	w.log(w.enc.Series(ss, nil))
}

func (w *wal) samples(n int, ts int64) {
	var ss []record.RefSample
	for i := 1; i <= n; i++ {
		ss = append(ss, record.RefSample{Ref: chunks.HeadSeriesRef(i), T: ts, V: float64(ts) + float64(i)})
	}
	w.log(w.enc.Samples(ss, nil))
}

func (w *wal) nextSegment() {
	if _, err := w.w.NextSegmentSync(); err != nil {
		w.t.Fatal(err)
	}
}

type doneCounter struct {
	mu sync.Mutex
	n  map[int64]int64
}

func (d *doneCounter) add(c map[int64]int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == nil {
		d.n = map[int64]int64{}
	}
	for t, k := range c {
		d.n[t] += k
	}
}

func (d *doneCounter) total() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var n int64
	for _, k := range d.n {
		n += k
	}
	return n
}

type harness struct {
	q    *Queue
	tl   *Tailer
	reg  *prometheus.Registry
	done *doneCounter
	stop func()
	// flush is how long stop gives the queue to send what it holds.
	flush time.Duration
}

func start(t *testing.T, w *wal, rcv *receiver, cfg Config, from int) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{reg: reg, done: &doneCounter{}, flush: 5 * time.Second}
	cfg.Name, cfg.URL, cfg.V2 = "test", rcv.srv.URL, rcv.v2
	cfg.Classify = classify
	cfg.OnDone = h.done.add
	h.q = New(cfg, &httpSender{url: rcv.srv.URL, v2: rcv.v2}, m)
	h.tl = NewTailer(TailOptions{Dir: w.dir, From: from, After: math.MinInt64, Poll: 20 * time.Millisecond}, h.q)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		if err := h.tl.Run(ctx); err != nil {
			t.Errorf("tailer: %v", err)
		}
	}()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			<-ran
			sctx, c := context.WithTimeout(context.Background(), h.flush)
			defer c()
			h.q.Stop(sctx)
			m.Unregister()
		})
	}
	t.Cleanup(h.stop)
	return h
}

func defaultConfig() Config {
	return Config{Capacity: 10000, MaxSamplesPerSend: 100, MinShards: 1, MaxShards: 1,
		BatchSendDeadline: 50 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		SendExemplars: true, SendHistograms: true}
}

func TestRW1SendsEverySampleInBatchesWithLabelsMappedOnce(t *testing.T) {
	w := newWAL(t)
	rcv := newReceiver(t, false)
	cfg := defaultConfig()
	calls := 0
	cfg.Labels = func(l labels.Labels) (labels.Labels, bool) {
		calls++
		if l.Get("i") == "3" {
			return labels.EmptyLabels(), false // write relabelling drops series 3
		}
		b := labels.NewBuilder(l)
		b.Set("cluster", "c1")
		return b.Labels(), true
	}
	w.series(10)
	h := start(t, w, rcv, cfg, 0)
	for ts := int64(1000); ts < 1030; ts++ {
		w.samples(10, ts)
		h.tl.Notify()
	}
	// 30 scrapes × 9 kept series.
	testwait.Eventually(t, 20*time.Second, func() bool { return rcv.count() == 270 }, "received %d of 270 samples", rcv.count())
	got := rcv.samples()
	if _, ok := got[`{__name__="m", cluster="c1", i="3"}`]; ok {
		t.Error("series 3, dropped by relabelling, was sent")
	}
	ss := got[`{__name__="m", cluster="c1", i="7"}`]
	if len(ss) != 30 {
		t.Fatalf("series 7: %d samples, want 30: %v", len(ss), got)
	}
	for i, s := range ss {
		if s.Timestamp != 1000+int64(i) || s.Value != float64(1000+i)+7 {
			t.Fatalf("series 7 sample %d = %v, want t=%d in order", i, s, 1000+i)
		}
	}
	for i, g := range rcv.received() {
		n := 0
		for _, s := range g.series {
			n += len(s.samples)
		}
		if n > cfg.MaxSamplesPerSend {
			t.Errorf("request %d has %d samples, more than max_samples_per_send %d", i, n, cfg.MaxSamplesPerSend)
		}
	}
	if calls != 10 {
		t.Errorf("labels mapped %d times, want once per series (10)", calls)
	}
	// Every sample is final, the dropped ones included.
	testwait.Eventually(t, 10*time.Second, func() bool { return h.done.total() == 300 }, "OnDone counted %d of 300", h.done.total())
	if v := testutil.ToFloat64(h.q.m.samples); v != 270 {
		t.Errorf("prometheus_remote_storage_samples_total = %v, want 270", v)
	}
	if h.q.HighestSent() != 1029 {
		t.Errorf("HighestSent = %d, want 1029", h.q.HighestSent())
	}
}

func TestRW2CarriesMetadataHistogramsAndExemplarsWithPerRequestSymbols(t *testing.T) {
	w := newWAL(t)
	rcv := newReceiver(t, true)
	cfg := defaultConfig()
	w.series(3)
	w.log(w.enc.Metadata([]record.RefMetadata{
		{Ref: 1, Type: record.GetMetricType(model.MetricTypeCounter), Help: "Requests served.", Unit: "requests"},
		{Ref: 2, Type: record.GetMetricType(model.MetricTypeGauge), Help: "Temperature."},
	}, nil))
	h := start(t, w, rcv, cfg, 0)
	w.samples(3, 5000)
	w.log(w.enc.Exemplars([]record.RefExemplar{{Ref: 1, T: 5000, V: 1.5, Labels: labels.FromStrings("trace_id", "abc")}}, nil))
	hist := &histogram.Histogram{Count: 3, Sum: 4.5, Schema: 0, PositiveSpans: []histogram.Span{{Offset: 0, Length: 2}}, PositiveBuckets: []int64{1, 1}}
	rec, _ := w.enc.HistogramSamples([]record.RefHistogramSample{{Ref: 3, T: 5000, H: hist}}, nil)
	w.log(rec)
	h.tl.Notify()
	testwait.Eventually(t, 20*time.Second, func() bool {
		n, hs, ex := 0, 0, 0
		for _, g := range rcv.received() {
			for _, s := range g.series {
				n, hs, ex = n+len(s.samples), hs+s.histograms, ex+len(s.exemplars)
			}
		}
		return n == 3 && hs == 1 && ex == 1
	}, "received %+v", rcv.received())
	byLabels := map[string]gotSeries{}
	for _, g := range rcv.received() {
		for _, s := range g.series {
			prev := byLabels[s.labels]
			prev.labels, prev.meta = s.labels, s.meta
			prev.samples = append(prev.samples, s.samples...)
			prev.exemplars = append(prev.exemplars, s.exemplars...)
			prev.histograms += s.histograms
			byLabels[s.labels] = prev
		}
	}
	s1 := byLabels[`{__name__="m", i="1"}`]
	if s1.meta != "counter/Requests served./requests" {
		t.Errorf("series 1 metadata %q", s1.meta)
	}
	if len(s1.exemplars) != 1 || s1.exemplars[0] != `{trace_id="abc"}=1.5@5000` {
		t.Errorf("series 1 exemplars %q", s1.exemplars)
	}
	if s2 := byLabels[`{__name__="m", i="2"}`]; s2.meta != "gauge/Temperature./" {
		t.Errorf("series 2 metadata %q", s2.meta)
	}
	if s3 := byLabels[`{__name__="m", i="3"}`]; s3.histograms != 1 || len(s3.samples) != 1 {
		t.Errorf("series 3: %+v, want one sample and one histogram", s3)
	}
	// Symbols are per request: none repeated, each used.
	for _, g := range rcv.received() {
		if g.symbols > 1+2*2*len(g.series)+4+2 {
			t.Errorf("request with %d series carries %d symbols", len(g.series), g.symbols)
		}
	}
	// Samples and histograms are counted as final, exemplars are not.
	testwait.Eventually(t, 10*time.Second, func() bool { return h.done.total() == 4 }, "OnDone counted %d of 4", h.done.total())
}

func TestRetriesHonourRetryAfterCappedAtMaxBackoffAndDrop4xx(t *testing.T) {
	w := newWAL(t)
	rcv := newReceiver(t, false)
	rcv.answer = func(n int) (int, http.Header) {
		switch n {
		case 0:
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"1"}}
		case 1:
			// Asks for an hour: capped at max_backoff.
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"3600"}}
		case 3:
			return http.StatusBadRequest, nil
		}
		return http.StatusNoContent, nil
	}
	cfg := defaultConfig()
	cfg.MaxBackoff = 2 * time.Second
	w.series(2)
	h := start(t, w, rcv, cfg, 0)
	w.samples(2, 100)
	h.tl.Notify()
	testwait.Eventually(t, 30*time.Second, func() bool { return rcv.count() == 2 }, "first batch not delivered after retries")
	rcv.mu.Lock()
	first, second, third := rcv.at[0], rcv.at[1], rcv.at[2]
	rcv.mu.Unlock()
	if d := second.Sub(first); d < 900*time.Millisecond {
		t.Errorf("retried after %v, before Retry-After: 1", d)
	}
	if d := third.Sub(second); d < 1900*time.Millisecond || d > 10*time.Second {
		t.Errorf("retried after %v; want Retry-After 3600 capped at max_backoff (2s)", d)
	}
	if v := testutil.ToFloat64(h.q.m.samplesRetried); v != 4 {
		t.Errorf("samples_retried_total = %v, want 4 (2 samples × 2 retries)", v)
	}
	// Request 3 is refused with 400: dropped, counted, final.
	w.samples(2, 200)
	h.tl.Notify()
	testwait.Eventually(t, 20*time.Second, func() bool { return testutil.ToFloat64(h.q.m.samplesFailed) == 2 }, "400 not counted as failed")
	testwait.Eventually(t, 10*time.Second, func() bool { return h.done.total() == 4 }, "dropped samples not final: %d", h.done.total())
	w.samples(2, 300)
	h.tl.Notify()
	testwait.Eventually(t, 20*time.Second, func() bool { return rcv.count() == 4 }, "sending did not go on after a drop")
	if got := rcv.samples()[`{__name__="m", i="1"}`]; got[1].Timestamp != 300 {
		t.Errorf("series 1 got %v; the refused sample at 200 must not be resent", got)
	}
}

// A failing endpoint does not hold up Stop (a SIGTERM, a reload) for the
// whole flush deadline: once the queue is stopping, a failed attempt is not
// retried and a backoff in progress ends; the batch stays undelivered (the
// WAL keeps it for the next start).
func TestStopDoesNotRetryAFailingEndpoint(t *testing.T) {
	w := newWAL(t)
	rcv := newReceiver(t, false)
	rcv.answer = func(int) (int, http.Header) { return http.StatusServiceUnavailable, nil }
	cfg := defaultConfig()
	cfg.MinBackoff, cfg.MaxBackoff = 20*time.Second, 20*time.Second
	w.series(2)
	h := start(t, w, rcv, cfg, 0)
	w.samples(2, 100)
	h.tl.Notify()
	testwait.Eventually(t, 30*time.Second, func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return rcv.n == 1
	}, "no first attempt")
	h.flush = time.Minute
	start := time.Now()
	h.stop()
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Stop took %v against a failing endpoint; want it to give up at once, not back off and retry until the flush deadline", d)
	}
	rcv.mu.Lock()
	attempts := rcv.n
	rcv.mu.Unlock()
	if attempts != 1 {
		t.Errorf("%d attempts; want 1 (no retry while stopping)", attempts)
	}
	if n := h.done.total(); n != 0 {
		t.Errorf("%d samples reported final; the undelivered batch must stay in the WAL", n)
	}
}

// A clean stop sends what was committed before it, even when the last
// commit's notification was not seen (the stop and the commit race): the
// tailer reads the segment once more before it returns, and the queue then
// flushes it.
func TestStopSendsWhatWasCommittedBeforeIt(t *testing.T) {
	w := newWAL(t)
	rcv := newReceiver(t, false)
	w.series(2)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Name, cfg.URL, cfg.Classify = "test", rcv.srv.URL, classify
	q := New(cfg, &httpSender{url: rcv.srv.URL}, m)
	// An hour between polls: only a notification or the stop makes the
	// tailer read.
	tl := NewTailer(TailOptions{Dir: w.dir, From: 0, After: math.MinInt64, Poll: time.Hour}, q)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- tl.Run(ctx) }()
	w.samples(2, 100)
	tl.Notify()
	testwait.Eventually(t, 30*time.Second, func() bool { return rcv.count() == 2 }, "the notified commit was not sent")
	w.samples(2, 200) // committed, never notified
	cancel()
	if err := testwait.Receive(t, 30*time.Second, ran, "the tailer to stop"); err != nil {
		t.Fatalf("tailer: %v", err)
	}
	sctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	q.Stop(sctx)
	m.Unregister()
	if n := rcv.count(); n != 4 {
		t.Fatalf("%d samples sent; want 4: the commit before the stop must be sent by the stop", n)
	}
}

func TestBatchSendDeadlineSendsPartialBatches(t *testing.T) {
	w := newWAL(t)
	rcv := newReceiver(t, false)
	cfg := defaultConfig()
	cfg.MaxSamplesPerSend = 1000
	cfg.BatchSendDeadline = 200 * time.Millisecond
	w.series(5)
	h := start(t, w, rcv, cfg, 0)
	w.samples(5, 1)
	h.tl.Notify()
	took := testwait.Eventually(t, 10*time.Second, func() bool { return rcv.count() == 5 }, "5 samples not sent by the deadline")
	if took < 150*time.Millisecond {
		t.Errorf("a batch of 5 (max 1000) left after %v, before batch_send_deadline", took)
	}
	if n := len(rcv.received()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestReshardsUpWhenSendingIsSlowAndKeepsSeriesOrder(t *testing.T) {
	w := newWAL(t)
	rcv := newReceiver(t, false)
	rcv.answer = func(int) (int, http.Header) {
		time.Sleep(20 * time.Millisecond) // a slow receiver
		return http.StatusNoContent, nil
	}
	cfg := defaultConfig()
	cfg.MaxSamplesPerSend = 10
	cfg.MaxShards = 8
	cfg.ReshardInterval = 300 * time.Millisecond
	w.series(50)
	h := start(t, w, rcv, cfg, 0)
	var peak atomic.Int64
	watching := make(chan struct{})
	defer close(watching)
	go func() {
		for {
			select {
			case <-watching:
				return
			case <-time.After(5 * time.Millisecond):
				if n := int64(h.q.Shards()); n > peak.Load() {
					peak.Store(n)
				}
			}
		}
	}()
	for ts := int64(1); ts <= 60; ts++ {
		w.samples(50, ts)
		h.tl.Notify()
		time.Sleep(5 * time.Millisecond)
	}
	testwait.Eventually(t, 60*time.Second, func() bool { return rcv.count() == 3000 }, "received %d of 3000", rcv.count())
	if peak.Load() <= 1 {
		t.Errorf("never more than %d shard with a backlog and 20 ms per request of 10 samples", peak.Load())
	}
	for l, ss := range rcv.samples() {
		for i := 1; i < len(ss); i++ {
			if ss[i].Timestamp <= ss[i-1].Timestamp {
				t.Fatalf("series %s out of order at %d: %v", l, i, ss)
			}
		}
	}
}

func TestTailerSendsSamplesFromSegmentFromOnly(t *testing.T) {
	w := newWAL(t)
	rcv := newReceiver(t, false)
	w.series(2)
	w.samples(2, 10) // the replay's: before From
	w.nextSegment()
	w.samples(2, 20)
	_, from, _ := wlog.Segments(w.dir)
	h := start(t, w, rcv, defaultConfig(), from)
	w.samples(2, 30)
	h.tl.Notify()
	testwait.Eventually(t, 10*time.Second, func() bool { return rcv.count() == 4 }, "received %d of 4", rcv.count())
	for l, ss := range rcv.samples() {
		if len(ss) != 2 || ss[0].Timestamp != 20 || ss[1].Timestamp != 30 {
			t.Errorf("%s: %v, want t=20 and t=30 only", l, ss)
		}
	}
	if v := testutil.ToFloat64(h.q.m.m.currentSegment.WithLabelValues("test")); v != float64(from) {
		t.Errorf("prometheus_wal_watcher_current_segment = %v, want %d", v, from)
	}
	if v := testutil.ToFloat64(h.q.m.m.highestIn); v != 0.03 {
		t.Errorf("prometheus_remote_storage_highest_timestamp_in_seconds = %v, want 0.03", v)
	}
}

func TestReconfigureKeepsHeldSamplesAndAppliesNewLabels(t *testing.T) {
	w := newWAL(t)
	rcv := newReceiver(t, false)
	var mu sync.Mutex
	blocked := true
	rcv.answer = func(int) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if blocked {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusNoContent, nil
	}
	cfg := defaultConfig()
	w.series(3)
	h := start(t, w, rcv, cfg, 0)
	w.samples(3, 1)
	h.tl.Notify()
	testwait.Eventually(t, 10*time.Second, func() bool { return testutil.ToFloat64(h.q.m.samplesRetried) > 0 }, "no retry")
	cfg2 := cfg
	cfg2.Name, cfg2.URL, cfg2.Classify, cfg2.OnDone = "test", rcv.srv.URL, classify, h.done.add
	cfg2.Labels = func(l labels.Labels) (labels.Labels, bool) {
		b := labels.NewBuilder(l)
		b.Set("env", "prod")
		return b.Labels(), true
	}
	h.q.Reconfigure(cfg2)
	mu.Lock()
	blocked = false
	mu.Unlock()
	testwait.Eventually(t, 10*time.Second, func() bool { return rcv.count() == 3 }, "held samples lost in reconfiguring")
	for l := range rcv.samples() {
		if !bytes.Contains([]byte(l), []byte(`env="prod"`)) {
			t.Errorf("series %s sent without the new labels", l)
		}
	}
}

func TestSendMetadataRW1InRequestsOfAtMostPerRequest(t *testing.T) {
	rcv := newReceiver(t, false)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Name, cfg.URL, cfg.Classify = "md", rcv.srv.URL, classify
	q := New(cfg, &httpSender{url: rcv.srv.URL}, m)
	defer q.Stop(context.Background())
	var md []scrape.MetricMetadata
	for i := range 5 {
		md = append(md, scrape.MetricMetadata{MetricFamily: fmt.Sprintf("f%d", i), Type: model.MetricTypeCounter, Help: "h", Unit: "u"})
	}
	if err := q.SendMetadata(context.Background(), md, 2); err != nil {
		t.Fatal(err)
	}
	reqs := rcv.received()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (2+2+1)", len(reqs))
	}
	var names []string
	for _, g := range reqs {
		for _, x := range g.metadata {
			names = append(names, x.MetricFamilyName)
			if x.Type != prompb.MetricMetadata_COUNTER || x.Help != "h" || x.Unit != "u" {
				t.Errorf("metadata %+v", x)
			}
		}
	}
	if fmt.Sprint(names) != "[f0 f1 f2 f3 f4]" {
		t.Errorf("families %v", names)
	}
	if v := testutil.ToFloat64(q.m.metadata); v != 5 {
		t.Errorf("metadata_total = %v", v)
	}
}

func TestSeriesResetForgetsSeriesNotInTheCheckpoint(t *testing.T) {
	rcv := newReceiver(t, false)
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Name, cfg.URL, cfg.Classify = "gc", rcv.srv.URL, classify
	var done doneCounter
	cfg.OnDone = done.add
	cfg.Labels = func(l labels.Labels) (labels.Labels, bool) { return l, l.Get("i") != "3" } // 3 is dropped
	q := New(cfg, &httpSender{url: rcv.srv.URL}, m)
	defer q.Stop(context.Background())
	var ss []record.RefSeries
	for i := 1; i <= 3; i++ {
		ss = append(ss, record.RefSeries{Ref: chunks.HeadSeriesRef(i), Labels: labels.FromStrings("__name__", "m", "i", strconv.Itoa(i))})
	}
	q.StoreSeries(ss, 0)
	// A checkpoint of segments up to 4 holds series 1 only.
	q.UpdateSeriesSegment(ss[:1], 4)
	q.SeriesReset(4)
	q.Append([]record.RefSample{{Ref: 1, T: 10, V: 1}, {Ref: 2, T: 10, V: 2}, {Ref: 3, T: 10, V: 3}})
	testwait.Eventually(t, 10*time.Second, func() bool { return done.total() == 3 }, "OnDone counted %d of 3", done.total())
	got := rcv.samples()
	if len(got) != 1 || len(got[`{__name__="m", i="1"}`]) != 1 {
		t.Fatalf("received %v, want series 1 only", got)
	}
	if v := testutil.ToFloat64(q.m.droppedUnknown); v != 2 {
		t.Errorf("samples of series forgotten: unintentionally_dropped_series = %v, want 2 (series 2 and the dropped 3, both gone)", v)
	}
}

// TestSeriesKeepTheSharedLabels: a series keeps (and sends, and relabels
// on reconfiguring) the labels Config.SharedLabels returns, not the copy
// decoded from the WAL; here the shared labels carry a marker to tell
// them apart.
func TestSeriesKeepTheSharedLabels(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v2=%v", v2), func(t *testing.T) {
			w := newWAL(t)
			rcv := newReceiver(t, v2)
			cfg := defaultConfig()
			cfg.SharedLabels = func(ref uint64, l labels.Labels) labels.Labels {
				if ref > 2 {
					return l // not held by the writer
				}
				b := labels.NewBuilder(l)
				b.Set("shared", "yes")
				return b.Labels()
			}
			w.series(3)
			h := start(t, w, rcv, cfg, 0)
			w.samples(3, 1000)
			h.tl.Notify()
			testwait.Eventually(t, 20*time.Second, func() bool { return rcv.count() == 3 }, "received %d of 3 samples", rcv.count())
			cfg2 := cfg
			cfg2.Name, cfg2.URL, cfg2.V2, cfg2.Classify, cfg2.OnDone = "test", rcv.srv.URL, v2, classify, h.done.add
			cfg2.Labels = func(l labels.Labels) (labels.Labels, bool) {
				b := labels.NewBuilder(l)
				b.Set("cluster", "c1")
				return b.Labels(), true
			}
			h.q.Reconfigure(cfg2)
			w.samples(3, 2000)
			h.tl.Notify()
			testwait.Eventually(t, 20*time.Second, func() bool { return rcv.count() == 6 }, "received %d of 6 samples", rcv.count())
			got := rcv.samples()
			for _, want := range []string{
				`{__name__="m", i="1", shared="yes"}`, `{__name__="m", i="2", shared="yes"}`, `{__name__="m", i="3"}`,
				`{__name__="m", cluster="c1", i="1", shared="yes"}`, `{__name__="m", cluster="c1", i="3"}`,
			} {
				if len(got[want]) != 1 {
					t.Errorf("%s: %d samples, want 1; got %v", want, len(got[want]), got)
				}
			}
		})
	}
}
