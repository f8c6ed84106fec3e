package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flow-telemetry/flow/internal/childproc"
	"github.com/golang/snappy"
	"google.golang.org/protobuf/encoding/protowire"
)

// target serves a fixed text exposition of n series.
type target struct {
	ln   net.Listener
	srv  *http.Server
	body []byte
}

func startTarget(n int) (*target, error) {
	var b bytes.Buffer
	families := 100
	for f := 0; f < families; f++ {
		fmt.Fprintf(&b, "# HELP bench_metric_%d A synthetic series family.\n# TYPE bench_metric_%d gauge\n", f, f)
		for i := f; i < n; i += families {
			fmt.Fprintf(&b, "bench_metric_%d{instance_id=\"i-%08d\",zone=\"zone-%d\",series=\"%d\"} %d\n", f, i/1000, i%3, i, i)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &target{ln: ln, body: b.Bytes()}
	t.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(t.body)))
		_, _ = w.Write(t.body)
	})}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

func (t *target) addr() string { return t.ln.Addr().String() }
func (t *target) close()       { _ = t.srv.Close() }

// receiver counts the samples of Remote-Write 1.0 requests.
type receiver struct {
	ln    net.Listener
	srv   *http.Server
	count atomic.Int64
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{ln: ln}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.handle)}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) url() string    { return "http://" + r.ln.Addr().String() + "/api/v1/write" }
func (r *receiver) samples() int64 { return r.count.Load() }
func (r *receiver) close()         { _ = r.srv.Close() }

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		http.Error(w, "bad snappy: "+err.Error(), http.StatusBadRequest)
		return
	}
	v2 := strings.Contains(req.Header.Get("Content-Type"), "io.prometheus.write.v2.Request")
	var n int
	if v2 {
		n, err = countSamples(raw, 5)
	} else {
		n, err = countSamples(raw, 1)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.count.Add(int64(n))
	if v2 {
		w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", strconv.Itoa(n))
		w.Header().Set("X-Prometheus-Remote-Write-Histograms-Written", "0")
		w.Header().Set("X-Prometheus-Remote-Write-Exemplars-Written", "0")
	}
	w.WriteHeader(http.StatusNoContent)
}

// countSamples counts the samples of a remote-write request without decoding
// it: the request's time series are field seriesField (1 in RW 1.0's
// prometheus.WriteRequest, 5 in RW 2.0's io.prometheus.write.v2.Request), and
// TimeSeries.samples is field 2 in both; everything else is skipped.
func countSamples(b []byte, seriesField int) (int, error) {
	n := 0
	err := fields(b, func(num int, payload []byte) error {
		if num != seriesField {
			return nil
		}
		return fields(payload, func(num int, _ []byte) error {
			if num == 2 {
				n++
			}
			return nil
		})
	})
	return n, err
}

// fields calls f for each length-delimited field of a protobuf message and
// skips the others.
func fields(b []byte, f func(num int, payload []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return protowire.ParseError(m)
		}
		if typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			if err := f(int(num), v); err != nil {
				return err
			}
		}
		b = b[m:]
	}
	return nil
}

// process is a started flow or Prometheus.
type process struct {
	// metricsURL is the process's own /metrics, for -verbose.
	metricsURL string
	cmd        *exec.Cmd
	log        string
	done       chan error
	err        error
}

func startProcess(dir, bin string, env []string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, "out.log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := childproc.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &process{cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	return p, nil
}

func (p *process) exited() error {
	select {
	case err := <-p.done:
		p.err = fmt.Errorf("process exited: %v", err)
		p.done <- err
		return p.err
	default:
		return nil
	}
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// cpuSeconds is user+system CPU time of the process from /proc/<pid>/stat.
func (p *process) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after its ')' are
	// state (3), …, utime (14), stime (15).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad /proc stat")
	}
	return (ut + st) / float64(clockTicks), nil
}

// clockTicks is USER_HZ, 100 on Linux.
const clockTicks = 100

// peakRSS is VmHWM in bytes.
func (p *process) peakRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmHWM:") {
			fs := strings.Fields(sc.Text())
			kb, err := strconv.ParseInt(fs[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// relabelRules are the rules of -relabel: add a label, a drop rule that
// keeps everything, and a label derived from the route, as prometheus.relabel
// blocks (flow) and metric_relabel_configs (the agent).
const (
	flowRelabel = `
prometheus.relabel "bench" {
  forward_to = [prometheus.remote_write.bench.receiver]
  rule {
    target_label = "cluster"
    replacement  = "eu-west-1"
  }
  rule {
    action        = "drop"
    source_labels = ["__name__"]
    regex         = "go_.*"
  }
  rule {
    source_labels = ["route"]
    regex         = "/v1/(.*)"
    target_label  = "handler"
    replacement   = "$1"
  }
}
`
	agentRelabel = `    metric_relabel_configs:
      - target_label: cluster
        replacement: eu-west-1
      - action: drop
        source_labels: [__name__]
        regex: go_.*
      - source_labels: [route]
        regex: /v1/(.*)
        target_label: handler
        replacement: $1
`
)

func startFlow(bin, dir string, targetAddrs []string, recvURL, gogc, protocol string, relabel bool) (*process, error) {
	var tl []string
	for _, a := range targetAddrs {
		tl = append(tl, fmt.Sprintf("{\"__address__\" = %q}", a))
	}
	proto := ""
	if protocol == "v2" {
		proto = "\n    protobuf_message = \"io.prometheus.write.v2.Request\""
	}
	forward, extra := "prometheus.remote_write.bench.receiver", ""
	if relabel {
		forward, extra = "prometheus.relabel.bench.receiver", flowRelabel
	}
	cfg := fmt.Sprintf(`prometheus.scrape "bench" {
  targets         = [%s]
  forward_to      = [%s]
  scrape_interval = "1s"
  scrape_timeout  = "1s"
}

prometheus.remote_write "bench" {
  endpoint {
    url = %q%s
  }
}
%s`, strings.Join(tl, ", "), forward, recvURL, proto, extra)
	path := filepath.Join(dir, "bench.river")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	var env []string
	if gogc != "" {
		env = append(env, "GOGC="+gogc)
	}
	p, err := startProcess(dir, bin, env, "run", "--server.http.listen-addr="+addr,
		"--storage.path="+filepath.Join(dir, "data"), "--log.level=warn", path)
	if p != nil {
		p.metricsURL = "http://" + addr + "/metrics"
	}
	return p, err
}

func startAgent(bin, dir string, targetAddrs []string, recvURL string, relabel bool) (*process, error) {
	extra := ""
	if relabel {
		extra = agentRelabel
	}
	quoted := make([]string, len(targetAddrs))
	for i, a := range targetAddrs {
		quoted[i] = strconv.Quote(a)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: bench
    static_configs:
      - targets: [%s]
%sremote_write:
  - url: %q
`, strings.Join(quoted, ", "), extra, recvURL)
	path := filepath.Join(dir, "agent.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := startProcess(dir, bin, nil, "--enable-feature=agent", "--config.file="+path,
		"--storage.agent.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	if p != nil {
		p.metricsURL = "http://" + addr + "/metrics"
	}
	return p, err
}

// keyMetrics returns the lines of the process's /metrics that explain its
// throughput: scrape duration and size, queue shards and pending samples.
func (p *process) keyMetrics() string {
	resp, err := http.Get(p.metricsURL)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		for _, k := range []string{"scrape_duration_seconds", "scrape_samples_scraped", "prometheus_remote_storage_shards ", "prometheus_remote_storage_shards{",
			"prometheus_remote_storage_samples_pending", "prometheus_remote_storage_shards_desired", "prometheus_target_scrapes_exceeded",
			"prometheus_remote_storage_samples_total", "prometheus_target_interval_length_seconds_count", "prometheus_target_scrapes_sample_out_of_order",
			"go_memstats_heap_inuse_bytes", "go_gc_duration_seconds_count", "prometheus_remote_storage_samples_dropped", "prometheus_remote_storage_samples_failed"} {
			if strings.HasPrefix(l, k) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// saveProfile saves a CPU profile of the process (its /debug/pprof) to path.
func (p *process) saveProfile(path string, d time.Duration) {
	p.savePprof(path, fmt.Sprintf("profile?seconds=%d", int(d.Seconds())))
}

// saveHeapProfile saves the process's heap profile (in-use and allocated
// memory) to path.
func (p *process) saveHeapProfile(path string) { p.savePprof(path, "heap") }

// savePprof saves the process's /debug/pprof/<what> to path. A profile is a
// by-product of a benchmark run: one that cannot be fetched is left out.
func (p *process) savePprof(path, what string) {
	resp, err := http.Get(strings.TrimSuffix(p.metricsURL, "/metrics") + "/debug/pprof/" + what)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}
