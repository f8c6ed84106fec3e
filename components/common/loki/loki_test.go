package loki

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/relabel"
)

func TestRelabelAndDropInternal(t *testing.T) {
	rules, err := relabel.Compile([]relabel.Rule{
		{SourceLabels: []string{"__aws_cw_log_group"}, Separator: ";", Regex: "/aws/lambda/(.*)", TargetLabel: "function", Replacement: "$1", Action: "replace"},
		{SourceLabels: []string{"function"}, Separator: ";", Regex: "noisy", Replacement: "$1", Action: "drop"},
	})
	if err != nil {
		t.Fatal(err)
	}
	in := model.LabelSet{"__aws_cw_log_group": "/aws/lambda/checkout", "job": "fh", TenantLabel: "t1", "bad-name": "x", "empty": ""}
	out := DropInternal(Relabel(rules, in))
	want := model.LabelSet{"function": "checkout", "job": "fh", TenantLabel: "t1"}
	if !out.Equal(want) {
		t.Fatalf("got %v, want %v", out, want)
	}
	if _, ok := in["function"]; ok {
		t.Fatal("Relabel modified its input")
	}
	if Relabel(rules, model.LabelSet{"__aws_cw_log_group": "/aws/lambda/noisy"}) != nil {
		t.Fatal("drop rule did not drop")
	}
	clean := model.LabelSet{"job": "x"}
	if got := DropInternal(clean); len(got) != 1 || got["job"] != "x" {
		t.Fatal("clean set changed")
	}
	if got := Relabel(nil, clean); got["job"] != "x" {
		t.Fatal("no rules must pass labels through")
	}
	// RelabelFinal is the two in one.
	if got := RelabelFinal(rules, in); !got.Equal(want) {
		t.Fatalf("RelabelFinal: got %v, want %v", got, want)
	}
	if RelabelFinal(rules, model.LabelSet{"__aws_cw_log_group": "/aws/lambda/noisy"}) != nil {
		t.Fatal("RelabelFinal: drop rule did not drop")
	}
	if got := RelabelFinal(rules, model.LabelSet{"__x": "y"}); got == nil || len(got) != 0 {
		t.Fatalf("RelabelFinal: a set left empty is %v, want empty but not dropped", got)
	}
	if got := RelabelFinal(nil, in); !got.Equal(model.LabelSet{"job": "fh", TenantLabel: "t1"}) {
		t.Fatalf("RelabelFinal without rules: %v", got)
	}
}

func TestSanitizeLabelName(t *testing.T) {
	for in, want := range map[string]string{"team": "team", "team-name": "team_name", "1st": "_1st", "a.b/c": "a_b_c", "": "", "é": "__"} {
		if got := SanitizeLabelName(in); got != want {
			t.Errorf("SanitizeLabelName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReceiverCountsOnlyAccepted(t *testing.T) {
	fail := false
	r := NewReceiver(func(context.Context, []Entry) error {
		if fail {
			return errors.New("no")
		}
		return nil
	})
	n := 0
	counted := r.WithCounter(func(k int) { n += k }).(LogsReceiver)
	_ = counted.Send(context.Background(), make([]Entry, 4))
	fail = true
	_ = counted.Send(context.Background(), make([]Entry, 3))
	if n != 4 {
		t.Fatalf("counted %d, want 4 (failed sends are not passed on)", n)
	}
	if err := r.Send(context.Background(), nil); err == nil {
		t.Fatal("uncounted receiver lost the error")
	}
}

func TestFanoutStopsAtFirstError(t *testing.T) {
	calls := 0
	ok := NewReceiver(func(context.Context, []Entry) error { calls++; return nil })
	bad := NewReceiver(func(context.Context, []Entry) error { calls++; return errors.New("full") })
	if err := Fanout(context.Background(), []LogsReceiver{ok, bad, ok}, nil); err == nil || calls != 2 {
		t.Fatalf("err=%v calls=%d", err, calls)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"1MiB": 1 << 20, "512KiB": 512 << 10, "100KB": 100 << 10, "1MB": 1 << 20, "2048": 2048, "1.5MiB": 3 << 19} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err != nil || b != want {
			t.Errorf("%q = %d, %v; want %d", in, b, err, want)
		}
	}
	var b ByteSize
	if b.UnmarshalText([]byte("lots")) == nil || b.UnmarshalText([]byte("-1MiB")) == nil {
		t.Error("invalid sizes accepted")
	}
	for v, want := range map[ByteSize]string{1 << 20: "1MiB", 3 << 30: "3GiB", 1000: "1000", 2048: "2KiB"} {
		if s, _ := v.MarshalText(); string(s) != want {
			t.Errorf("%d marshals as %s, want %s", v, s, want)
		}
	}
}

func TestFullIsReportedAndKeptByCounters(t *testing.T) {
	var full error
	r := NewReceiverWithFull(func(context.Context, []Entry) error { return full }, func() error { return full })
	plain := NewReceiver(func(context.Context, []Entry) error { return nil })
	counted := r.WithCounter(func(int) {}).(LogsReceiver)
	if err := Full([]LogsReceiver{plain, counted}); err != nil {
		t.Fatalf("full while nothing is: %v", err)
	}
	full = &FullError{Component: "loki.write.x", Reason: "backlog over bound", RetryAfter: 3 * time.Second}
	err := Full([]LogsReceiver{plain, counted})
	if !errors.Is(err, ErrFull) || RetryAfter(err, time.Second) != 3*time.Second {
		t.Fatalf("counted receiver lost Full: %v", err)
	}
	if e := Fanout(context.Background(), []LogsReceiver{counted}, nil); !errors.Is(e, ErrFull) || e.Error() != "loki.write.x is full: backlog over bound" {
		t.Fatalf("Send's refusal: %v", e)
	}
	if RetryAfter(errors.New("other"), time.Second) != time.Second {
		t.Fatal("default Retry-After not used for other errors")
	}
}
