package logs

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/internal/flowproc"
)

// Benchmark shape, from the issue: 200-byte lines, 500 records per request,
// 8 concurrent senders sending as fast as they are acknowledged.
const (
	benchLineSize   = 200
	benchPerRequest = 500
	benchSenders    = 8
)

// procStats reads a process's CPU time (user+system) and peak RSS.
func procStats(pid int) (cpu time.Duration, hwm int64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name (which may hold spaces) start after ')'.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	cpu = time.Duration(utime+stime) * time.Second / ticks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			hwm = kb << 10
		}
	}
	return cpu, hwm, nil
}

type benchResult struct {
	records     int64
	elapsed     time.Duration // until the last record was acknowledged
	delivered   time.Duration // until the last record reached Loki
	cpu         time.Duration
	peakRSS     int64
	failedPosts int64
}

// runPipeline starts `flow run` with firehose → loki.write → fake Loki and
// pushes records through it with benchSenders concurrent senders.
func runPipeline(tb testing.TB, records int64) benchResult {
	lk, err := fakeloki.Start(fakeloki.Options{CountOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer lk.Close()
	port := flowproc.FreePort(tb)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := fmt.Sprintf(`
loki.source.aws_firehose "bench" {
  http {
    listen_address = "127.0.0.1"
    listen_port    = %d
  }
  labels {
    job = "bench"
  }
  forward_to = [loki.write.bench.receiver]
}

loki.write "bench" {
  endpoint {
    url = %q
  }
}
`, port, lk.URL())
	p := startFlow(tb, cfg, tb.TempDir(), addr)
	pid := p.Pid()

	// Pre-built bodies: the senders' own cost stays small on this 2-core
	// machine, which flow shares with them.
	bodies := make([][]byte, 16)
	for i := range bodies {
		recs := make([][]byte, benchPerRequest)
		for j := range recs {
			recs[j] = lineFor(i, 0, j, benchLineSize)
		}
		bodies[i] = fh.Body("bench", time.Now(), recs)
	}
	url := "http://" + addr + "/awsfirehose/api/v1/push"

	send := func(n int64) (time.Duration, int64) {
		var next, failed atomic.Int64
		requests := n / benchPerRequest
		start := time.Now()
		var wg sync.WaitGroup
		for s := 0; s < benchSenders; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				snd := &fh.Sender{URL: url}
				for {
					i := next.Add(1) - 1
					if i >= requests {
						return
					}
					for {
						r, err := snd.Post(fh.NewRequestID(), bodies[i%int64(len(bodies))])
						if err == nil && r.Status == 200 {
							break
						}
						failed.Add(1)
						time.Sleep(10 * time.Millisecond)
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start), failed.Load()
	}

	// Warm up (connections, WAL segment, GC steady state), then measure.
	warm := int64(50 * benchPerRequest)
	send(warm)
	if err := lk.WaitForEntries(warm, time.Minute); err != nil {
		tb.Fatal(err)
	}
	cpu0, _, err := procStats(pid)
	if err != nil {
		tb.Fatal(err)
	}
	records = records / benchPerRequest * benchPerRequest
	// FLOW_BENCH_CPUPROFILE=path saves a CPU profile of flow during the run.
	if path := os.Getenv("FLOW_BENCH_CPUPROFILE"); path != "" {
		go saveProfile(tb, p.URL()+"/debug/pprof/profile?seconds=5", path)
	}
	start := time.Now()
	elapsed, failed := send(records)
	if err := lk.WaitForEntries(warm+records, 5*time.Minute); err != nil {
		tb.Fatalf("%v\nflow's log:\n%s", err, logTail(p.Stderr()))
	}
	delivered := time.Since(start)
	cpu1, hwm, err := procStats(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return benchResult{records: records, elapsed: elapsed, delivered: delivered, cpu: cpu1 - cpu0, peakRSS: hwm, failedPosts: failed}
}

func saveProfile(tb testing.TB, url, path string) {
	resp, err := http.Get(url)
	if err != nil {
		tb.Log("profile:", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Log("profile:", err)
	}
}

// BenchmarkFirehoseToLoki measures the logs pipeline end to end with the
// built flow binary; b.N is the number of records.
//
//	go test -run '^$' -bench FirehoseToLoki -benchtime 2000000x ./bench/logs/
func BenchmarkFirehoseToLoki(b *testing.B) {
	if b.N < 10*benchPerRequest {
		b.N = 10 * benchPerRequest // a handful of requests cannot show a rate
	}
	flowproc.Build(b) // build outside the measurement
	b.ResetTimer()
	r := runPipeline(b, int64(b.N))
	b.StopTimer()
	rate := float64(r.records) / r.delivered.Seconds()
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(r.cpu.Seconds()/float64(r.records)*1e6, "cpu-s/Mrecords")
	b.ReportMetric(float64(r.peakRSS)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(r.cpu.Seconds()/r.delivered.Seconds(), "cores")
	b.ReportMetric(float64(r.failedPosts), "refused-requests")
	b.Logf("%d records: acknowledged in %v, delivered in %v; flow used %v CPU, peak RSS %d MiB",
		r.records, r.elapsed.Round(time.Millisecond), r.delivered.Round(time.Millisecond), r.cpu, r.peakRSS>>20)
}
