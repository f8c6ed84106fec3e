package awsfirehose

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
)

func scratchPayload() []byte {
	r := rand.New(rand.NewPCG(5, 6))
	t0 := time.Now()
	p := fh.CloudWatchPayload{MessageType: "DATA_MESSAGE", Owner: "123456789012", LogGroup: "/aws/lambda/svc-1",
		LogStream: fmt.Sprintf("2026/12/03/[$LATEST]%016x", r.Uint64()), SubscriptionFilters: []string{"all"}}
	for j, line := range mixedLines(r, 10, t0) {
		p.LogEvents = append(p.LogEvents, fh.LogEvent{ID: fmt.Sprint(r.Uint64()), Timestamp: t0.UnixMilli() + int64(j), Message: string(line)})
	}
	body, _ := json.Marshal(p)
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
	zw.Write(body)
	zw.Close()
	return z.Bytes()
}

func BenchmarkScratchDynamic(b *testing.B) {
	src := scratchPayload()
	in := src[10 : len(src)-8]
	var f inflater
	for i := 0; i < b.N; i++ {
		f.in, f.pos, f.over, f.buf, f.n = in, 0, 0, 0, 0
		f.refill()
		f.take(3)
		if !f.dynamic() {
			b.Fatal("x")
		}
	}
}

func BenchmarkScratchBuildLit(b *testing.B) {
	src := scratchPayload()
	in := src[10 : len(src)-8]
	var f inflater
	f.in, f.pos, f.over, f.buf, f.n = in, 0, 0, 0, 0
	f.refill()
	f.take(3)
	f.dynamic()
	lens := append([]uint8(nil), f.lens[:286]...)
	hist := map[uint8]int{}
	for _, l := range lens {
		hist[l]++
	}
	b.Logf("lit lens %v", hist)
	for i := 0; i < b.N; i++ {
		f.lit.build(lens, litEntryBase[:], litRoot, true)
	}
}
