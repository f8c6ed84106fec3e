package write

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/loki/write/internal/wal"
	"github.com/flow-telemetry/flow/internal/benchmeter"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// benchRequest makes the entries of one Firehose request as
// loki.source.aws_firehose hands them to Send: 500 distinct ~200-byte
// lines (half logfmt, half JSON) sharing one label map.
func benchRequest(req int, labels model.LabelSet) []loki.Entry {
	const perRequest = 500
	now := time.Unix(1_800_000_000, 0).Add(time.Duration(req) * time.Millisecond)
	out := make([]loki.Entry, perRequest)
	for i := range out {
		var b []byte
		ts := now.Add(time.Duration(i))
		if i%2 == 0 {
			b = append(b, "ts="...)
			b = ts.AppendFormat(b, time.RFC3339Nano)
			b = append(b, ` level=info msg="request served" method=GET path=/api/v1/orders/`...)
			b = strconv.AppendInt(b, int64(req*7919+i), 10)
			b = append(b, " status=200 duration_ms=12.345 trace_id="...)
			b = strconv.AppendUint(b, uint64(req)*0x9e3779b97f4a7c15+uint64(i)*0x85ebca6b, 16)
			b = append(b, " sender=3 seq="...)
		} else {
			b = append(b, `{"ts":"`...)
			b = ts.AppendFormat(b, time.RFC3339Nano)
			b = append(b, `","level":"info","msg":"request served","method":"POST","path":"/api/v2/users/`...)
			b = strconv.AppendInt(b, int64(req*7919+i), 10)
			b = append(b, `","status":201,"duration_ms":12345,"trace_id":"`...)
			b = strconv.AppendUint(b, uint64(req)*0x9e3779b97f4a7c15+uint64(i)*0x85ebca6b, 16)
			b = append(b, `","seq":`...)
		}
		b = strconv.AppendInt(b, int64(req*500+i), 10)
		if i%2 == 1 {
			b = append(b, '}')
		}
		out[i] = loki.Entry{Labels: labels, Entry: push.Entry{Timestamp: ts, Line: string(b)}}
	}
	return out
}

// benchLabels is the label set of the n-th of 4 streams, as the Firehose
// source makes it from a request's common attributes.
func benchLabels(n int) model.LabelSet {
	return model.LabelSet{"service": model.LabelValue("svc-" + strconv.Itoa(n)), "env": "prod", "region": "eu-west-1",
		"__aws_firehose_request_id": "req", "__aws_firehose_source_arn": "arn"}
}

// BenchmarkEncodeRecord is Send's encoding of one request's 500 entries
// (one shared label map, internal labels to drop) into a WAL record.
//
//	go test -run '^$' -bench 'EncodeRecord|BatchPush' -benchmem -count 6 ./components/loki/write/
func BenchmarkEncodeRecord(b *testing.B) {
	reqs := make([][]loki.Entry, 16)
	for i := range reqs {
		reqs[i] = benchRequest(i, benchLabels(i%4))
	}
	var e encoder
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, n, _ := e.encode(reqs[i%len(reqs)], nil); n != 500 {
			b.Fatal(n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*500), "ns/entry")
}

// discardLoki answers every push 204 after reading its body, without a
// network: what is measured is the endpoint's own work.
type discardLoki struct{}

func (discardLoki) RoundTrip(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	_ = r.Body.Close()
	return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
}

// nullSource is a source whose records the benchmark hands to the
// delivery itself.
type nullSource struct{}

func (nullSource) next(ctx context.Context, _ time.Time) ([]byte, wal.Position, bool, error) {
	<-ctx.Done()
	return nil, wal.Position{}, false, ctx.Err()
}
func (nullSource) commit(wal.Position) {}
func (nullSource) rewind()             {}
func (nullSource) backlog() backlog    { return backlog{} }
func (nullSource) backlogBytes() int64 { return 0 }
func (nullSource) close()              {}

// BenchmarkBatchPush is an endpoint worker's work on WAL records of 500
// entries (one stream each, 4 streams in turn): decode, batch (batch_size 1
// MiB, one shard), and for each sealed batch the protobuf + snappy body
// and its push (to a RoundTripper that reads and discards it). One op is
// one record; cpu-ns/entry is the process's CPU time (the dispatcher and
// the sender, GC included) per entry.
func BenchmarkBatchPush(b *testing.B) {
	var ea EndpointArgs
	ea.SetToDefault()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	e := &endpoint{name: "bench", args: ea, client: &http.Client{Transport: discardLoki{}}, src: nullSource{},
		durable: true, log: slog.New(slog.DiscardHandler), m: m.endpoint}
	var enc encoder
	recs := make([][]byte, 16)
	for i := range recs {
		rec, _, _ := enc.encode(benchRequest(i, benchLabels(i%4)), nil)
		recs[i] = append([]byte(nil), rec[wal.HeaderSize:]...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := e.newDelivery(ctx)
	payload := make([]byte, 0, 256<<10)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := benchmeter.CPUTime()
	for i := 0; i < b.N; i++ {
		// The WAL reader reuses its buffer: so does this.
		payload = append(payload[:0], recs[i%len(recs)]...)
		if !d.add(ctx, payload, wal.Position{Offset: int64(i)}) {
			b.Fatal("add stopped")
		}
	}
	d.sealAll(ctx)
	for _, s := range d.shards {
		close(s.ch)
	}
	d.wg.Wait()
	cpu := benchmeter.CPUTime() - cpu0
	b.StopTimer()
	cancel()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*500), "cpu-ns/entry")
}

// BenchmarkCommitPosition is what an endpoint's sender does after each
// delivered batch: commit the position it reached (positions file, segment
// deletion, backlog).
func BenchmarkCommitPosition(b *testing.B) {
	var ea EndpointArgs
	ea.SetToDefault()
	ea.URL = value.NewURL("http://127.0.0.1:9/loki/api/v1/push")
	ea.Name = "bench"
	var args Arguments
	args.SetToDefault()
	args.Endpoints = []EndpointArgs{ea}
	c, err := New(component.Options{ID: "loki.write.bench", Registerer: prometheus.NewRegistry(), DataPath: b.TempDir(),
		Logger: slog.New(slog.DiscardHandler), OnStateChange: func(component.Exports) {}}, args)
	if err != nil {
		b.Fatal(err)
	}
	defer c.closeAll()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.commitPosition(c.wal, "bench", wal.Position{Offset: int64(i)})
	}
}

// BenchmarkSnappyEncoders compares the Snappy block encoders on 1 MiB of
// benchRequest lines (a batch's worth): github.com/golang/snappy's, which
// loki.write used, and s2's Snappy-compatible one, which it uses.
//
//	go test -run '^$' -bench SnappyEncoders -count 6 ./components/loki/write/
func BenchmarkSnappyEncoders(b *testing.B) {
	var raw []byte
	for i := 0; len(raw) < 1<<20; i++ {
		for _, e := range benchRequest(i, benchLabels(0)) {
			raw = append(raw, e.Line...)
		}
	}
	for _, enc := range []struct {
		name string
		f    func(dst, src []byte) []byte
	}{{"golang-snappy", snappy.Encode}, {"s2", s2.EncodeSnappy}} {
		b.Run(enc.name, func(b *testing.B) {
			dst := make([]byte, s2.MaxEncodedLen(len(raw)))
			b.SetBytes(int64(len(raw)))
			var n int
			for i := 0; i < b.N; i++ {
				n = len(enc.f(dst, raw))
			}
			b.ReportMetric(float64(len(raw))/float64(n), "ratio")
		})
	}
}
