package awsfirehose

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/common/relabel"
	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/benchmeter"
	"github.com/flow-telemetry/flow/runtime/component"
)

// countingReceiver accepts every entry and counts them.
type countingReceiver struct{ n atomic.Int64 }

func (c *countingReceiver) Send(_ context.Context, es []loki.Entry) error {
	c.n.Add(int64(len(es)))
	return nil
}

// lambdaLines returns n CloudWatch Logs events shaped like a Lambda
// function's logs: START/END/REPORT lines around JSON application lines.
func lambdaLines(r *rand.Rand, n int, t0 time.Time) []fh.LogEvent {
	out := make([]fh.LogEvent, n)
	for i := range out {
		var msg string
		switch i % 10 {
		case 0:
			msg = fmt.Sprintf("START RequestId: %08x-%04x-%04x Version: $LATEST", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff)
		case 9:
			msg = fmt.Sprintf("REPORT RequestId: %08x Duration: %d.%02d ms Billed Duration: %d ms Memory Size: 512 MB Max Memory Used: %d MB",
				r.Uint32(), r.IntN(900), r.IntN(100), r.IntN(1000), 60+r.IntN(200))
		default:
			msg = fmt.Sprintf(`{"level":"info","ts":"%s","msg":"handled request","path":"/api/v1/orders/%d","status":%d,"duration_ms":%d,"user":"u-%06d"}`,
				t0.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), r.IntN(1e6), []int{200, 200, 200, 404, 500}[r.IntN(5)], r.IntN(300), r.IntN(1e6))
		}
		out[i] = fh.LogEvent{ID: fmt.Sprintf("%056d", r.Uint64()), Timestamp: t0.Add(time.Duration(i) * time.Millisecond).UnixMilli(), Message: msg}
	}
	return out
}

// cloudWatchBody is a Firehose request of records CloudWatch Logs
// subscriptions produce: each record a gzipped payload of perRecord events.
func cloudWatchBody(records, perRecord int) ([]byte, int) {
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	recs := make([][]byte, records)
	for i := range recs {
		recs[i] = fh.CloudWatchPayload{
			MessageType: "DATA_MESSAGE", Owner: "123456789012",
			LogGroup: fmt.Sprintf("/aws/lambda/service-%d", i%7), LogStream: "2024/05/01/[$LATEST]0123456789abcdef",
			SubscriptionFilters: []string{"to-firehose"}, LogEvents: lambdaLines(r, perRecord, t0),
		}.Record()
	}
	return fh.Body("bench", t0, recs), records * perRecord
}

// directPutBody is a Firehose request of n direct-PUT lines of size bytes.
func directPutBody(n, size int) []byte {
	recs := make([][]byte, n)
	for i := range recs {
		line := fmt.Sprintf("%06d %s\n", i, strings.Repeat("x", size))
		recs[i] = []byte(line[:size])
	}
	return fh.Body("bench", time.Now(), recs)
}

// benchmarkRequests posts body to a real component over loopback HTTP from
// 4 concurrent clients and reports entries per second.
func benchmarkRequests(b *testing.B, body []byte, entriesPerRequest int) {
	recv := &countingReceiver{}
	var a Arguments
	a.SetToDefault()
	a.HTTP.ListenAddress, a.HTTP.ListenPort = "127.0.0.1", 0
	a.Labels = map[string]string{"job": "bench"}
	a.ForwardTo = []loki.LogsReceiver{recv}
	c, err := New(component.Options{ID: "bench"}, a)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	url := "http://" + c.Addr() + PushPath
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}

	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism(2) // 2 × GOMAXPROCS senders
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(hdrRequestID, "bench")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	if got, want := recv.n.Load(), int64(b.N*entriesPerRequest); got != want {
		b.Fatalf("%d entries forwarded, want %d", got, want)
	}
	b.ReportMetric(float64(recv.n.Load())/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkCloudWatchRequests: legitimate Firehose requests carrying
// CloudWatch Logs subscription records (100 records of 50 Lambda-like
// events each, ~0.4 MB per request).
//
//	go test -run '^$' -bench 'Requests$' -benchtime 200x ./components/loki/source/aws_firehose/
func BenchmarkCloudWatchRequests(b *testing.B) {
	body, n := cloudWatchBody(100, 50)
	benchmarkRequests(b, body, n)
}

// BenchmarkDirectPutRequests: 500 direct-PUT records of 200 bytes.
func BenchmarkDirectPutRequests(b *testing.B) {
	benchmarkRequests(b, directPutBody(500, 200), 500)
}

// BenchmarkLargeDirectPutRequests: a 4 MiB request (20,000 records of 200
// bytes), near the size Firehose sends with its default 5 MiB buffer.
func BenchmarkLargeDirectPutRequests(b *testing.B) {
	benchmarkRequests(b, directPutBody(20000, 200), 20000)
}

// benchmarkHandler runs requests through the component's handler in
// process (no HTTP stack): the cost per entry of decoding, labeling and
// relabeling that the end-to-end benchmark (bench/logs) includes.
func benchmarkHandler(b *testing.B, a Arguments, bodies [][]byte, entriesPerRequest int, headers map[string]string) {
	recv := &countingReceiver{}
	a.HTTP.ListenAddress, a.HTTP.ListenPort = "127.0.0.1", 0
	a.ForwardTo = []loki.LogsReceiver{recv}
	c, err := New(component.Options{ID: "bench"}, a)
	if err != nil {
		b.Fatal(err)
	}
	defer c.lis.Close()
	b.ReportAllocs()
	cpu0 := benchmeter.CPUTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest(http.MethodPost, "http://bench"+PushPath, bytes.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(hdrRequestID, "0f9d1a52-6ab1-4a8f-9c84-1f9b0c1ddc10")
		req.Header.Set(hdrSourceARN, "arn:aws:firehose:eu-west-1:123456789012:deliverystream/bench")
		req.Header.Set(hdrCommonAttributes, fmt.Sprintf(`{"commonAttributes":{"lbl_service":"svc-%d","lbl_env":"prod","lbl_region":"eu-west-1"}}`, i%4))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		w := &discardWriter{h: http.Header{}}
		c.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	b.StopTimer()
	if got, want := recv.n.Load(), int64(b.N*entriesPerRequest); got != want {
		b.Fatalf("%d entries forwarded, want %d", got, want)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(recv.n.Load()), "ns/entry")
	// CPU time (garbage collection included) is what a loaded machine
	// does not distort as much as wall time.
	b.ReportMetric(float64((benchmeter.CPUTime()-cpu0).Nanoseconds())/float64(recv.n.Load()), "cpu-ns/entry")
}

type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}
func (w *discardWriter) WriteHeader(s int) { w.status = s }

// mixedLines returns n distinct lines of about 200 bytes, half logfmt and
// half JSON, as bench/logs' realistic shape sends.
func mixedLines(r *rand.Rand, n int, t0 time.Time) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		ts := t0.Add(time.Duration(i) * time.Microsecond).Format(time.RFC3339Nano)
		if i%2 == 0 {
			out[i] = fmt.Appendf(nil, `ts=%s level=info msg="request served" method=GET path=/api/v1/items/%d status=200 duration_ms=%d.%03d trace_id=%016x seq=%d`+"\n",
				ts, r.IntN(1e6), r.IntN(100), r.IntN(1000), r.Uint64(), i)
		} else {
			out[i] = fmt.Appendf(nil, `{"ts":"%s","level":"info","msg":"request served","method":"POST","path":"/api/v1/orders/%d","status":201,"duration_ms":%d,"trace_id":"%016x","seq":%d}`+"\n",
				ts, r.IntN(1e6), r.IntN(100000), r.Uint64(), i)
		}
	}
	return out
}

// BenchmarkHandleDirectPut: 500 distinct mixed lines per request, the
// access key checked, labels from the common attributes (4 streams).
//
//	go test -run '^$' -bench 'Handle' -benchmem ./components/loki/source/aws_firehose/
func BenchmarkHandleDirectPut(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	var bodies [][]byte
	for i := 0; i < 8; i++ {
		bodies = append(bodies, fh.Body("bench", time.Now(), mixedLines(r, 500, time.Now())))
	}
	var a Arguments
	a.SetToDefault()
	a.AccessKey = "bench-access-key"
	benchmarkHandler(b, a, bodies, 500, map[string]string{hdrAccessKey: "bench-access-key"})
}

// BenchmarkHandleCloudWatch: 50 gzipped CloudWatch Logs payloads of 10
// events per request, relabeled (log group to a label, control messages
// dropped).
func BenchmarkHandleCloudWatch(b *testing.B) {
	var bodies [][]byte
	for i := 0; i < 8; i++ {
		body, _ := cloudWatchBody(50, 10)
		bodies = append(bodies, body)
	}
	var a Arguments
	a.SetToDefault()
	a.RelabelRules = benchRules(b)
	benchmarkHandler(b, a, bodies, 500, nil)
}

// benchRules are the usual rules of a CloudWatch Logs stream: the log
// group becomes a label, control messages are dropped.
func benchRules(b *testing.B) relabel.Rules {
	var keep, drop relabel.Rule
	keep.SetToDefault()
	keep.SourceLabels, keep.TargetLabel = []string{"__aws_cw_log_group"}, "log_group"
	drop.SetToDefault()
	drop.SourceLabels, drop.Regex, drop.Action = []string{"__aws_cw_msg_type"}, "CONTROL_MESSAGE", "drop"
	rules, err := relabel.Compile([]relabel.Rule{keep, drop})
	if err != nil {
		b.Fatal(err)
	}
	return rules
}

// BenchmarkHandleCloudWatchStreams: as a subscription of one log group
// delivers them, 50 gzipped payloads of 10 events per request, each from
// another log stream, relabeled (log group to a label, control messages
// dropped).
//
//	go test -run '^$' -bench 'Handle' -benchmem -count 6 ./components/loki/source/aws_firehose/
func BenchmarkHandleCloudWatchStreams(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var bodies [][]byte
	for i := 0; i < 8; i++ {
		recs := make([][]byte, 50)
		for j := range recs {
			recs[j] = fh.CloudWatchPayload{
				MessageType: "DATA_MESSAGE", Owner: "123456789012",
				LogGroup: fmt.Sprintf("/aws/lambda/service-%d", i%4), LogStream: fmt.Sprintf("2024/05/01/[$LATEST]%016x", r.Uint64()),
				SubscriptionFilters: []string{"to-firehose"}, LogEvents: lambdaLines(r, 10, t0),
			}.Record()
		}
		bodies = append(bodies, fh.Body("bench", t0, recs))
	}
	var a Arguments
	a.SetToDefault()
	a.RelabelRules = benchRules(b)
	benchmarkHandler(b, a, bodies, 500, nil)
}

// BenchmarkParseCloudWatch is parseCloudWatchFast alone on the payloads of
// bench/logs' cloudwatch shape: 10 events of distinct ~200-byte lines, half
// logfmt and half JSON (whose quotes the payload escapes).
//
//	go test -run '^$' -bench ParseCloudWatch -benchmem ./components/loki/source/aws_firehose/
func BenchmarkParseCloudWatch(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	t0 := time.Now()
	var payloads [][]byte
	for i := 0; i < 16; i++ {
		p := fh.CloudWatchPayload{MessageType: "DATA_MESSAGE", Owner: "123456789012", LogGroup: "/aws/lambda/svc-1",
			LogStream: fmt.Sprintf("2026/12/03/[$LATEST]%016x", r.Uint64()), SubscriptionFilters: []string{"all"}}
		for j, line := range mixedLines(r, 10, t0) {
			p.LogEvents = append(p.LogEvents, fh.LogEvent{ID: fmt.Sprint(r.Uint64()), Timestamp: t0.UnixMilli() + int64(j), Message: string(line)})
		}
		j, err := json.Marshal(p)
		if err != nil {
			b.Fatal(err)
		}
		payloads = append(payloads, j)
	}
	strs := make([]byte, 0, 16<<10)
	events := make([]cwEvent, 0, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var p cwPayload
		if _, ok := parseCloudWatchFast(payloads[i%len(payloads)], &p, strs, events); !ok {
			b.Fatal("declined")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/event")
}
