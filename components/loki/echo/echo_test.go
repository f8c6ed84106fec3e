package echo

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/runtime/component"
)

func TestEchoPrintsEntriesWithLabels(t *testing.T) {
	var out bytes.Buffer
	var exports Exports
	_, err := New(component.Options{OnStateChange: func(e component.Exports) { exports = e.(Exports) }}, &out)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	err = exports.Receiver.Send(context.Background(), []loki.Entry{
		{Labels: model.LabelSet{"job": "a", "env": "prod"}, Entry: push.Entry{Timestamp: ts, Line: "hello"}},
		{Labels: model.LabelSet{"job": "b"}, Entry: push.Entry{Timestamp: ts, Line: "world"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "2024-05-06T07:08:09.00000001Z {env=\"prod\", job=\"a\"} hello\n" +
		"2024-05-06T07:08:09.00000001Z {job=\"b\"} world\n"
	if got := out.String(); got != want {
		t.Fatalf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestEchoReceiverCounts(t *testing.T) {
	var exports Exports
	_, _ = New(component.Options{OnStateChange: func(e component.Exports) { exports = e.(Exports) }}, &bytes.Buffer{})
	n := 0
	counted := exports.Receiver.(component.Countable).WithCounter(func(k int) { n += k }).(loki.LogsReceiver)
	_ = counted.Send(context.Background(), make([]loki.Entry, 3))
	if n != 3 {
		t.Fatalf("counter saw %d entries, want 3", n)
	}
}
