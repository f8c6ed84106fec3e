package runtimebench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	rtm "runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/flow-telemetry/flow/components/discovery/relabel"
	_ "github.com/flow-telemetry/flow/components/prometheus/relabel"
	_ "github.com/flow-telemetry/flow/components/prometheus/remote_write"
	_ "github.com/flow-telemetry/flow/components/prometheus/scrape"
	"github.com/flow-telemetry/flow/internal/benchmeter"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/httpapi"
)

// TestMain removes the flow binary the process benchmark builds.
func TestMain(m *testing.M) { flowproc.Main(m) }

// Shape of the generated config: 500 + 1 + 498 + 1 components.
const (
	discoveryChain = 500
	relabelChain   = 498
	components     = discoveryChain + 1 + relabelChain + 1
)

// realConfig returns the 1,000-component config; variants v differ in
// every component's arguments (a rule's replacement, the scrape's and the
// remote_write's settings).
func realConfig(v int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `discovery.relabel "d0" {
  targets = [{"__address__" = "127.0.0.1:1", "job" = "bench"}]
  rule {
    target_label = "step"
    replacement  = "0-v%d"
  }
}
`, v)
	for i := 1; i < discoveryChain; i++ {
		fmt.Fprintf(&b, `
discovery.relabel "d%d" {
  targets = discovery.relabel.d%d.output
  rule {
    target_label = "step"
    replacement  = "%d-v%d"
  }
  rule {
    source_labels = ["__address__"]
    regex         = "(.*):(\\d+)"
    target_label  = "host"
    replacement   = "$1"
  }
}
`, i, i-1, i, v)
	}
	fmt.Fprintf(&b, `
prometheus.scrape "s" {
  targets         = discovery.relabel.d%d.output
  forward_to      = [prometheus.relabel.r0.receiver]
  scrape_interval = "%ds"
  scrape_timeout  = "5s"
}
`, discoveryChain-1, 50+v)
	for i := 0; i < relabelChain; i++ {
		next := fmt.Sprintf("prometheus.relabel.r%d.receiver", i+1)
		if i == relabelChain-1 {
			next = "prometheus.remote_write.rw.receiver"
		}
		fmt.Fprintf(&b, `
prometheus.relabel "r%d" {
  forward_to = [%s]
  rule {
    source_labels = ["__name__"]
    regex         = "go_gc_.*_v%d"
    action        = "drop"
  }
}
`, i, next, v)
	}
	fmt.Fprintf(&b, `
prometheus.remote_write "rw" {
  endpoint {
    url            = "http://127.0.0.1:1/api/v1/write"
    remote_timeout = "%ds"
  }
  external_labels = {"variant" = "v%d"}
}
`, 20+v, v)
	return []byte(b.String())
}

// BenchmarkRealReload1000 loads the config, runs it, and then alternates
// between its two variants: every reload changes every component's
// arguments. It reports the peak of the live heap over the whole run (load
// included) and the CPU time per reload.
func BenchmarkRealReload1000(b *testing.B) { benchRealReload(b, 2) }

// BenchmarkRealReloadUnchanged1000 reloads the running config with the same
// text: every component is evaluated, none is updated (the common reload,
// where a few components of many change).
func BenchmarkRealReloadUnchanged1000(b *testing.B) { benchRealReload(b, 1) }

// benchRealReload loads the config and reloads it b.N times, cycling through
// variants of it.
func benchRealReload(b *testing.B, variants int) {
	files := make([]map[string][]byte, variants)
	for v := range files {
		files[v] = map[string][]byte{"real.river": realConfig(v + 1)}
	}
	rtm.GC()
	stop := benchmeter.PeakHeap()
	start := time.Now()
	rt := runtime.New(runtime.Options{DataPath: b.TempDir()})
	if d := rt.Load(files[0]); d.HasErrors() {
		b.Fatal(d)
	}
	load := time.Since(start)
	if n := len(rt.ComponentIDs()); n != components {
		b.Fatalf("%d components, want %d", n, components)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rt.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := benchmeter.CPUTime()
	for i := 0; i < b.N; i++ {
		if d := rt.Load(files[(i+1)%variants]); d.HasErrors() {
			b.Fatal(d)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((benchmeter.CPUTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(load.Milliseconds()), "load-ms")
}

// BenchmarkRealLoad1000 is the first load of the config in process: what
// `flow run` does between its start and /-/ready (parse, stage, build every
// component). Each iteration loads into a new runtime, then runs and stops
// it, untimed, so the components built release what they hold.
func BenchmarkRealLoad1000(b *testing.B) {
	files := map[string][]byte{"real.river": realConfig(1)}
	b.ReportAllocs()
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		rtm.GC()
		b.StartTimer()
		cpu0 := benchmeter.CPUTime()
		rt := runtime.New(runtime.Options{DataPath: dir})
		if d := rt.Load(files); d.HasErrors() {
			b.Fatal(d)
		}
		cpu += benchmeter.CPUTime() - cpu0
		b.StopTimer()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		rt.Run(ctx)
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// BenchmarkRealRun1000 runs the built flow binary on the config: the time
// from start to /-/ready, then b.N reloads through POST /-/reload
// alternating the variants, and flow's peak RSS (VmHWM) at the end.
func BenchmarkRealRun1000(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "real.river")
	if err := os.WriteFile(path, realConfig(1), 0o644); err != nil {
		b.Fatal(err)
	}
	variants := [][]byte{realConfig(1), realConfig(2)}
	flowproc.Build(b)
	start := time.Now()
	p := flowproc.Start(b, path)
	ready := time.Since(start)
	client := &http.Client{Timeout: time.Minute}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest(http.MethodPost, p.URL()+"/-/reload", bytes.NewReader(variants[(i+1)%2]))
		req.Header.Set(httpapi.ReloadHeader, "1")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("reload answered %d; flow's log:\n%s", resp.StatusCode, p.Stderr())
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(ready.Microseconds())/1000, "ms-to-ready")
	b.ReportMetric(float64(vmHWM(b, p.Pid()))/(1<<20), "peak-RSS-MiB")
}

// BenchmarkRealReady1000 starts the built flow binary on the config b.N
// times, one after the other, and reports the median time from start to
// /-/ready and the median CPU time flow used until then (all its threads,
// from /proc), which the machine's load moves less than the wall time.
// Run with -benchtime 20x or more.
func BenchmarkRealReady1000(b *testing.B) {
	path := filepath.Join(b.TempDir(), "real.river")
	if err := os.WriteFile(path, realConfig(1), 0o644); err != nil {
		b.Fatal(err)
	}
	flowproc.Build(b)
	var ready, cpu []time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		p := flowproc.Start(b, path)
		ready = append(ready, time.Since(start))
		cpu = append(cpu, procCPU(b, p.Pid()))
		if err := p.Stop(15 * time.Second); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(median(ready).Microseconds())/1000, "median-ms-to-ready")
	b.ReportMetric(float64(median(cpu).Microseconds())/1000, "median-cpu-ms-to-ready")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// procCPU is the CPU time a process has used so far, all threads, from
// /proc/<pid>/task/*/schedstat (nanoseconds on the CPU).
func procCPU(tb testing.TB, pid int) time.Duration {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var ns int64
	for _, t := range tasks {
		stat, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited meanwhile
		}
		f := strings.Fields(string(stat))
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			tb.Fatalf("%s: %v", stat, err)
		}
		ns += v
	}
	return time.Duration(ns)
}

// vmHWM is a process's peak resident set size in bytes.
func vmHWM(tb testing.TB, pid int) int64 {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	tb.Fatal("no VmHWM in /proc status")
	return 0
}
