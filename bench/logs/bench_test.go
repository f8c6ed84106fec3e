package logs

import (
	"bytes"
	"cmp"
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

	"github.com/grafana/loki/pkg/push"

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
	records   int64
	elapsed   time.Duration // until the last record was acknowledged
	delivered time.Duration // until the last record reached Loki
	// inWindow is how many of the records reached Loki before the last
	// was acknowledged: inWindow/elapsed is the delivery rate while the
	// load lasted, without the final partial batch's batch_wait.
	inWindow int64
	// benchCPU is the benchmark process's own CPU time (senders, fake
	// Loki) over the same time as cpu.
	benchCPU    time.Duration
	cpu         time.Duration
	peakRSS     int64
	failedPosts int64
	lagP50      time.Duration // delivery lag: arrival at Loki − the entry's timestamp
	lagP99      time.Duration
	// peakAnon and peakFile are the highest RssAnon (the heap, stacks and
	// the runtime's own memory) and RssFile (pages of the binary and other
	// files) sampled during the measurement: VmHWM is about their sum.
	peakAnon, peakFile int64
}

// rssSampler samples a process's RssAnon and RssFile every 20 ms until
// stopped.
type rssSampler struct {
	anon, file atomic.Int64
	stop       chan struct{}
	done       chan struct{}
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		path := fmt.Sprintf("/proc/%d/status", pid)
		for {
			if b, err := os.ReadFile(path); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					for name, dst := range map[string]*atomic.Int64{"RssAnon:": &s.anon, "RssFile:": &s.file} {
						if v, ok := strings.CutPrefix(line, name); ok {
							kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
							if kb<<10 > dst.Load() {
								dst.Store(kb << 10)
							}
						}
					}
				}
			}
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return s
}

// peaks stops sampling and returns the highest values seen.
func (s *rssSampler) peaks() (anon, file int64) {
	close(s.stop)
	<-s.done
	return s.anon.Load(), s.file.Load()
}

// lagHistogram counts delivery lags in milliseconds (the last bucket holds
// everything longer).
type lagHistogram struct {
	mu      sync.Mutex
	from    time.Time // entries with earlier timestamps are not counted
	buckets [5 * 60 * 1000]int64
	n       int64
	seqs    *seqTracker // if set, checks every line's sequence number
}

// observe counts the lag of every entry of a push that arrives now. The
// entries' timestamps are when flow received their request (the
// source's default), and flow acknowledges a request only after its
// entries are in the WAL, so the lag is from acknowledgement (within the
// time of a WAL append) to delivery.
func (h *lagHistogram) observe(req *push.PushRequest) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seqs != nil {
		h.seqs.mu.Lock()
		for _, st := range req.Streams {
			for _, e := range st.Entries {
				h.seqs.observeLocked(e.Line)
			}
		}
		h.seqs.mu.Unlock()
	}
	if h.from.IsZero() {
		return
	}
	for _, st := range req.Streams {
		for _, e := range st.Entries {
			if e.Timestamp.Before(h.from) {
				continue
			}
			ms := now.Sub(e.Timestamp).Milliseconds()
			h.buckets[min(max(ms, 0), int64(len(h.buckets)-1))]++
			h.n++
		}
	}
}

// count returns how many entries were counted.
func (h *lagHistogram) count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// observeEntries is observe for entries that arrived at now with
// timestamps ts (Unix ns) and sequence numbers seqs (-1: none; checked
// if h.seqs is set).
func (h *lagHistogram) observeEntries(now time.Time, ts, seqs []int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seqs != nil {
		h.seqs.mu.Lock()
		for _, n := range seqs {
			h.seqs.observeSeqLocked(n)
		}
		h.seqs.mu.Unlock()
	}
	if h.from.IsZero() {
		return
	}
	from, nowNs := h.from.UnixNano(), now.UnixNano()
	for _, t := range ts {
		if t < from {
			continue
		}
		ms := (nowNs - t) / 1e6
		h.buckets[min(max(ms, 0), int64(len(h.buckets)-1))]++
		h.n++
	}
}

func (h *lagHistogram) start(t time.Time) {
	h.mu.Lock()
	h.from = t
	h.mu.Unlock()
}

// quantile returns the lag below which a fraction q of the entries were.
func (h *lagHistogram) quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	want := int64(q * float64(h.n))
	var seen int64
	for ms, c := range h.buckets {
		seen += c
		if seen > want {
			return time.Duration(ms) * time.Millisecond
		}
	}
	return 0
}

// runPipeline starts `flow run` with the shape's pipeline to a fake Loki
// (which decodes every push) and pushes records through it with
// benchSenders concurrent senders, each sending its next request as soon
// as the last one is acknowledged.
func runPipeline(tb testing.TB, s shape, records int64) benchResult {
	return runPipelineClients(tb, s, records, benchSenders)
}

// benchLoki is the benchmark's fake Loki: fakeloki, or seqLoki for the
// templated senders.
type benchLoki interface {
	URL() string
	WaitForEntries(n int64, timeout time.Duration) error
	Close()
}

// runPipelineClients is runPipeline with the given number of concurrent
// senders.
func runPipelineClients(tb testing.TB, s shape, records int64, clients int) benchResult {
	lag := &lagHistogram{}
	warm := int64(50 * benchPerRequest)
	records = records / benchPerRequest * benchPerRequest
	var seqs *seqTracker
	if s.templated {
		// The templated senders' lines carry their sequence numbers:
		// every one is checked as it arrives.
		seqs = newSeqTracker(warm + records)
		lag.seqs = seqs
	}
	var lk benchLoki
	var err error
	if s.templated {
		// The templated senders' Loki decodes the wire format in place
		// (receiver_test.go).
		lk, err = startSeqLoki(lag)
	} else {
		lk, err = fakeloki.Start(fakeloki.Options{CountOnly: true, OnPush: func(_ string, req *push.PushRequest) { lag.observe(req) }})
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer lk.Close()
	port := flowproc.FreePort(tb)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	bin := installedCopy(tb, flowproc.Build(tb), tb.TempDir())
	p := startFlowBinary(tb, bin, fmt.Sprintf(s.config, port, lk.URL()), tb.TempDir(), addr)
	pid := p.Pid()

	// The original shape's pre-built bodies.
	var bodies [][]byte
	if s.prebuilt {
		bodies = make([][]byte, 16)
		for i := range bodies {
			recs := make([][]byte, benchPerRequest)
			for j := range recs {
				recs[j] = lineFor(i, 0, j, benchLineSize)
			}
			bodies[i] = fh.Body("bench", time.Now(), recs)
		}
	}
	url := "http://" + addr + "/awsfirehose/api/v1/push"
	builders := make([]*requestBuilder, clients)
	templates := make([]*templateSender, clients)
	for i := range builders {
		if s.templated {
			templates[i] = newTemplateSender(i)
		} else {
			builders[i] = newRequestBuilder(s, i)
		}
	}
	// Request indexes go on from the warm-up to the measurement, so every
	// templated record has its own sequence number.
	var next atomic.Int64

	// send sends requests of benchPerRequest entries until n entries were
	// acknowledged.
	send := func(n int64) (time.Duration, int64) {
		var failed atomic.Int64
		requests := next.Load() + n/benchPerRequest
		start := time.Now()
		var wg sync.WaitGroup
		for sender := 0; sender < clients; sender++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pst := newPoster(url, s)
				for {
					i := next.Add(1) - 1
					if i >= requests {
						return
					}
					reqID := fh.NewRequestID()
					var body []byte
					if s.prebuilt {
						body = bodies[i%int64(len(bodies))]
					} else if s.templated {
						body = templates[sender].body(reqID, i)
					} else {
						body, _ = builders[sender].body(reqID, int(i))
					}
					for {
						status, err := pst.post(reqID, int(i), body)
						if err == nil && status == 200 {
							break
						}
						if err != nil && status == 200 {
							tb.Errorf("answer does not follow the specification: %v", err)
							return
						}
						failed.Add(1)
						time.Sleep(10 * time.Millisecond)
					}
				}
			}()
		}
		wg.Wait()
		next.Store(requests) // each sender took one index past the end
		return time.Since(start), failed.Load()
	}

	// Warm up (connections, WAL segment, GC steady state), then measure.
	send(warm)
	if err := lk.WaitForEntries(warm, time.Minute); err != nil {
		tb.Fatal(err)
	}
	cpu0, _, err := procStats(pid)
	if err != nil {
		tb.Fatal(err)
	}
	// FLOW_BENCH_CPUPROFILE=path saves a CPU profile of flow during the run.
	if path := os.Getenv("FLOW_BENCH_CPUPROFILE"); path != "" {
		// FLOW_BENCH_PROFILE_SECONDS sets its length (default 5).
		secs := cmp.Or(os.Getenv("FLOW_BENCH_PROFILE_SECONDS"), "5")
		go saveProfile(tb, p.URL()+"/debug/pprof/profile?seconds="+secs, path+"."+s.name)
	}
	rss := sampleRSS(pid)
	self0, _, _ := procStats(os.Getpid())
	start := time.Now()
	lag.start(start)
	elapsed, failed := send(records)
	inWindow := lag.count() // delivered while the senders sent
	if err := lk.WaitForEntries(warm+records, 5*time.Minute); err != nil {
		tb.Fatalf("%v\nflow's log:\n%s", err, logTail(p.Stderr()))
	}
	delivered := time.Since(start)
	self1, _, _ := procStats(os.Getpid())
	if seqs != nil {
		// Every acknowledged record arrived (duplicates are allowed:
		// delivery is at least once).
		if miss, first := seqs.missing(warm + records); miss > 0 {
			tb.Fatalf("%d records never reached Loki (the first: sequence number %d)", miss, first)
		}
		seqs.mu.Lock()
		bad, dups := seqs.bad, seqs.dups
		seqs.mu.Unlock()
		if bad > 0 {
			tb.Fatalf("%d delivered lines without a valid sequence number", bad)
		}
		if dups > 0 {
			tb.Logf("%d records delivered more than once (at least once)", dups)
		}
	}
	anon, file := rss.peaks()
	cpu1, hwm, err := procStats(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return benchResult{records: records, elapsed: elapsed, delivered: delivered, inWindow: inWindow, benchCPU: self1 - self0, cpu: cpu1 - cpu0, peakRSS: hwm, failedPosts: failed,
		lagP50: lag.quantile(0.5), lagP99: lag.quantile(0.99), peakAnon: anon, peakFile: file}
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
// built flow binary, for each shape of traffic; b.N is the number of
// records (log events for CloudWatch payloads).
//
//	go test -run '^$' -bench FirehoseToLoki -benchtime 2000000x ./bench/logs/
//
// acked-records/s counts until the last request was acknowledged,
// delivered-records/s until its last record reached Loki (which includes
// the final partial batch's batch_wait, 1 s by default),
// delivered-while-sending-records/s the records that reached Loki before
// the last was acknowledged, over the same time; the lag is from a
// request's acknowledgement to its entries' arrival at Loki.
func BenchmarkFirehoseToLoki(b *testing.B) {
	flowproc.Build(b) // build outside the measurement
	for _, s := range []shape{shapeStatic, shapeRealistic, shapeRealisticGzip, shapeCloudWatch} {
		b.Run(s.name, func(b *testing.B) {
			n := max(b.N, 10*benchPerRequest) // a handful of requests cannot show a rate
			r := runPipeline(b, s, int64(n))
			b.StopTimer()
			reportResult(b, s, r)
		})
	}
}

// BenchmarkFirehoseThroughput measures the realistic shape from templated
// senders (template_test.go: the lines are generated once per client and
// only their sequence numbers, request IDs and timestamps are rewritten per
// request, so the senders no longer set the rate) at 8 and 16 clients;
// the fake Loki decodes every push and checks every line's sequence
// number (none lost; duplicates, allowed by at-least-once delivery, are
// logged). b.N is the number of records.
//
//	go test -run '^$' -bench FirehoseThroughput -benchtime 3000000x ./bench/logs/
func BenchmarkFirehoseThroughput(b *testing.B) {
	flowproc.Build(b)
	for _, clients := range []int{8, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			n := max(b.N, 10*benchPerRequest)
			r := runPipelineClients(b, shapeRealisticTemplated, int64(n), clients)
			b.StopTimer()
			reportResult(b, shapeRealisticTemplated, r)
		})
	}
}

// reportResult reports a run's metrics.
func reportResult(b *testing.B, s shape, r benchResult) {
	b.ReportMetric(float64(r.records)/r.elapsed.Seconds(), "acked-records/s")
	b.ReportMetric(float64(r.records)/r.delivered.Seconds(), "delivered-records/s")
	b.ReportMetric(float64(r.inWindow)/r.elapsed.Seconds(), "delivered-while-sending-records/s")
	b.ReportMetric(r.lagP50.Seconds(), "lag-p50-s")
	b.ReportMetric(r.lagP99.Seconds(), "lag-p99-s")
	b.ReportMetric(r.cpu.Seconds()/float64(r.records)*1e6, "cpu-s/Mrecords")
	b.ReportMetric(r.benchCPU.Seconds()/float64(r.records)*1e6, "senders+loki-cpu-s/Mrecords")
	b.ReportMetric(float64(r.peakRSS)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(r.peakAnon)/(1<<20), "peak-anon-MiB")
	b.ReportMetric(float64(r.peakFile)/(1<<20), "peak-file-MiB")
	b.ReportMetric(float64(r.failedPosts), "refused-requests")
	b.Logf("%s: %d records: acknowledged in %v, delivered in %v (lag p50 %v, p99 %v); flow used %v CPU, peak RSS %d MiB",
		s.name, r.records, r.elapsed.Round(time.Millisecond), r.delivered.Round(time.Millisecond),
		r.lagP50, r.lagP99, r.cpu, r.peakRSS>>20)
}
