package relabel

import (
	"context"
	"errors"
	"testing"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/common/relabel"
	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/runtime/component"
)

func rule(f func(r *relabel.Rule)) relabel.Rule {
	var r relabel.Rule
	r.SetToDefault()
	f(&r)
	return r
}

func build(t *testing.T, args Arguments) (*Component, *Exports) {
	t.Helper()
	var exp Exports
	c, err := New(component.Options{
		Registerer:    prometheus.NewRegistry(),
		OnStateChange: func(e component.Exports) { exp = e.(Exports) },
	}, args)
	if err != nil {
		t.Fatal(err)
	}
	return c, &exp
}

func entry(line string, ls model.LabelSet) loki.Entry {
	return loki.Entry{Labels: ls, Entry: push.Entry{Line: line}}
}

func TestRelabelRewritesAndDrops(t *testing.T) {
	out := &fakeloki.Receiver{}
	var args Arguments
	args.SetToDefault()
	args.ForwardTo = []loki.LogsReceiver{out}
	args.Rules = []relabel.Rule{
		rule(func(r *relabel.Rule) {
			r.SourceLabels = []string{"__aws_cw_log_group"}
			r.TargetLabel = "log_group"
		}),
		rule(func(r *relabel.Rule) {
			r.SourceLabels = []string{"level"}
			r.Regex = "debug"
			r.Action = "drop"
		}),
	}
	if err := args.Validate(); err != nil {
		t.Fatal(err)
	}
	_, exp := build(t, args)
	if len(exp.Rules) != 2 {
		t.Fatalf("exported %d rules, want 2", len(exp.Rules))
	}
	in := []loki.Entry{
		entry("a", model.LabelSet{"__aws_cw_log_group": "/aws/lambda/x", "level": "info"}),
		entry("b", model.LabelSet{"__aws_cw_log_group": "/aws/lambda/x", "level": "info"}),
		entry("c", model.LabelSet{"__aws_cw_log_group": "/aws/lambda/y", "level": "debug"}),
		entry("d", model.LabelSet{"__aws_cw_log_group": "/aws/lambda/y", "level": "warn"}),
	}
	if err := exp.Receiver.Send(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	got := out.Entries()
	if len(got) != 3 {
		t.Fatalf("forwarded %d entries, want 3 (debug dropped)", len(got))
	}
	for i, want := range []struct{ line, group string }{{"a", "/aws/lambda/x"}, {"b", "/aws/lambda/x"}, {"d", "/aws/lambda/y"}} {
		got := got[i]
		if got.Line != want.line || got.Labels["log_group"] != model.LabelValue(want.group) {
			t.Errorf("entry %d = %q %v, want %q with log_group=%q", i, got.Line, got.Labels, want.line, want.group)
		}
	}
	// The input must be left alone: senders may reuse it.
	if _, ok := in[0].Labels["log_group"]; ok {
		t.Fatal("Send modified the caller's labels")
	}
}

func TestRelabelUpdateSwapsRulesAndKeepsReceiver(t *testing.T) {
	out := &fakeloki.Receiver{}
	var args Arguments
	args.SetToDefault()
	args.ForwardTo = []loki.LogsReceiver{out}
	c, exp := build(t, args)
	recv := exp.Receiver
	ls := model.LabelSet{"job": "x"}
	_ = recv.Send(context.Background(), []loki.Entry{entry("1", ls)})

	args.Rules = []relabel.Rule{rule(func(r *relabel.Rule) { r.Action = "drop"; r.SourceLabels = []string{"job"}; r.Regex = "x" })}
	if err := c.Update(args); err != nil {
		t.Fatal(err)
	}
	if exp.Receiver != recv {
		t.Fatal("the exported receiver changed on update; dependants would be re-evaluated for nothing")
	}
	_ = recv.Send(context.Background(), []loki.Entry{entry("2", ls)})
	if got := out.Entries(); len(got) != 1 || got[0].Line != "1" {
		t.Fatalf("got %v, want only the entry sent before the drop rule", got)
	}
}

func TestRelabelPropagatesDownstreamError(t *testing.T) {
	out := &fakeloki.Receiver{}
	out.Fail(errors.New("wal full"))
	var args Arguments
	args.SetToDefault()
	args.ForwardTo = []loki.LogsReceiver{out}
	_, exp := build(t, args)
	if err := exp.Receiver.Send(context.Background(), []loki.Entry{entry("x", model.LabelSet{"a": "b"})}); err == nil {
		t.Fatal("Send returned nil although the downstream receiver failed; the source would acknowledge lost data")
	}
}

func TestRelabelValidateRejectsBadRule(t *testing.T) {
	var args Arguments
	args.SetToDefault()
	args.Rules = []relabel.Rule{rule(func(r *relabel.Rule) { r.Action = "hashmod" })}
	if err := args.Validate(); err == nil {
		t.Fatal("hashmod without modulus and target_label accepted")
	}
}

func BenchmarkRelabel500Entries(b *testing.B) {
	var args Arguments
	args.SetToDefault()
	args.ForwardTo = []loki.LogsReceiver{loki.NewReceiver(func(context.Context, []loki.Entry) error { return nil })}
	args.Rules = []relabel.Rule{rule(func(r *relabel.Rule) { r.SourceLabels = []string{"__aws_cw_log_group"}; r.TargetLabel = "group" })}
	var exp Exports
	_, _ = New(component.Options{OnStateChange: func(e component.Exports) { exp = e.(Exports) }}, args)
	in := make([]loki.Entry, 500)
	for i := range in {
		in[i] = entry("line", model.LabelSet{"__aws_cw_log_group": model.LabelValue([]string{"a", "b"}[i/250]), "job": "x"})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = exp.Receiver.Send(context.Background(), in)
	}
}

// loki.relabel reports what forward_to reports as full, so a source before
// it refuses early; loki.echo-like sinks without a full function never are.
func TestRelabelForwardsFull(t *testing.T) {
	var full error
	down := loki.NewReceiverWithFull(func(context.Context, []loki.Entry) error { return full }, func() error { return full })
	var args Arguments
	args.SetToDefault()
	args.ForwardTo = []loki.LogsReceiver{&fakeloki.Receiver{}, down}
	_, exp := build(t, args)
	if err := loki.Full([]loki.LogsReceiver{exp.Receiver}); err != nil {
		t.Fatalf("full while downstream is not: %v", err)
	}
	full = &loki.FullError{Component: "loki.write.x", Reason: "over bound"}
	if err := loki.Full([]loki.LogsReceiver{exp.Receiver}); !errors.Is(err, loki.ErrFull) {
		t.Fatalf("downstream full not reported: %v", err)
	}
	if err := exp.Receiver.Send(context.Background(), []loki.Entry{entry("x", model.LabelSet{"a": "b"})}); !errors.Is(err, loki.ErrFull) {
		t.Fatalf("Send: %v, want loki.ErrFull", err)
	}
}

// BenchmarkRelabel500EntriesOneMap: a source's request, every entry
// labeled with the same map.
func BenchmarkRelabel500EntriesOneMap(b *testing.B) {
	var args Arguments
	args.SetToDefault()
	args.ForwardTo = []loki.LogsReceiver{loki.NewReceiver(func(context.Context, []loki.Entry) error { return nil })}
	args.Rules = []relabel.Rule{rule(func(r *relabel.Rule) { r.SourceLabels = []string{"service"}; r.TargetLabel = "app" })}
	var exp Exports
	_, _ = New(component.Options{OnStateChange: func(e component.Exports) { exp = e.(Exports) }}, args)
	ls := model.LabelSet{"service": "checkout", "env": "prod", "region": "eu-west-1", "job": "x"}
	in := make([]loki.Entry, 500)
	for i := range in {
		in[i] = entry("line", ls)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = exp.Receiver.Send(context.Background(), in)
	}
}

// TestSameLabelsMapOrEqual: entries labeled with one map, then with an
// equal map, then a different one, are each relabeled correctly (the
// last result is reused only for the same or an equal label set), and the
// slice a receiver was given is not reused while it runs.
func TestSameLabelsMapOrEqual(t *testing.T) {
	if a := (model.LabelSet{"a": "1"}); !loki.SameLabelSet(a, a) || loki.SameLabelSet(a, a.Clone()) {
		t.Fatal("sameMap does not tell the same map from an equal one")
	}
	var got []loki.Entry
	var args Arguments
	args.SetToDefault()
	args.ForwardTo = []loki.LogsReceiver{loki.NewReceiver(func(_ context.Context, es []loki.Entry) error {
		got = append(got, es...)
		return nil
	})}
	args.Rules = []relabel.Rule{rule(func(r *relabel.Rule) { r.SourceLabels = []string{"service"}; r.TargetLabel = "app" })}
	var exp Exports
	if _, err := New(component.Options{OnStateChange: func(e component.Exports) { exp = e.(Exports) }}, args); err != nil {
		t.Fatal(err)
	}
	one := model.LabelSet{"service": "a"}
	in := []loki.Entry{entry("1", one), entry("2", one), entry("3", one.Clone()), entry("4", model.LabelSet{"service": "b"})}
	for range 2 {
		if err := exp.Receiver.Send(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"a", "a", "a", "b", "a", "a", "a", "b"}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Labels["app"] != model.LabelValue(w) {
			t.Errorf("entry %d (%q): labels %v, want app=%s", i, got[i].Line, got[i].Labels, w)
		}
	}
}
