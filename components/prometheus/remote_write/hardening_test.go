package remotewrite

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/syntax/value"
)

// TestReloadsLeaveNoConnectionsOrGoroutines reloads an endpoint 400 times,
// each with different arguments (a new header: a new client under the
// running queue; every 40th also a new queue setting: Prometheus restarts
// the queue) and a send in between: connections at the receiver and
// goroutines in the process come back to where they were.
func TestReloadsLeaveNoConnectionsOrGoroutines(t *testing.T) {
	r := newReceiver(t)
	args := testArgs(r.URL(), func(ep *EndpointOptions) { ep.QueueOptions.BatchSendDeadline = 5 * time.Millisecond })
	c, recv, _ := start(t, args)
	g := newGenerator(recv, 1)
	g.warmUp(t, r)
	time.Sleep(200 * time.Millisecond)
	baseGoroutines, baseConns := runtime.NumGoroutine(), r.OpenConns()
	acceptedBefore := r.ConnsAccepted()

	const reloads = 400
	for i := 0; i < reloads; i++ {
		a := testArgs(r.URL(), func(ep *EndpointOptions) {
			ep.QueueOptions.BatchSendDeadline = 5 * time.Millisecond
			ep.Headers = map[string]value.Secret{"X-Reload": value.Secret(fmt.Sprint(i))}
			if i%40 == 39 {
				ep.QueueOptions.Capacity = 10000 + i
			}
		})
		if err := c.Update(a); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		g.tick(t)
		promtest.Eventually(t, 20*time.Second, fmt.Sprintf("the sample sent after reload %d", i), func() bool {
			return len(g.missing(r)) == 0
		})
	}
	if accepted := r.ConnsAccepted() - acceptedBefore; accepted < reloads/2 {
		t.Fatalf("only %d connections over %d reloads: the test no longer exercises new clients", accepted, reloads)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		gs, conns := runtime.NumGoroutine(), r.OpenConns()
		// Slack for runtime and test goroutines coming and going.
		if conns <= baseConns+1 && gs <= baseGoroutines+10 {
			t.Logf("after %d reloads: %d connections open (baseline %d), %d goroutines (baseline %d)", reloads, conns, baseConns, gs, baseGoroutines)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d reloads: %d connections open (baseline %d), %d goroutines (baseline %d)", reloads, conns, baseConns, gs, baseGoroutines)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
