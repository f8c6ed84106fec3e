// Command metrics is flow's end-to-end metrics benchmark: scrape → remote
// write of one synthetic target, with flow (the built `flow run` binary) and
// Debian's Prometheus in agent mode (--enable-feature=agent) doing the same
// work on the same machine, one after the other, alternating A B A B.
//
// For each run it measures, over a steady-state window after a warm-up:
//   - CPU seconds (user+system, /proc/<pid>/stat) per million samples
//     delivered to the receiver;
//   - peak RSS (VmHWM, /proc/<pid>/status) over the whole run;
//   - samples per second delivered.
//
// The target and the receiver live in this process: the target serves a
// pre-rendered text exposition of N series, the receiver counts the samples
// of every Remote-Write 1.0 request by scanning the protobuf (no full
// decode, so it takes as little CPU from the processes under test as
// possible). Both sides use their own default queue settings.
//
// Two shapes of target (-shape): "light", one target serving constant values
// with three short labels; "realistic", one target per 10,000 series
// (-per-target) whose values change on every scrape, with six labels and
// about 125 bytes per exposition line, as real exporters serve them.
// -protocol v2 has flow send Remote-Write 2.0 (the agent, Prometheus 2.42,
// only has 1.0); the receiver counts both. -relabel relabels every sample
// with three rules on the way (flow: a prometheus.relabel between scrape
// and remote_write; the agent: metric_relabel_configs). The realistic
// targets are internal/realtarget's, which the scrape path's go test
// benchmarks (BenchmarkScrapePath) scrape too.
//
//	go run ./bench/metrics                      # 100k and 500k series, both shapes, 3 rounds
//	go run ./bench/metrics -shape realistic -series 100000 -rounds 5 -measure 60s
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flow-telemetry/flow/internal/realtarget"
)

func main() {
	var (
		seriesList = flag.String("series", "100000,500000", "comma-separated series counts of the synthetic target")
		rounds     = flag.Int("rounds", 3, "A/B rounds per series count (each round runs flow and the agent once)")
		warmup     = flag.Duration("warmup", 30*time.Second, "time before measuring, for queues to reach steady state")
		measure    = flag.Duration("measure", 60*time.Second, "measurement window")
		flowBin    = flag.String("flow", "", "flow binary (default: go build ./cmd/flow into a temp dir)")
		promBin    = flag.String("prometheus", "prometheus", "prometheus binary (Debian's, run in agent mode)")
		gogc       = flag.String("flow-gogc", "", "GOGC for the flow process (default: flow's own default)")
		keep       = flag.Bool("keep", false, "keep the temporary directories")
		verbose    = flag.Bool("verbose", false, "print each process's key metrics after its run")
		profile    = flag.String("profile", "", "directory to save a CPU profile of each run's measurement window")
		shapes     = flag.String("shape", "realistic,light", "comma-separated target shapes: realistic (many targets, changing values, 6 labels) and/or light (one target, constant values)")
		perTarget  = flag.Int("per-target", 10000, "series per target in the realistic shape")
		protocol   = flag.String("protocol", "v1", "remote-write protocol flow sends: v1 or v2 (the agent always sends v1)")
		sidesFlag  = flag.String("sides", "flow,prometheus-agent", "which processes to run")
		relabel    = flag.Bool("relabel", false, "relabel every sample with three rules between scrape and remote write (flow: prometheus.relabel; the agent: metric_relabel_configs)")
	)
	flag.Parse()
	log.SetFlags(log.Ltime)
	if *profile != "" {
		// Profiles are fetched after minutes of running: a directory
		// that cannot be made is an error now, not a missing file then.
		if err := os.MkdirAll(*profile, 0o750); err != nil {
			log.Fatal(err)
		}
	}

	work, err := os.MkdirTemp("", "flow-bench-metrics-")
	if err != nil {
		log.Fatal(err)
	}
	if !*keep {
		defer os.RemoveAll(work)
	}

	if *flowBin == "" {
		*flowBin = filepath.Join(work, "flow")
		log.Printf("building flow into %s", *flowBin)
		cmd := exec.Command("go", "build", "-o", *flowBin, "./cmd/flow")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatalf("go build ./cmd/flow (run from the repository root): %v", err)
		}
	}
	if _, err := exec.LookPath(*promBin); err != nil {
		log.Fatalf("%s not found: install Debian's prometheus package (apt-get install prometheus)", *promBin)
	}
	out, _ := exec.Command(*promBin, "--version").CombinedOutput()
	promVersion := strings.SplitN(string(out), "\n", 2)[0]

	recv, err := startReceiver()
	if err != nil {
		log.Fatal(err)
	}
	defer recv.close()

	if *protocol != "v1" && *protocol != "v2" {
		log.Fatalf("-protocol must be v1 or v2")
	}
	var all []summary
	for _, shape := range strings.Split(*shapes, ",") {
		for _, s := range strings.Split(*seriesList, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				log.Fatalf("bad -series value %q", s)
			}
			var addrs []string
			var closers []func()
			switch shape {
			case "light":
				tgt, err := startTarget(n)
				if err != nil {
					log.Fatal(err)
				}
				addrs, closers = append(addrs, tgt.addr()), append(closers, tgt.close)
			case "realistic":
				for i := 0; i*(*perTarget) < n; i++ {
					tgt, err := realtarget.Start(i, min(*perTarget, n-i*(*perTarget)))
					if err != nil {
						log.Fatal(err)
					}
					if i == 0 {
						log.Printf("realistic shape: %d series per target, %.0f bytes per line", *perTarget, tgt.AvgLineBytes())
					}
					addrs, closers = append(addrs, tgt.Addr()), append(closers, tgt.Close)
				}
			default:
				log.Fatalf("bad -shape %q: light or realistic", shape)
			}
			var sides []side
			for _, name := range strings.Split(*sidesFlag, ",") {
				switch name {
				case "flow":
					sides = append(sides, side{name: "flow", start: func(dir string) (*process, error) {
						return startFlow(*flowBin, dir, addrs, recv.url(), *gogc, *protocol, *relabel)
					}})
				case "prometheus-agent":
					sides = append(sides, side{name: "prometheus-agent", start: func(dir string) (*process, error) {
						return startAgent(*promBin, dir, addrs, recv.url(), *relabel)
					}})
				default:
					log.Fatalf("bad -sides entry %q", name)
				}
			}
			results := map[string][]result{}
			for r := 0; r < *rounds; r++ {
				for _, sd := range sides {
					dir := filepath.Join(work, fmt.Sprintf("%s-%s-%d-%d", sd.name, shape, n, r))
					if err := os.MkdirAll(dir, 0o750); err != nil {
						log.Fatal(err)
					}
					log.Printf("%s series=%d round %d/%d: %s", shape, n, r+1, *rounds, sd.name)
					res, err := runOnce(context.Background(), sd, dir, recv, *warmup, *measure, *verbose, profilePath(*profile, sd.name+"-"+shape, n, r))
					if err != nil {
						log.Fatalf("%s: %v", sd.name, err)
					}
					log.Printf("  %s: %.0f samples/s, %.3f CPU-s per million, peak RSS %.0f MB", sd.name, res.samplesPerSec, res.cpuPerMillion, res.peakRSSMB)
					results[sd.name] = append(results[sd.name], res)
				}
			}
			for _, c := range closers {
				c()
			}
			all = append(all, summary{shape: shape, series: n, flow: median(results["flow"]), agent: median(results["prometheus-agent"]),
				flowRuns: results["flow"], agentRuns: results["prometheus-agent"]})
		}
	}

	fmt.Printf("\nflow end-to-end metrics benchmark: scrape every 1s → remote write\n")
	fmt.Printf("flow: %s (remote write %s); agent: %s (--enable-feature=agent)\n", *flowBin, *protocol, promVersion)
	fmt.Printf("warm-up %s, measurement %s, %d rounds alternating flow/agent; medians\n\n", *warmup, *measure, *rounds)
	fmt.Printf("%-10s %-8s %-18s %14s %18s %14s\n", "shape", "series", "side", "samples/s", "CPU-s per million", "peak RSS MB")
	for _, s := range all {
		fmt.Printf("%-10s ", s.shape)
		fmt.Printf("%-8d %-18s %14.0f %18.3f %14.0f\n", s.series, "flow", s.flow.samplesPerSec, s.flow.cpuPerMillion, s.flow.peakRSSMB)
		fmt.Printf("%-10s %-8d %-18s %14.0f %18.3f %14.0f\n", "", s.series, "prometheus-agent", s.agent.samplesPerSec, s.agent.cpuPerMillion, s.agent.peakRSSMB)
		fmt.Printf("%-10s %-8d %-18s %14.2f %18.2f %14.2f\n", "", s.series, "ratio flow/agent",
			s.flow.samplesPerSec/s.agent.samplesPerSec, s.flow.cpuPerMillion/s.agent.cpuPerMillion, s.flow.peakRSSMB/s.agent.peakRSSMB)
		fmt.Printf("         runs: flow %s\n", runsString(s.flowRuns))
		fmt.Printf("               agent %s\n", runsString(s.agentRuns))
	}
}

type side struct {
	name  string
	start func(dir string) (*process, error)
}

type result struct {
	samplesPerSec float64
	cpuPerMillion float64
	peakRSSMB     float64
}

type summary struct {
	shape               string
	series              int
	flow, agent         result
	flowRuns, agentRuns []result
}

func runsString(rs []result) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("[%.0f/s %.2f CPU-s/M %.0f MB]", r.samplesPerSec, r.cpuPerMillion, r.peakRSSMB)
	}
	return strings.Join(parts, " ")
}

// median takes the median of each measure independently.
func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		if len(v) == 0 {
			return 0
		}
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return result{
		samplesPerSec: pick(func(r result) float64 { return r.samplesPerSec }),
		cpuPerMillion: pick(func(r result) float64 { return r.cpuPerMillion }),
		peakRSSMB:     pick(func(r result) float64 { return r.peakRSSMB }),
	}
}

// runOnce starts one side, waits for the warm-up, measures, and stops it.
func profilePath(dir, name string, n, round int) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, fmt.Sprintf("%s-%d-%d.pprof", name, n, round))
}

func runOnce(ctx context.Context, sd side, dir string, recv *receiver, warmup, measure time.Duration, verbose bool, profile string) (result, error) {
	p, err := sd.start(dir)
	if err != nil {
		return result{}, err
	}
	defer p.stop()
	// Wait for data to flow before the warm-up clock starts.
	startCount := recv.samples()
	deadline := time.Now().Add(60 * time.Second)
	for recv.samples() == startCount {
		if err := p.exited(); err != nil {
			return result{}, fmt.Errorf("exited: %v\n%s", err, p.tail())
		}
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("no sample delivered within 60s\n%s", p.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(warmup)
	cpu0, err := p.cpuSeconds()
	if err != nil {
		return result{}, err
	}
	s0, t0 := recv.samples(), time.Now()
	if profile != "" {
		go p.saveProfile(profile, measure-time.Second)
	}
	time.Sleep(measure)
	cpu1, err := p.cpuSeconds()
	if err != nil {
		return result{}, fmt.Errorf("%v\n%s", err, p.tail())
	}
	s1, t1 := recv.samples(), time.Now()
	if profile != "" {
		p.saveHeapProfile(strings.TrimSuffix(profile, ".pprof") + ".heap.pprof")
	}
	if verbose {
		log.Printf("%s metrics:\n%s", sd.name, p.keyMetrics())
	}
	hwm, err := p.peakRSS()
	if err != nil {
		return result{}, err
	}
	delivered := float64(s1 - s0)
	if delivered == 0 {
		return result{}, fmt.Errorf("no sample delivered during the measurement\n%s", p.tail())
	}
	return result{
		samplesPerSec: delivered / t1.Sub(t0).Seconds(),
		cpuPerMillion: (cpu1 - cpu0) / (delivered / 1e6),
		peakRSSMB:     float64(hwm) / (1 << 20),
	}, nil
}
