package awsfirehose

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
)

// A server that Update replaces shuts down in the background, waiting up to
// graceful_shutdown_timeout for the requests it is answering; Run owns that
// shutdown and does not return before it has ended. Without that, Run
// returned while the old server still held (and would still answer) a
// request.
func TestRunWaitsForTheServerUpdateReplaced(t *testing.T) {
	const grace = 2 * time.Second
	var a Arguments
	a.SetToDefault()
	a.HTTP.ListenAddress, a.HTTP.ListenPort = "127.0.0.1", 0
	a.HTTP.ServerTimeout = time.Minute // the grace, not a read timeout, ends the slow request
	a.GracefulShutdownTimeout = grace
	a.ForwardTo = []loki.LogsReceiver{&collector{}}
	reg := prometheus.NewRegistry()
	c, err := New(component.Options{ID: "loki.source.aws_firehose.test", Registerer: reg}, a)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	// A request in flight on the first server: its body never completes.
	conn, err := net.Dial("tcp", c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", PushPath); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 30*time.Second, func() bool { return inflightRequests(t, reg) == 1 }, "the request to be in flight")

	// New server settings (on a new free port): the first server is
	// replaced, and its shutdown waits for that request.
	a.HTTP.ServerWriteTimeout = 20 * time.Second
	if err := c.Update(a); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := testwait.Receive(t, grace+30*time.Second, done, "Run did not return"); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// Run has returned: the replaced server must have let go of the
	// connection, so a read ends at once instead of waiting.
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := conn.Read(make([]byte, 512)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("Run returned while the replaced server still held a request in flight")
	}
}

// inflightRequests sums loki_source_awsfirehose_inflight_requests.
func inflightRequests(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "loki_source_awsfirehose_inflight_requests" {
			for _, m := range mf.GetMetric() {
				n += m.GetGauge().GetValue()
			}
		}
	}
	return n
}
