package file

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/components/common/loki"
)

// BenchmarkTail measures reading lines from a file into a receiver that
// accepts everything: b.N lines of about 100 bytes, already on disk, are
// tailed from the start. It reports lines per second and the process's CPU
// time (user + system) per million lines, the figure Promtail's and
// Alloy's file sources are compared by.
func BenchmarkTail(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "bench.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range b.N {
		fmt.Fprintf(w, "2026-12-03T07:00:00.000Z level=info msg=\"request served\" path=/api/v1/items status=200 n=%09d\n", i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	var got atomic.Int64
	done := make(chan struct{})
	recv := loki.NewReceiver(func(_ context.Context, entries []loki.Entry) error {
		if got.Add(int64(len(entries))) >= int64(b.N) {
			select {
			case <-done:
			default:
				close(done)
			}
		}
		return nil
	})
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	start := time.Now()
	h := startBench(b, path, recv)
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("only %d of %d lines after 10 minutes", got.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	h.stop()
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "lines/s")
	b.ReportMetric(cpu.Seconds()*1e6/float64(b.N), "cpu-s/Mlines")
}

func startBench(b *testing.B, path string, recv loki.LogsReceiver) *harness {
	var a Arguments
	a.SetToDefault()
	a.Targets = target(path, "job", "bench")
	a.ForwardTo = []loki.LogsReceiver{recv}
	return startWith(b, b.TempDir(), a)
}
