package wal

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/agent"
)

// TestMetricNamesAsAgent: the writer registers every metric tsdb/agent
// registers (its own, the lock's and the WAL's), under the same names and
// label names, so dashboards keep working; and it unregisters its own on
// Close.
func TestMetricNamesAsAgent(t *testing.T) {
	gather := func(reg *prometheus.Registry) []string {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				name := mf.GetName()
				for _, l := range m.GetLabel() {
					name += " " + l.GetName() + "=" + l.GetValue()
				}
				out = append(out, name)
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	use := func(app storage.Appendable) {
		a := app.Appender(context.Background())
		if _, err := a.Append(0, lblA, time.Now().UnixMilli(), 1); err != nil {
			t.Fatal(err)
		}
		if err := a.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	areg := prometheus.NewRegistry()
	adb, err := agent.Open(slog.New(slog.DiscardHandler), areg, nil, t.TempDir(), agent.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	use(adb)
	want := gather(areg)
	_ = adb.Close()

	db, reg := openTest(t, t.TempDir(), Options{}, nil)
	use(db)
	got := gather(reg)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("agent registers %q, this writer does not", w)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, g := range gather(reg) {
		if len(g) > len("prometheus_agent_") && g[:len("prometheus_agent_")] == "prometheus_agent_" && g != "prometheus_agent_clean_start" {
			t.Errorf("%s still registered after Close", g)
		}
	}
}
