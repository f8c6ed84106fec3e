package remotewrite

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/agent"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/components/prometheus/internal/rwtest"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// TestDeliversAgentWAL is an upgrade: the data directory of a flow that
// wrote its WAL with tsdb/agent and stopped with samples undelivered (its
// delivery marker before them). This flow opens that WAL with its own
// writer, delivers the old samples, and appends new ones to the same
// series, which continue in order.
func TestDeliversAgentWAL(t *testing.T) {
	r := rwtest.Start(t)
	args := testArgs(r.URL())
	opts, ex, _ := promtest.Options(t, "prometheus.remote_write.upgrade")

	const series, oldTicks, newTicks = 50, 20, 10
	lset := make([]labels.Labels, series)
	for i := range lset {
		lset[i] = labels.FromStrings("__name__", "upgrade_metric", "series", fmt.Sprint(i))
	}
	t0 := time.Now().Add(-time.Minute).UnixMilli()
	// The earlier flow: agent's WAL with undelivered samples, and the
	// endpoint's marker just before them.
	adb, err := agent.Open(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), nil, opts.DataPath, agent.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for tick := range int64(oldTicks) {
		app := adb.Appender(context.Background())
		for _, l := range lset {
			if _, err := app.Append(0, l, t0+tick*100, float64(tick)); err != nil {
				t.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := adb.Close(); err != nil {
		t.Fatal(err)
	}
	mf, _, _, err := openMarkerFile(opts.DataPath, args.Endpoints[0].queueName())
	if err != nil {
		t.Fatal(err)
	}
	if err := mf.write(t0-1, t0-1); err != nil {
		t.Fatal(err)
	}
	_ = mf.close()

	c, err := New(opts, args)
	if err != nil {
		t.Fatal(err)
	}
	promtest.Run(t, c)
	recv := ex.Last().(Exports).Receiver
	t1 := time.Now().UnixMilli()
	for tick := range int64(newTicks) {
		app := recv.Appender(context.Background())
		for _, l := range lset {
			if _, err := app.Append(0, l, t1+tick*100, float64(oldTicks+tick)); err != nil {
				t.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	missing := func() (n int, example string) {
		for _, l := range lset {
			for tick := range int64(oldTicks) {
				if !r.Has(l.String(), t0+tick*100) {
					n, example = n+1, fmt.Sprintf("%s@%d (old)", l, t0+tick*100)
				}
			}
			for tick := range int64(newTicks) {
				if !r.Has(l.String(), t1+tick*100) {
					n, example = n+1, fmt.Sprintf("%s@%d (new)", l, t1+tick*100)
				}
			}
		}
		return n, example
	}
	if _, ok := testwait.Poll(60*time.Second, func() bool { n, _ := missing(); return n == 0 }); !ok {
		n, example := missing()
		t.Fatalf("%d of %d samples never arrived, e.g. %s", n, series*(oldTicks+newTicks), example)
	}
	if st := r.Stats(); len(st.SpecViolations) > 0 {
		t.Errorf("spec violations: %v", st.SpecViolations)
	}
}
