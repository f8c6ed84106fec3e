package runtime_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

// historyString renders health changes oldest first as "state: message" lines.
func historyString(hs []runtime.HealthChange) string {
	var b strings.Builder
	for i := len(hs) - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "%s: %s\n", hs[i].State, hs[i].Message)
	}
	return b.String()
}

// A component's page explains its health with the changes it went through:
// each change of the combined health is kept, newest first, with its time
// and message, whether or not anyone listens to the event stream.
func TestHealthHistoryKeepsTransitionsInOrder(t *testing.T) {
	t.Parallel()
	cfg := func(unhealthy string) string {
		return fmt.Sprintf(`testcomponents.fail "f" { unhealthy = %q }`, unhealthy)
	}
	f := flowtest.Start(t, cfg(""), withTestComponents())
	const id = "testcomponents.fail.f"
	start := time.Now()
	f.WaitHealthy(t, id, wait)
	for _, msg := range []string{"disk full", "upstream unreachable", "", "disk full again"} {
		if err := f.Reload(cfg(msg)); err != nil {
			t.Fatal(err)
		}
	}
	var hs []runtime.HealthChange
	testwait.Eventually(t, wait, func() bool {
		d, _ := f.Runtime().ComponentDetail(id)
		hs = d.HealthHistory
		return len(hs) > 0 && hs[0].Message == "disk full again"
	}, "the last change in the history: %s", historyString(hs))
	// The reported health masks the evaluation's and Run's own states while
	// it is unhealthy; in between, the component is healthy.
	var got []string
	for i := len(hs) - 1; i >= 0; i-- {
		got = append(got, hs[i].State.String()+": "+hs[i].Message)
	}
	want := []string{"healthy", "unhealthy: disk full", "unhealthy: upstream unreachable", "healthy", "unhealthy: disk full again"}
	// The healthy entry's message is the newest of the evaluation's and
	// Run's ("component evaluated" or "started"); before "disk full" come
	// the unknown states of a component not yet evaluated or started.
	i := 0
	for _, g := range got {
		if i < len(want) && (g == want[i] || (want[i] == "healthy" && strings.HasPrefix(g, "healthy: "))) {
			i++
			continue
		}
		if i == 0 && strings.HasPrefix(g, "unknown: ") {
			continue
		}
		t.Fatalf("health history (oldest first):\n%s\nwant, after any unknown states, %q", historyString(hs), want)
	}
	if i != len(want) {
		t.Fatalf("health history (oldest first):\n%s\nwant, after any unknown states, %q", historyString(hs), want)
	}
	for j := range hs {
		if hs[j].Time.Before(start.Add(-time.Minute)) || hs[j].Time.After(time.Now()) {
			t.Errorf("change %d has time %v, want around %v", j, hs[j].Time, start)
		}
		if j > 0 && hs[j].Time.After(hs[j-1].Time) {
			t.Errorf("changes %d and %d are not newest first: %v after %v", j, j-1, hs[j].Time, hs[j-1].Time)
		}
	}
	if h := f.Health(id); h.Health != component.HealthUnhealthy || h.Message != hs[0].Message {
		t.Errorf("current health %+v, want the newest change %+v", h, hs[0])
	}
}

// The history is bounded: a flapping component keeps only the last 50.
func TestHealthHistoryIsBounded(t *testing.T) {
	t.Parallel()
	cfg := func(n int) string { return fmt.Sprintf(`testcomponents.fail "f" { unhealthy = "failure %d" }`, n) }
	f := flowtest.Start(t, cfg(0), withTestComponents())
	const n = 120
	for i := 1; i <= n; i++ {
		if err := f.Reload(cfg(i)); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := f.Runtime().ComponentDetail("testcomponents.fail.f")
	if len(d.HealthHistory) != 50 {
		t.Fatalf("the history keeps %d changes, want the last 50", len(d.HealthHistory))
	}
	for i, h := range d.HealthHistory {
		if want := fmt.Sprintf("failure %d", n-i); h.Message != want {
			t.Fatalf("change %d (newest first) is %q, want %q", i, h.Message, want)
		}
	}
}

// Each health event on the event stream is one entry of the history, in
// the same order.
func TestHealthEventsAreTheHistory(t *testing.T) {
	t.Parallel()
	cfg := func(unhealthy string) string {
		return fmt.Sprintf(`testcomponents.fail "f" { unhealthy = %q }`, unhealthy)
	}
	const id = "testcomponents.fail.f"
	f := flowtest.Start(t, cfg(""), withTestComponents())
	f.WaitHealthy(t, id, wait)
	events, cancel := f.Runtime().Subscribe()
	defer cancel()
	msgs := []string{"disk full", "upstream unreachable", "", "disk full again"}
	for _, msg := range msgs {
		if err := f.Reload(cfg(msg)); err != nil {
			t.Fatal(err)
		}
	}
	var got []runtime.HealthEvent
	for len(got) < len(msgs) {
		e := testwait.Receive(t, wait, events, "%d health events for %s, want %d: %+v", len(got), id, len(msgs), got)
		if he, ok := e.Data.(runtime.HealthEvent); ok && e.Type == "health" && he.ID == id {
			got = append(got, he)
		}
	}
	d, _ := f.Runtime().ComponentDetail(id)
	for i, he := range got {
		h := d.HealthHistory[len(got)-1-i]
		if he.Health.Health != h.State || he.Health.Message != h.Message {
			t.Errorf("health event %d is %s %q, the history's entry %s %q", i, he.Health.Health, he.Health.Message, h.State, h.Message)
		}
		if msgs[i] != "" && he.Health.Message != msgs[i] {
			t.Errorf("health event %d says %q, want %q", i, he.Health.Message, msgs[i])
		}
	}
}
