package write

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
)

// backlogMetric reads one endpoint's backlog gauge from the registry.
func backlogMetric(t *testing.T, h *harness, name string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found (or not one series)", name)
	return 0
}

// The backlog (entries, bytes, oldest entry's age) is in metrics, debug
// info and health while Loki is down; it is counted again from the WAL
// after a restart, and empties once delivered.
func TestBacklogShownAndCountedAcrossRestarts(t *testing.T) {
	lk := startLoki(t)
	lk.Down()
	dir := t.TempDir()
	args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) { e.Name = "main" }))
	h := start(t, dir, args)
	sent := time.Now()
	for i := 0; i < 5; i++ {
		var batch []string
		for j := 0; j < 10; j++ {
			batch = append(batch, fmt.Sprintf("%d-%d-%s", i, j, strings.Repeat("b", 100)))
		}
		for _, l := range batch {
			h.send(entry(l, time.Unix(int64(i), 0), model.LabelSet{"job": "bl"}))
		}
	}
	// The backlog is counted as the entries reach the WAL, after Send
	// returns: wait for all 50 (a sleep was too short under load). More
	// than 50 never matches, so an overcount still fails.
	var n float64
	if _, ok := testwait.Poll(30*time.Second, func() bool { n = backlogMetric(t, h, "loki_write_backlog_entries"); return n == 50 }); !ok {
		t.Fatalf("backlog entries %v, want 50", n)
	}
	walBytes := testutil.ToFloat64(h.c.m.walBytes)
	if n := backlogMetric(t, h, "loki_write_backlog_bytes"); n != walBytes {
		t.Fatalf("backlog bytes %v, want the %v bytes written to the WAL", n, walBytes)
	}
	// The oldest entry was accepted after sent: its age is positive and at
	// most the time since.
	if age := backlogMetric(t, h, "loki_write_backlog_oldest_age_seconds"); age <= 0 || age > time.Since(sent).Seconds() {
		t.Fatalf("oldest age %vs, want in (0, %v]", age, time.Since(sent).Seconds())
	}
	d := h.c.DebugInfo().(DebugInfo)
	if ep := d.Endpoints[0]; ep.BacklogEntries != 50 || ep.OldestUndelivered == "" {
		t.Fatalf("debug info %+v", ep)
	}
	hl := waitHealth(t, h.c, component.HealthUnhealthy, 10*time.Second)
	if !strings.Contains(hl.Message, "50 entries") || !strings.Contains(hl.Message, "not yet delivered") {
		t.Fatalf("health does not show the backlog: %s", hl.Message)
	}
	h.stop()

	// After a restart the backlog left in the WAL is counted.
	h2 := start(t, dir, args)
	if n := backlogMetric(t, h2, "loki_write_backlog_entries"); n != 50 {
		t.Fatalf("backlog entries after restart %v, want 50", n)
	}
	if age := backlogMetric(t, h2, "loki_write_backlog_oldest_age_seconds"); age <= 0 {
		t.Fatalf("oldest age after restart %vs", age)
	}
	if err := lk.Up(); err != nil {
		t.Fatal(err)
	}
	if err := lk.WaitForEntries(50, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 30*time.Second, func() bool {
		return backlogMetric(t, h2, "loki_write_backlog_entries") == 0 && backlogMetric(t, h2, "loki_write_backlog_oldest_age_seconds") == 0
	}, "backlog not empty after delivery")
	waitHealth(t, h2.c, component.HealthHealthy, 30*time.Second)
}

// An endpoint whose pushes succeed but too slowly (its oldest undelivered
// entry older than stallAge) is unhealthy, saying it is behind.
func TestSlowDeliveryIsUnhealthy(t *testing.T) {
	old := stallAge
	stallAge = 200 * time.Millisecond
	defer func() { stallAge = old }()
	c := &concurrency{delay: 1500 * time.Millisecond}
	lk := startConcurrentLoki(t, c)
	h := start(t, t.TempDir(), defaultArgs(endpointArgs(lk.URL(), nil)))
	h.send(entry("slow", time.Unix(1, 0), model.LabelSet{"job": "slow"}))
	hl := waitHealth(t, h.c, component.HealthUnhealthy, 10*time.Second)
	if !strings.Contains(hl.Message, "delivery is behind") || !strings.Contains(hl.Message, "1 entry") {
		t.Fatalf("health: %s", hl.Message)
	}
	if err := lk.WaitForEntries(1, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, h.c, component.HealthHealthy, 10*time.Second)
}

// Without the WAL the memory queue's backlog is shown the same way.
func TestBacklogWithoutWAL(t *testing.T) {
	lk := startLoki(t)
	lk.Fail(503, 1<<30, "down")
	defer lk.Recover()
	args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) { e.MaxBackoffRetries = 1000 }))
	args.WAL.Enabled = false
	h := start(t, "", args)
	for i := 0; i < 7; i++ {
		h.send(entry(fmt.Sprint(i), time.Unix(int64(i), 0), model.LabelSet{"job": "q"}))
	}
	if n := backlogMetric(t, h, "loki_write_backlog_entries"); n != 7 {
		t.Fatalf("backlog entries %v, want 7", n)
	}
	if n := backlogMetric(t, h, "loki_write_backlog_bytes"); n <= 0 {
		t.Fatalf("backlog bytes %v", n)
	}
	lk.Recover()
	if err := lk.WaitForEntries(7, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 30*time.Second, func() bool { return backlogMetric(t, h, "loki_write_backlog_entries") == 0 },
		"backlog not empty after delivery")
}
