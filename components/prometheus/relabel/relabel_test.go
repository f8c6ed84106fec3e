package relabel

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/common/relabel"
	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/internal/promreg"
	"github.com/flow-telemetry/flow/runtime/component"
)

func rule(mod func(*relabel.Rule)) relabel.Rule {
	var r relabel.Rule
	r.SetToDefault()
	mod(&r)
	return r
}

func args(forward []storage.Appendable, rules ...relabel.Rule) Arguments {
	var a Arguments
	a.SetToDefault()
	a.ForwardTo = forward
	a.Rules = rules
	return a
}

var (
	addEnv    = rule(func(r *relabel.Rule) { r.TargetLabel = "env"; r.Replacement = "prod"; r.Regex = ".*" })
	dropDebug = rule(func(r *relabel.Rule) { r.Action = "drop"; r.SourceLabels = []string{"__name__"}; r.Regex = "debug_.*" })
)

func TestReceiverRelabelsAndDrops(t *testing.T) {
	rec := promtest.NewRecorder()
	opts, ex, reg := promtest.Options(t, "prometheus.relabel.test")
	c, err := New(opts, args([]storage.Appendable{rec}, addEnv, dropDebug))
	if err != nil {
		t.Fatal(err)
	}
	recv := ex.Last().(Exports).Receiver

	// Two transactions: the second passes back the references the first
	// returned, as the scrape cache does.
	refs := map[string]storage.SeriesRef{}
	for round := 0; round < 2; round++ {
		app := recv.Appender(context.Background())
		for _, name := range []string{"up", "debug_x", "node_load1"} {
			ref, err := app.Append(refs[name], labels.FromStrings("__name__", name, "instance", "a"), int64(1000*(round+1)), float64(round))
			if err != nil {
				t.Fatal(err)
			}
			if ref == 0 {
				t.Fatalf("%s: reference 0 returned; the scrape cache could not reuse it", name)
			}
			refs[name] = ref
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}

	got := rec.Samples()
	if len(got) != 4 {
		t.Fatalf("got %d samples, want 4 (debug_x dropped twice): %v", len(got), got)
	}
	for _, s := range got {
		if s.Labels.Get("env") != "prod" || strings.HasPrefix(s.Labels.Get("__name__"), "debug_") {
			t.Errorf("unexpected sample %v", s.Labels)
		}
	}
	if rec.RefMismatches != 0 {
		t.Errorf("%d appends reached the receiver with a reference of another series", rec.RefMismatches)
	}
	want := map[string]float64{
		"prometheus_relabel_metrics_processed": 6,
		"prometheus_relabel_metrics_written":   4,
		"prometheus_relabel_cache_misses":      3,
		"prometheus_relabel_cache_hits":        3,
		"prometheus_relabel_cache_size":        3,
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if w, ok := want[mf.GetName()]; ok {
			m := mf.GetMetric()[0]
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			if v != w {
				t.Errorf("%s = %v, want %v", mf.GetName(), v, w)
			}
			delete(want, mf.GetName())
		}
	}
	if len(want) != 0 {
		t.Errorf("metrics not registered: %v", want)
	}

	// New rules take effect at once: the cache of the old ones is gone, and
	// the receiver keeps its identity so senders need not be rebuilt.
	if err := c.Update(args([]storage.Appendable{rec}, dropDebug)); err != nil {
		t.Fatal(err)
	}
	if ex.Last().(Exports).Receiver != recv {
		t.Fatal("receiver changed identity on Update")
	}
	app := recv.Appender(context.Background())
	if _, err := app.Append(refs["up"], labels.FromStrings("__name__", "up", "instance", "a"), 3000, 1); err != nil {
		t.Fatal(err)
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	last := rec.Samples()[4]
	if last.Labels.Has("env") {
		t.Errorf("old rule still applied after Update: %v", last.Labels)
	}
}

func TestTargetsForm(t *testing.T) {
	opts, ex, _ := promtest.Options(t, "prometheus.relabel.ec2")
	a := args(nil,
		rule(func(r *relabel.Rule) {
			r.SourceLabels = []string{"__meta_ec2_instance_id"}
			r.TargetLabel = "instance_id"
		}),
		rule(func(r *relabel.Rule) {
			r.SourceLabels = []string{"__meta_ec2_tag_Name"}
			r.TargetLabel = "instance_name"
		}),
	)
	a.Targets = []map[string]string{
		{"__address__": "10.0.0.1:9100", "__meta_ec2_instance_id": "i-1", "__meta_ec2_tag_Name": "web"},
	}
	if _, err := New(opts, a); err != nil {
		t.Fatal(err)
	}
	got := ex.Last().(Exports).Output
	want := []map[string]string{{
		"__address__": "10.0.0.1:9100", "__meta_ec2_instance_id": "i-1", "__meta_ec2_tag_Name": "web",
		"instance_id": "i-1", "instance_name": "web",
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("output = %v, want %v", got, want)
	}
	if n := len(ex.Last().(Exports).Rules); n != 2 {
		t.Errorf("rules export has %d rules, want 2", n)
	}
}

func TestFanoutToTwoReceivers(t *testing.T) {
	a, b := promtest.NewRecorder(), promtest.NewRecorder()
	opts, ex, _ := promtest.Options(t, "prometheus.relabel.fan")
	if _, err := New(opts, args([]storage.Appendable{a, b}, addEnv)); err != nil {
		t.Fatal(err)
	}
	recv := ex.Last().(Exports).Receiver
	var ref storage.SeriesRef
	for i := 0; i < 3; i++ {
		app := recv.Appender(context.Background())
		var err error
		if ref, err = app.Append(ref, labels.FromStrings("__name__", "m"), int64(i), 1); err != nil {
			t.Fatal(err)
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if a.Len() != 3 || b.Len() != 3 || a.RefMismatches+b.RefMismatches != 0 {
		t.Errorf("receivers got %d and %d samples (%d ref mismatches), want 3 each", a.Len(), b.Len(), a.RefMismatches+b.RefMismatches)
	}
}

func TestInvalidArguments(t *testing.T) {
	opts, _, _ := promtest.Options(t, "prometheus.relabel.bad")
	a := args(nil, rule(func(r *relabel.Rule) { r.Action = "nope" }))
	if _, err := New(opts, a); err == nil || !strings.Contains(err.Error(), "unknown action") {
		t.Errorf("New = %v, want unknown action error", err)
	}
	a = args(nil)
	a.MaxCacheSize = 0
	if err := a.Validate(); err == nil {
		t.Error("max_cache_size 0 accepted")
	}
	a.CacheTTL = 5 * time.Second
	if err := a.Validate(); err != nil {
		t.Errorf("max_cache_size 0 with cache_ttl (Alloy's TTL mode) refused: %v", err)
	}
}

// BenchmarkRelabelWarmCache measures the per-sample cost of the receiver with
// five rules once every series is cached, forwarding to a receiver that does
// nothing, as a scrape loop calls it (passing back the returned references).
func BenchmarkRelabelWarmCache(b *testing.B) {
	const series = 10_000
	opts, ex, _ := promtest.Options(b, "prometheus.relabel.bench")
	recv, lsets, refs := warmBench(b, opts, ex, series)
	b.ReportAllocs()
	b.ResetTimer()
	app := recv.Appender(context.Background())
	for i := 0; i < b.N; i++ {
		j := i % series
		refs[j], _ = app.Append(refs[j], lsets[j], int64(i), 1)
		if j == series-1 {
			_ = app.Commit()
			app = recv.Appender(context.Background())
		}
	}
	_ = app.Commit()
}

// warmBench starts a prometheus.relabel with the benchmarks' five rules,
// forwarding to a receiver that does nothing, and sends series distinct
// series through it once so that every one is cached. It returns its
// receiver, the series, and their references to pass back.
func warmBench(b *testing.B, opts component.Options, ex *promtest.Exports, series int) (storage.Appendable, []labels.Labels, []storage.SeriesRef) {
	b.Helper()
	rules := []relabel.Rule{
		addEnv,
		dropDebug,
		rule(func(r *relabel.Rule) {
			r.SourceLabels = []string{"instance"}
			r.Regex = "([^:]+):.*"
			r.TargetLabel = "host"
		}),
		rule(func(r *relabel.Rule) { r.Action = "labeldrop"; r.Regex = "tmp_.*" }),
		rule(func(r *relabel.Rule) { r.Action = "lowercase"; r.SourceLabels = []string{"job"}; r.TargetLabel = "job" }),
	}
	if _, err := New(opts, args([]storage.Appendable{nopAppendable{}}, rules...)); err != nil {
		b.Fatal(err)
	}
	recv := ex.Last().(Exports).Receiver
	lsets := make([]labels.Labels, series)
	for i := range lsets {
		lsets[i] = labels.FromStrings("__name__", fmt.Sprintf("metric_%d", i%100), "instance", "10.0.0.1:9100", "job", "Node", "series", fmt.Sprint(i))
	}
	refs := make([]storage.SeriesRef, series)
	app := recv.Appender(context.Background())
	for i, l := range lsets {
		refs[i], _ = app.Append(refs[i], l, 1, 1)
	}
	_ = app.Commit()
	return recv, lsets, refs
}

type nopAppendable struct{}

func (nopAppendable) Appender(context.Context) storage.Appender { return nopApp{} }

type nopApp struct{ storage.Appender }

func (nopApp) Append(ref storage.SeriesRef, _ labels.Labels, _ int64, _ float64) (storage.SeriesRef, error) {
	return 7, nil
}
func (nopApp) Commit() error                     { return nil }
func (nopApp) SetOptions(*storage.AppendOptions) {}

// The five metrics are registered as one collector (one registration per
// component), labelled with the component's ID as the runtime wraps the
// registerer, and unregistering what was registered takes all five back,
// as the runtime does when the component is removed.
func TestMetricsRegisterAndUnregisterTogether(t *testing.T) {
	opts, _, reg := promtest.Options(t, "prometheus.relabel.test")
	tracking := promreg.NewTracking(prometheus.WrapRegistererWith(prometheus.Labels{"component_id": "prometheus.relabel.test"}, reg))
	opts.Registerer = tracking
	if _, err := New(opts, args(nil, addEnv)); err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != "prometheus.relabel.test" {
					t.Fatalf("%s has labels %v, want component_id only", mf.GetName(), m.GetLabel())
				}
			}
			out = append(out, mf.GetName())
		}
		return out
	}
	want := []string{"prometheus_relabel_cache_hits", "prometheus_relabel_cache_misses", "prometheus_relabel_cache_size", "prometheus_relabel_metrics_processed", "prometheus_relabel_metrics_written"}
	if got := names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("registered %v, want %v", got, want)
	}
	tracking.UnregisterAll()
	if got := names(); len(got) != 0 {
		t.Fatalf("%v still registered after UnregisterAll", got)
	}
}
