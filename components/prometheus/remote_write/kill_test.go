package remotewrite

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promproc"
	"github.com/flow-telemetry/flow/components/prometheus/internal/rwtest"
	"github.com/flow-telemetry/flow/internal/childproc"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
)

// TestMain lets the test binary act as a flow process for the kill tests:
// with FLOW_RW_CHILD set it runs prometheus.remote_write on a data
// directory, appends samples every 50 ms and logs each committed sample,
// until SIGTERM (a clean stop) or SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("FLOW_RW_CHILD") != "" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

func runChild() int {
	dataPath, url, logPath := os.Getenv("FLOW_RW_DATA"), os.Getenv("FLOW_RW_URL"), os.Getenv("FLOW_RW_LOG")
	series, _ := strconv.Atoi(os.Getenv("FLOW_RW_SERIES"))
	interval := 50 * time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("FLOW_RW_TICK")); err == nil {
		interval = d
	}
	level := slog.LevelWarn
	if os.Getenv("FLOW_RW_LOG_INFO") != "" {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	args := testArgs(url)
	var recv *Receiver
	c, err := New(component.Options{
		ID: "prometheus.remote_write.child", Logger: logger, Registerer: prometheus.NewRegistry(), DataPath: dataPath,
		OnStateChange: func(e component.Exports) { recv = e.(Exports).Receiver.(*Receiver) },
	}, args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	lset := make([]labels.Labels, series)
	for i := range lset {
		lset[i] = labels.FromStrings("__name__", "test_metric", "series", strconv.Itoa(i))
	}
	// Timestamps strictly increase across ticks and restarts even if the
	// wall clock steps back (other tests on the machine may set it).
	var last int64
	if b, err := os.ReadFile(logPath); err == nil {
		for _, l := range strings.Fields(string(b)) {
			if v, err := strconv.ParseInt(l, 10, 64); err == nil && v > last {
				last = v
			}
		}
	}
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return 0
		case <-tk.C:
		}
		ts := max(time.Now().UnixMilli(), last+1)
		last = ts
		app := recv.Appender(context.Background())
		for _, l := range lset {
			if _, err := app.Append(0, l, ts, float64(ts)); err != nil {
				fmt.Fprintln(os.Stderr, "child append:", err)
				return 1
			}
		}
		if err := app.Commit(); err != nil {
			fmt.Fprintln(os.Stderr, "child commit:", err)
			return 1
		}
		// Logged once in the WAL; the page cache keeps it across SIGKILL.
		if _, err := fmt.Fprintf(f, "%d\n", ts); err != nil {
			return 1
		}
	}
}

type child struct {
	cmd  *exec.Cmd
	done chan error
}

func startChild(t *testing.T, dataPath, url, logPath string, series int) *child {
	t.Helper()
	return startChildWith(t, &testLogWriter{t: t}, dataPath, url, logPath, series)
}

// startChildWith starts a child whose log goes to stderr, with extra
// environment (FLOW_RW_TICK, FLOW_RW_LOG_INFO).
func startChildWith(t *testing.T, stderr io.Writer, dataPath, url, logPath string, series int, env ...string) *child {
	t.Helper()
	cmd := childproc.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "FLOW_RW_CHILD=1", "FLOW_RW_DATA="+dataPath, "FLOW_RW_URL="+url,
		"FLOW_RW_LOG="+logPath, "FLOW_RW_SERIES="+strconv.Itoa(series)), env...)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &child{cmd: cmd, done: make(chan error, 1)}
	go func() { ch.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-ch.done
		ch.done <- nil
	})
	return ch
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-c.done
	c.done <- err
}

func (c *child) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.done:
		c.done <- err
		if err != nil {
			t.Fatalf("child exited with %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("child did not stop within 60s")
	}
}

// committed reads the child's log: the timestamps of every committed tick.
func committed(t *testing.T, path string) []int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// A line cut by SIGKILL is not a complete record; ignore it.
		if v, err := strconv.ParseInt(strings.TrimSpace(sc.Text()), 10, 64); err == nil {
			out = append(out, v)
		}
	}
	return out
}

type testLogWriter struct{ t *testing.T }

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestKill9LosesNothing kills the process twice: once while sending to a
// healthy receiver (batches in flight, some delivered, some not), once in
// the middle of a receiver outage (everything since the outage began
// undelivered). Each restart replays what the WAL holds beyond the
// endpoint's delivery marker. Every sample committed before a kill arrives.
func TestKill9LosesNothing(t *testing.T) {
	testwait.Long(t, "kill -9 of a flow binary mid-delivery")
	const series = 50
	r := rwtest.Start(t)
	data, logPath := t.TempDir(), filepath.Join(t.TempDir(), "committed.log")

	c1 := startChild(t, data, r.URL(), logPath, series)
	promtestWait(t, 20*time.Second, func() bool { return r.Stats().Samples > series*20 })
	c1.kill(t)

	c2 := startChild(t, data, r.URL(), logPath, series)
	promtestWait(t, 20*time.Second, func() bool { return r.Stats().Samples > series*80 })
	r.Stop()
	time.Sleep(3 * time.Second) // commits pile up undelivered
	c2.kill(t)
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}

	c3 := startChild(t, data, r.URL(), logPath, series)
	time.Sleep(3 * time.Second)
	c3.stop(t)

	ts := committed(t, logPath)
	if len(ts) < 100 {
		t.Fatalf("only %d ticks committed", len(ts))
	}
	var missing []string
	for _, tick := range ts {
		for i := 0; i < series; i++ {
			key := labels.FromStrings("__name__", "test_metric", "series", strconv.Itoa(i)).String()
			if !r.Has(key, tick) {
				missing = append(missing, fmt.Sprintf("%s@%d", key, tick))
			}
		}
	}
	st := r.Stats()
	if len(missing) > 0 {
		t.Fatalf("%d of %d committed samples never arrived, e.g. %v", len(missing), len(ts)*series, missing[:min(5, len(missing))])
	}
	if len(st.SpecViolations) > 0 {
		t.Errorf("spec violations: %v", st.SpecViolations)
	}
	t.Logf("%d samples committed across two kill -9 and a clean stop, all delivered; %d delivered more than once", len(ts)*series, st.Duplicates)
}

// TestKill9ToPrometheus is the same against Debian's Prometheus, which
// rejects a whole request if one sample is older than what it holds for the
// series: the replay must not resend what was delivered in a way that makes
// it drop what was not.
func TestKill9ToPrometheus(t *testing.T) {
	testwait.Long(t, "kill -9 of a flow binary sending to Prometheus")
	const series = 20
	prom := promproc.StartPrometheus(t)
	url := prom.URL() + "/api/v1/write"
	data, logPath := t.TempDir(), filepath.Join(t.TempDir(), "committed.log")

	for i := 0; i < 3; i++ {
		c := startChild(t, data, url, logPath, series)
		time.Sleep(4 * time.Second)
		c.kill(t)
	}
	c := startChild(t, data, url, logPath, series)
	time.Sleep(4 * time.Second)
	c.stop(t)

	ts := committed(t, logPath)
	want := map[int64]bool{}
	for _, v := range ts {
		want[v] = true
	}
	span := time.Since(time.UnixMilli(ts[0])) + time.Minute
	for i := 0; i < series; i++ {
		got := rangeTimestamps(t, prom, fmt.Sprintf(`test_metric{series="%d"}[%ds]`, i, int(span.Seconds())))
		var missing []int64
		for _, v := range ts {
			if !got[v] {
				missing = append(missing, v)
			}
		}
		if len(missing) > 0 {
			t.Fatalf("series %d: %d of %d committed samples missing in Prometheus, e.g. %v", i, len(missing), len(ts), missing[:min(5, len(missing))])
		}
	}
	t.Logf("%d ticks × %d series committed across three kill -9 and a clean stop, all in Prometheus", len(ts), series)
}

func promtestWait(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	testwait.Eventually(t, d, cond, "condition not met within %s", d)
}

func rangeTimestamps(t *testing.T, p *promproc.Process, q string) map[int64]bool {
	t.Helper()
	res, err := promproc.QueryMatrix(p, q)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]bool{}
	for _, s := range res {
		for _, ts := range s {
			out[ts] = true
		}
	}
	return out
}
