package awsfirehose

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flow-telemetry/flow/components/common/loki"
	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	lokiwrite "github.com/flow-telemetry/flow/components/loki/write"
	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// TestBacklogBoundAnswers503: Firehose → loki.write whose Loki is down and
// whose wal > max_backlog_size is small. Once the backlog passes the bound,
// requests are answered 503 with Retry-After instead of 200; once Loki is
// back, every record answered 200 arrives, and requests get 200 again.
func TestBacklogBoundAnswers503(t *testing.T) {
	lk, err := fakeloki.Start(fakeloki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	lk.Down()

	var wargs lokiwrite.Arguments
	wargs.SetToDefault()
	wargs.WAL.MaxBacklogSize = 16 << 10
	var ep lokiwrite.EndpointArgs
	ep.SetToDefault()
	ep.URL = value.NewURL(lk.URL())
	ep.BatchWait = 50 * time.Millisecond
	ep.MinBackoff, ep.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	wargs.Endpoints = []lokiwrite.EndpointArgs{ep}
	var recv loki.LogsReceiver
	w, err := lokiwrite.New(component.Options{ID: "loki.write.default", Registerer: prometheus.NewRegistry(), DataPath: t.TempDir(),
		OnStateChange: func(e component.Exports) { recv = e.(lokiwrite.Exports).Receiver }}, wargs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	f := newFixture(t, func(a *Arguments) {
		a.Labels = map[string]string{"job": "bp"}
		a.ForwardTo = []loki.LogsReceiver{recv}
	})
	acked := map[string]bool{}
	var refused int
	for i := 0; i < 400 && refused == 0; i++ {
		line := fmt.Sprintf("%04d-%s", i, strings.Repeat("x", 200))
		r, err := f.send.Send([][]byte{[]byte(line)})
		if err != nil {
			t.Fatal(err)
		}
		switch r.Status {
		case http.StatusOK:
			acked[line] = true
		case http.StatusServiceUnavailable:
			refused++
			if r.RetryAfter == "" || !strings.Contains(r.ErrorMessage, "max_backlog_size") {
				t.Fatalf("503 without Retry-After or cause: %q %q", r.RetryAfter, r.ErrorMessage)
			}
		default:
			t.Fatalf("status %d: %s", r.Status, r.ErrorMessage)
		}
	}
	if refused == 0 {
		t.Fatalf("%d requests of ~200 bytes acknowledged with Loki down and a 16 KiB backlog bound", len(acked))
	}
	if len(acked) > 200 {
		t.Fatalf("%d records acknowledged before the 16 KiB bound refused one", len(acked))
	}
	if h := w.CurrentHealth(); h.Health != component.HealthUnhealthy {
		t.Fatalf("loki.write health %s while full: %s", h.Health, h.Message)
	}

	if err := lk.Up(); err != nil {
		t.Fatal(err)
	}
	if err := lk.WaitForEntries(int64(len(acked)), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, e := range lk.Entries() {
		delete(acked, e.Line)
	}
	if len(acked) > 0 {
		t.Fatalf("%d acknowledged records never arrived", len(acked))
	}
	var r fh.Response
	if _, ok := testwait.Poll(30*time.Second, func() bool {
		var err error
		if r, err = f.send.Send([][]byte{[]byte("after")}); err != nil {
			t.Fatal(err)
		}
		return r.Status == http.StatusOK
	}); !ok {
		t.Fatalf("still %d after Loki came back: %s", r.Status, r.ErrorMessage)
	}
}
