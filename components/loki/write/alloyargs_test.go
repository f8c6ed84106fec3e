package write

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
)

// queue_config { capacity } bounds what an endpoint holds without a WAL:
// once full, Send waits (pushing back on the source) instead of growing.
func TestQueueCapacityPushesBack(t *testing.T) {
	lk := startLoki(t)
	lk.Fail(503, 1<<30, "down") // every push fails: the queue only fills
	args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) {
		e.QueueConfig.Capacity = 4 << 10
		e.MaxBackoffRetries = 1000
	}))
	args.WAL.Enabled = false
	h := start(t, "", args)
	defer lk.Recover()

	accepted := 0
	for i := 0; i < 200; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := h.recv.Send(ctx, []loki.Entry{entry(fmt.Sprintf("%03d-%s", i, strings.Repeat("z", 200)), time.Unix(int64(i), 0), model.LabelSet{"job": "q"})})
		cancel()
		if err != nil {
			break
		}
		accepted++
	}
	// 4 KiB holds at most ~20 encoded entries of ~200 bytes, plus the batch
	// the worker has in hand.
	if accepted == 200 || accepted > 60 {
		t.Fatalf("%d entries accepted with a 4 KiB queue and Loki down: the queue did not push back", accepted)
	}
	lk.Recover()
	if err := lk.WaitForEntries(int64(accepted), 30*time.Second); err != nil {
		t.Fatalf("queued entries not delivered once Loki recovered: %v", err)
	}
}

// At shutdown an endpoint gives up after its drain timeout (wal >
// drain_timeout with the WAL, queue_config > drain_timeout without), not
// after a fixed 15 s.
func TestDrainTimeouts(t *testing.T) {
	for _, withWAL := range []bool{true, false} {
		t.Run(fmt.Sprintf("wal=%v", withWAL), func(t *testing.T) {
			lk := startLoki(t)
			lk.Fail(503, 1<<30, "down")
			defer lk.Recover()
			args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) {
				e.QueueConfig.DrainTimeout = 300 * time.Millisecond
				e.MaxBackoffRetries = 1000
			}))
			args.WAL.Enabled = withWAL
			args.WAL.DrainTimeout = 300 * time.Millisecond
			dir := ""
			if withWAL {
				dir = t.TempDir()
			}
			h := start(t, dir, args)
			h.send(entry("stuck", time.Unix(1, 0), model.LabelSet{"job": "d"}))
			time.Sleep(200 * time.Millisecond)
			began := time.Now()
			h.stop()
			if d := time.Since(began); d > 8*time.Second {
				t.Fatalf("shutdown took %s with a 300ms drain timeout", d)
			}
		})
	}
}

func TestWALReadFrequencies(t *testing.T) {
	a := defaultArgs()
	a.WAL.MinReadFrequency, a.WAL.MaxReadFrequency = time.Second, time.Second
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "min_read_frequency must be lower") {
		t.Fatalf("min = max accepted: %v", err)
	}
	// Setting them is accepted and explained once.
	a.WAL.MinReadFrequency, a.WAL.MaxReadFrequency = 100*time.Millisecond, 2*time.Second
	var logs flowproc.LockedBuffer
	h := startWithLogger(t, t.TempDir(), a, slog.New(slog.NewTextHandler(&logs, nil)))
	h.stop()
	if n := strings.Count(logs.String(), "min_read_frequency and max_read_frequency have no effect"); n != 1 {
		t.Fatalf("warning logged %d times, want once:\n%s", n, logs.String())
	}
}

// queue_config > min_shards must be at least 1.
func TestQueueMinShardsValidated(t *testing.T) {
	a := defaultArgs(endpointArgs("http://127.0.0.1:9/loki/api/v1/push", func(e *EndpointArgs) { e.QueueConfig.MinShards = 0 }))
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "min_shards") {
		t.Fatalf("min_shards = 0 accepted: %v", err)
	}
	a = defaultArgs(endpointArgs("http://127.0.0.1:9/loki/api/v1/push", func(e *EndpointArgs) { e.QueueConfig.MinShards = 4 }))
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
}

// wal > max_backlog_size: once an endpoint's undelivered WAL bytes pass it,
// Send refuses with loki.ErrFull (nothing appended), the receiver reports
// full before any work, health says why; delivery brings it back.
func TestMaxBacklogSizeRefusesSends(t *testing.T) {
	lk := startLoki(t)
	lk.Down()
	args := defaultArgs(endpointArgs(lk.URL(), nil))
	args.WAL.MaxBacklogSize = 8 << 10
	dir := t.TempDir()
	h := start(t, dir, args)
	var refused error
	accepted := 0
	for i := 0; i < 200; i++ {
		err := h.recv.Send(context.Background(), []loki.Entry{entry(fmt.Sprintf("%03d-%s", i, strings.Repeat("z", 200)), time.Unix(int64(i), 0), model.LabelSet{"job": "bp"})})
		if err != nil {
			refused = err
			break
		}
		accepted++
	}
	if !errors.Is(refused, loki.ErrFull) {
		t.Fatalf("after %d sends with Loki down and an 8 KiB bound: %v, want loki.ErrFull", accepted, refused)
	}
	if accepted > 60 {
		t.Fatalf("%d entries of ~200 bytes accepted over an 8 KiB bound", accepted)
	}
	if loki.RetryAfter(refused, 0) <= 0 {
		t.Fatal("no Retry-After in the refusal")
	}
	if err := loki.Full([]loki.LogsReceiver{h.recv}); !errors.Is(err, loki.ErrFull) {
		t.Fatalf("receiver does not report full: %v", err)
	}
	if hl := h.c.CurrentHealth(); hl.Health != component.HealthUnhealthy || !strings.Contains(hl.Message, "max_backlog_size") {
		t.Fatalf("health %s: %s", hl.Health, hl.Message)
	}
	walBytes := testutil.ToFloat64(h.c.m.walBytes)
	if err := h.recv.Send(context.Background(), []loki.Entry{entry("refused", time.Unix(0, 0), model.LabelSet{"job": "bp"})}); err == nil {
		t.Fatal("a send was accepted while full")
	}
	if testutil.ToFloat64(h.c.m.walBytes) != walBytes {
		t.Fatal("a refused send was written to the WAL")
	}
	if err := lk.Up(); err != nil {
		t.Fatal(err)
	}
	if err := lk.WaitForEntries(int64(accepted), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 30*time.Second, func() bool { return loki.Full([]loki.LogsReceiver{h.recv}) == nil }, "still full after delivery")
	h.send(entry("after", time.Unix(1000, 0), model.LabelSet{"job": "bp"}))
}
