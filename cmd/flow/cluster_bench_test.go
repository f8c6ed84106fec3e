package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/flowproc"
)

// BenchmarkClusterFailover measures, with 3 and 10 real agents sharing 100
// targets scraped every second, the time from a kill -9 of one agent until
// every one of its targets was scraped again by a survivor, and the time
// from starting it again until it scrapes all of its share (every agent
// sees it participate and it scraped each target it owns). Run with
// -benchtime=Nx; each iteration kills and restarts one agent.
func BenchmarkClusterFailover(b *testing.B) {
	for _, n := range []int{3, 10} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			f := newFleet(b, 100)
			cfg := f.config(b)
			names := make([]string, n)
			agents := make([]*flowproc.Process, n)
			for i := range n {
				names[i] = fmt.Sprintf("agent-%02d", i)
				var join []string
				if i > 0 {
					join = []string{agents[0].Addr()}
				}
				agents[i] = startAgent(b, names[i], cfg, join)
			}
			waitParticipants(b, 60*time.Second, names, agents...)
			f.waitExactlyOne(b, 60*time.Second)
			var kill, join time.Duration
			b.ResetTimer()
			for it := range b.N {
				k := 1 + it%(n-1) // never the first, which the others joined through
				own := owners(b, agents[0])
				var mine []int
				for i, addr := range f.addrs {
					if own[addr] == names[k] {
						mine = append(mine, i)
					}
				}
				killed := time.Now()
				agents[k].Kill()
				for {
					scr := f.scrapers(killed, time.Now())
					done := true
					for _, i := range mine {
						if len(scr[i]) == 0 || (len(scr[i]) == 1 && scr[i][names[k]] > 0) {
							done = false
							break
						}
					}
					if done {
						break
					}
					if time.Since(killed) > 2*time.Minute {
						b.Fatalf("%d targets of the killed agent not covered after 2m", len(mine))
					}
					time.Sleep(20 * time.Millisecond)
				}
				kill += time.Since(killed)

				started := time.Now()
				agents[k] = startAgent(b, names[k], cfg, []string{agents[0].Addr()})
				waitParticipants(b, 2*time.Minute, names, agents...)
				own = owners(b, agents[k])
				for {
					scr := f.scrapers(started, time.Now())
					done := true
					for i, addr := range f.addrs {
						if own[addr] == names[k] && scr[i][names[k]] == 0 {
							done = false
							break
						}
					}
					if done {
						break
					}
					if time.Since(started) > 2*time.Minute {
						b.Fatal("the restarted agent did not scrape its share within 2m")
					}
					time.Sleep(20 * time.Millisecond)
				}
				join += time.Since(started)
			}
			b.ReportMetric(kill.Seconds()/float64(b.N), "kill-to-coverage-s")
			b.ReportMetric(join.Seconds()/float64(b.N), "start-to-balanced-s")
		})
	}
}

// BenchmarkClusterIdleCost runs 10 agents idle (one prometheus.scrape with
// clustering and no targets) with and without --cluster.enabled, and
// reports each agent's CPU use, resident memory and gossip traffic over a
// 20-second window, read from the agents' own /metrics.
func BenchmarkClusterIdleCost(b *testing.B) {
	cfg := filepath.Join(b.TempDir(), "idle.river")
	os.WriteFile(cfg, []byte("prometheus.scrape \"idle\" {\n  targets = []\n  forward_to = []\n  clustering {\n    enabled = true\n  }\n}\n"), 0o644)
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("cluster=%v", on), func(b *testing.B) {
			const n = 10
			agents := make([]*flowproc.Process, n)
			names := make([]string, n)
			for i := range n {
				names[i] = fmt.Sprintf("idle-%02d", i)
				if on {
					var join []string
					if i > 0 {
						join = []string{agents[0].Addr()}
					}
					agents[i] = startAgent(b, names[i], cfg, join)
				} else {
					agents[i] = flowproc.Start(b, cfg)
				}
			}
			if on {
				waitParticipants(b, 60*time.Second, names, agents...)
			}
			time.Sleep(5 * time.Second) // past start-up
			b.ResetTimer()
			var cpu, rss, gossip float64
			for range b.N {
				before := make([]map[string]float64, n)
				for i, p := range agents {
					before[i] = scrapeOwnMetrics(b, p)
				}
				start := time.Now()
				time.Sleep(20 * time.Second)
				secs := time.Since(start).Seconds()
				for i, p := range agents {
					after := scrapeOwnMetrics(b, p)
					cpu += (after["process_cpu_seconds_total"] - before[i]["process_cpu_seconds_total"]) / secs
					rss += after["process_resident_memory_bytes"]
					for _, m := range []string{"cluster_transport_tx_bytes_total", "cluster_transport_stream_tx_bytes_total"} {
						gossip += (after[m] - before[i][m]) / secs
					}
				}
			}
			per := float64(b.N * n)
			b.ReportMetric(1000*cpu/per, "cpu-ms/s/peer")
			b.ReportMetric(rss/per/(1<<20), "rss-MiB/peer")
			b.ReportMetric(gossip/per, "gossip-tx-B/s/peer")
		})
	}
}

// scrapeOwnMetrics reads the unlabelled samples of an agent's /metrics.
func scrapeOwnMetrics(tb testing.TB, p *flowproc.Process) map[string]float64 {
	tb.Helper()
	resp, err := http.Get(p.URL() + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.Contains(line, "{") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out
}
