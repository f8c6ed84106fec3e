package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tc "github.com/flow-telemetry/flow/internal/testcomponents"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

const wait = 20 * time.Second

func counter(t *testing.T, f *flowtest.Flow, id string) *tc.Counter {
	t.Helper()
	return f.Component(id).(*tc.Counter)
}

func passthrough(t *testing.T, f *flowtest.Flow, id string) *tc.Passthrough {
	t.Helper()
	return f.Component(id).(*tc.Passthrough)
}

func output(f *flowtest.Flow, id string) string {
	e, _ := f.Runtime().Exports(id)
	pe, _ := e.(tc.PassthroughExports)
	return pe.Output
}

func TestEvaluationFollowsDependencies(t *testing.T) {
	t.Parallel()
	// Declared in reverse order: evaluation must still go source first.
	f := flowtest.Start(t, `
testcomponents.passthrough "c" { input = testcomponents.passthrough.b.output }
testcomponents.passthrough "b" { input = testcomponents.passthrough.a.output }
testcomponents.passthrough "a" { input = "hello" }
`, withTestComponents())
	for _, id := range []string{"a", "b", "c"} {
		if got := output(f, "testcomponents.passthrough."+id); got != "hello" {
			t.Errorf("%s output = %q, want hello", id, got)
		}
	}
	if got := f.Runtime().ComponentIDs(); strings.Join(got, " ") != "testcomponents.passthrough.a testcomponents.passthrough.b testcomponents.passthrough.c" {
		t.Errorf("topological order = %v", got)
	}
	for _, id := range []string{"a", "b", "c"} {
		f.WaitHealthy(t, "testcomponents.passthrough."+id, wait)
	}
}

func TestExportChangePropagatesThroughChainAndFanOut(t *testing.T) {
	t.Parallel()
	f := flowtest.Start(t, `
testcomponents.counter "c" {}
testcomponents.passthrough "chain1" { input = testcomponents.counter.c.count }
testcomponents.passthrough "chain2" { input = testcomponents.passthrough.chain1.output }
testcomponents.passthrough "chain3" { input = testcomponents.passthrough.chain2.output }
testcomponents.passthrough "fan1" { input = testcomponents.counter.c.count }
testcomponents.passthrough "fan2" { input = testcomponents.counter.c.count }
`, withTestComponents())
	c := counter(t, f, "testcomponents.counter.c")
	for i := 1; i <= 3; i++ {
		c.Increment()
		want := string(rune('0' + i))
		for _, id := range []string{"chain1", "chain2", "chain3", "fan1", "fan2"} {
			full := "testcomponents.passthrough." + id
			testwait.Eventually(t, wait, func() bool { return output(f, full) == want },
				"%s output = %q, want %q", full, output(f, full), want)
		}
	}
	d, _ := f.Runtime().ComponentDetail("testcomponents.passthrough.chain3")
	if got := d.Evaluations[0].Cause; got != "testcomponents.passthrough.chain2 exports changed" {
		t.Errorf("chain3's last evaluation cause = %q", got)
	}
	if d.EvaluationsTotal != 4 {
		t.Errorf("chain3 evaluated %d times, want 4 (load and three changes)", d.EvaluationsTotal)
	}
}

func TestWaveEvaluatesEachDependantOnce(t *testing.T) {
	t.Parallel()
	// A diamond: join depends on left and right, which both change when the
	// counter does. One wave must evaluate join once, after both.
	f := flowtest.Start(t, `
testcomponents.counter "c" {}
testcomponents.passthrough "left" { input = testcomponents.counter.c.count }
testcomponents.passthrough "right" { input = testcomponents.counter.c.count }
testcomponents.passthrough "join" { inputs = [testcomponents.passthrough.left.output, testcomponents.passthrough.right.output] }
`, withTestComponents())
	join := passthrough(t, f, "testcomponents.passthrough.join")
	counter(t, f, "testcomponents.counter.c").Increment()
	testwait.Eventually(t, wait, func() bool { return output(f, "testcomponents.passthrough.join") == "1,1" }, "join output")
	time.Sleep(50 * time.Millisecond) // room for a wrong extra evaluation
	if n := join.Updates(); n != 1 {
		t.Fatalf("join updated %d times for one change, want 1", n)
	}
	d, _ := f.Runtime().ComponentDetail("testcomponents.passthrough.join")
	if d.EvaluationsTotal != 2 {
		t.Fatalf("join evaluated %d times, want 2 (load and one wave): %+v", d.EvaluationsTotal, d.Evaluations)
	}
}

func TestBurstCoalesces(t *testing.T) {
	t.Parallel()
	// slow's Update holds the wave for 200ms while the counter changes 50
	// times: the changes must collapse into a wave or two, not 50.
	f := flowtest.Start(t, `
testcomponents.counter "c" {}
testcomponents.passthrough "slow" {
  input = testcomponents.counter.c.count
  lag   = "200ms"
}
testcomponents.passthrough "after" { input = testcomponents.passthrough.slow.output }
`, withTestComponents())
	c := counter(t, f, "testcomponents.counter.c")
	after := passthrough(t, f, "testcomponents.passthrough.after")
	start := time.Now()
	for i := 0; i < 50; i++ {
		c.Increment()
		time.Sleep(time.Millisecond)
	}
	burst := time.Since(start)
	testwait.Eventually(t, wait, func() bool { return output(f, "testcomponents.passthrough.after") == "50" }, "after output")
	// A wave per 200ms of burst at most, and one more for the changes
	// queued behind the last: 3 when the burst takes its nominal 50ms. A
	// loaded machine stretching the burst allows proportionally more.
	want := 3 + int64(burst/(200*time.Millisecond))
	if n := after.Updates(); n > want {
		t.Fatalf("after updated %d times for a burst of 50 changes over %v, want at most %d", n, burst, want)
	}
}

func TestUpdateOnlyWhenArgumentsChange(t *testing.T) {
	t.Parallel()
	// p2 reads p1's id, which never changes: p2 is re-evaluated whenever
	// p1's exports change but must not be updated.
	f := flowtest.Start(t, `
testcomponents.counter "c" {}
testcomponents.passthrough "p1" { input = testcomponents.counter.c.count }
testcomponents.passthrough "p2" { input = testcomponents.passthrough.p1.id }
`, withTestComponents())
	p2 := passthrough(t, f, "testcomponents.passthrough.p2")
	counter(t, f, "testcomponents.counter.c").Increment()
	testwait.Eventually(t, wait, func() bool {
		d, _ := f.Runtime().ComponentDetail("testcomponents.passthrough.p2")
		return d.EvaluationsTotal == 2
	}, "p2 re-evaluated")
	if n := p2.Updates(); n != 0 {
		t.Fatalf("p2 updated %d times with unchanged arguments", n)
	}
}

func TestPanicsAreIsolated(t *testing.T) {
	t.Parallel()
	f := flowtest.Start(t, `
testcomponents.fail "run" { panic_in = "run" }
testcomponents.fail "build" { panic_in = "build" }
testcomponents.fail "update" {}
testcomponents.fail "error" { run_error = "disk on fire" }
testcomponents.fail "reported" { unhealthy = "upstream unreachable" }
testcomponents.counter "c" {}
testcomponents.passthrough "p" { input = testcomponents.counter.c.count }
`, withTestComponents())
	testwait.Eventually(t, wait, func() bool {
		h := f.Health("testcomponents.fail.run")
		return h.Health == component.HealthUnhealthy && strings.Contains(h.Message, "panic in Run: boom in run")
	}, "run panic: %+v", f.Health("testcomponents.fail.run"))
	if h := f.Health("testcomponents.fail.build"); h.Health != component.HealthUnhealthy || !strings.Contains(h.Message, "panic in Build: boom in build") {
		t.Errorf("build panic health = %+v", h)
	}
	if _, built := f.Runtime().Component("testcomponents.fail.build"); built {
		t.Error("a component whose Build panicked is built")
	}
	testwait.Eventually(t, wait, func() bool {
		h := f.Health("testcomponents.fail.error")
		return h.Health == component.HealthUnhealthy && strings.Contains(h.Message, "disk on fire")
	}, "run error: %+v", f.Health("testcomponents.fail.error"))
	if h := f.Health("testcomponents.fail.reported"); h.Health != component.HealthUnhealthy || h.Message != "upstream unreachable" {
		t.Errorf("reported health = %+v", h)
	}

	// Panicking in Update keeps the last good arguments and the instance.
	before := f.Component("testcomponents.fail.update")
	err := f.Reload(`
testcomponents.fail "run" { panic_in = "run" }
testcomponents.fail "build" { panic_in = "build" }
testcomponents.fail "update" { panic_in = "update" }
testcomponents.fail "error" { run_error = "disk on fire" }
testcomponents.fail "reported" { unhealthy = "upstream unreachable" }
testcomponents.counter "c" {}
testcomponents.passthrough "p" { input = testcomponents.counter.c.count }
`)
	if err != nil {
		t.Fatal(err)
	}
	if h := f.Health("testcomponents.fail.update"); h.Health != component.HealthUnhealthy || !strings.Contains(h.Message, "panic in Update: boom in update") {
		t.Errorf("update panic health = %+v", h)
	}
	if f.Component("testcomponents.fail.update") != before {
		t.Error("a failed Update replaced the instance")
	}

	// The rest keep working.
	counter(t, f, "testcomponents.counter.c").Increment()
	testwait.Eventually(t, wait, func() bool { return output(f, "testcomponents.passthrough.p") == "1" }, "passthrough still updated")
	f.WaitHealthy(t, "testcomponents.passthrough.p", wait)
}

func TestEvaluationErrorKeepsLastGoodArguments(t *testing.T) {
	t.Parallel()
	f := flowtest.Start(t, `
testcomponents.passthrough "src" { input = 7 }
testcomponents.counter "c" { max = testcomponents.passthrough.src.value }
`, withTestComponents())
	// Staging sees src's current value (7) and accepts the config; once src
	// applies "seven", the counter's evaluation fails at run time.
	err := f.Reload(`
testcomponents.passthrough "src" { input = "seven" }
testcomponents.counter "c" { max = testcomponents.passthrough.src.value }
`)
	if err != nil {
		t.Fatalf("reload with a run-time error was rejected: %v", err)
	}
	h := f.Health("testcomponents.counter.c")
	if h.Health != component.HealthUnhealthy || !strings.Contains(h.Message, "component evaluation failed") || !strings.Contains(h.Message, "max") {
		t.Fatalf("health after a failing evaluation = %+v", h)
	}
	d, _ := f.Runtime().ComponentDetail("testcomponents.counter.c")
	if m, _ := d.Arguments.(map[string]any); m == nil || fmt.Sprint(m["max"]) != "7" {
		t.Fatalf("arguments after a failed evaluation = %#v, want the last good max = 7", d.Arguments)
	}
	if d.Evaluations[0].Error == "" || d.Evaluations[0].Cause != "reload" {
		t.Fatalf("failed evaluation recorded as %+v", d.Evaluations[0])
	}

	// Fixing the input makes it healthy again.
	if err := f.Reload(`
testcomponents.passthrough "src" { input = 9 }
testcomponents.counter "c" { max = testcomponents.passthrough.src.value }
`); err != nil {
		t.Fatal(err)
	}
	f.WaitHealthy(t, "testcomponents.counter.c", wait)
}

func TestShutdownStopsSourcesBeforeSinks(t *testing.T) {
	t.Parallel()
	env, regs := testComponents()
	rt := runtime.New(runtime.Options{DataPath: t.TempDir(), Registry: flowtest.Registry(t, regs...)})
	diags := rt.Load(map[string][]byte{"a.river": []byte(`
testcomponents.sink "s" {}
testcomponents.passthrough "mid" { input = "x" }
testcomponents.source "src" { forward_to = [testcomponents.sink.s.receiver] }
testcomponents.counter "c" {}
testcomponents.passthrough "leaf" { input = testcomponents.counter.c.count }
`)})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rt.Run(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	testwait.Receive(t, wait, done, "Run did not return after cancel")
	order := env.StopOrder.IDs()
	pos := map[string]int{}
	for i, id := range order {
		pos[id] = i
	}
	if len(order) != 5 {
		t.Fatalf("stopped %v, want 5 components", order)
	}
	if pos["testcomponents.source.src"] > pos["testcomponents.sink.s"] {
		t.Errorf("sink stopped before its source: %v", order)
	}
	if pos["testcomponents.passthrough.leaf"] > pos["testcomponents.counter.c"] {
		t.Errorf("counter stopped before the passthrough it feeds: %v", order)
	}
}

func TestCountableEdges(t *testing.T) {
	t.Parallel()
	f := flowtest.Start(t, `
testcomponents.sink "s" {}
testcomponents.source "src" { forward_to = [testcomponents.sink.s.receiver] }
testcomponents.targets "t" { count = 3 }
testcomponents.passthrough "p" { input = testcomponents.counter.c.count }
testcomponents.counter "c" {}
`, withTestComponents())
	src := f.Component("testcomponents.source.src").(*tc.Source)
	sink := f.Component("testcomponents.sink.s").(*tc.Sink)
	src.Send(7)
	src.Send(5)
	if got := sink.Received(); got != 12 {
		t.Fatalf("sink received %d, want 12: the counting wrapper must pass items on", got)
	}
	before := src.Receivers()[0]
	// A change elsewhere must not hand the source a new wrapper.
	counter(t, f, "testcomponents.counter.c").Increment()
	if err := f.Reload(`
testcomponents.sink "s" {}
testcomponents.source "src" { forward_to = [testcomponents.sink.s.receiver] }
testcomponents.targets "t" { count = 4 }
testcomponents.passthrough "p" { input = testcomponents.counter.c.count }
testcomponents.counter "c" {}
`); err != nil {
		t.Fatal(err)
	}
	if after := src.Receivers()[0]; after != before {
		t.Error("reload gave the source a different receiver wrapper")
	}
	var found bool
	for _, e := range f.Runtime().Edges() {
		if e.From == "testcomponents.sink.s" {
			found = true
			if !e.Data || e.To != "testcomponents.source.src" || e.Export != "receiver" {
				t.Errorf("edge = %+v", e)
			}
			// Data flows from the source into the sink's receiver.
			if e.Kind != "data" || e.Source != "testcomponents.source.src" || e.Sink != "testcomponents.sink.s" {
				t.Errorf("receiver edge kind/source/sink = %q %q %q, want data, the source, the sink", e.Kind, e.Source, e.Sink)
			}
		}
		if e.From == "testcomponents.counter.c" {
			if e.Data {
				t.Errorf("a plain value edge is marked as data: %+v", e)
			}
			if e.Kind != "value" || e.Source != "testcomponents.counter.c" || e.Sink != "testcomponents.passthrough.p" {
				t.Errorf("value edge kind/source/sink = %q %q %q, want value, the exporter, the consumer", e.Kind, e.Source, e.Sink)
			}
		}
	}
	if !found {
		t.Fatal("no edge from the sink")
	}
}

func TestConcurrentReadersDuringWaves(t *testing.T) {
	t.Parallel()
	f := flowtest.Start(t, `
testcomponents.counter "c" { frequency = "1ms" }
testcomponents.passthrough "a" { input = testcomponents.counter.c.count }
testcomponents.passthrough "b" { input = testcomponents.passthrough.a.output }
`, withTestComponents())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				f.Runtime().Components()
				f.Runtime().Edges()
				f.Runtime().ComponentDetail("testcomponents.passthrough.b")
				f.Runtime().ConfigFiles()
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if output(f, "testcomponents.passthrough.b") == "" {
		t.Fatal("chain never updated")
	}
}

// runWithStuck runs a runtime with a 300ms stop timeout on config plus a
// component that ignores cancellation ("stuck") and a counter ("c"), and
// returns it with what stops it and what is closed when Run returns.
func runWithStuck(t *testing.T, config string) (*runtime.Runtime, context.CancelFunc, <-chan struct{}) {
	t.Helper()
	env, regs := testComponents()
	t.Cleanup(env.ReleaseStuck)
	rt := runtime.New(runtime.Options{DataPath: t.TempDir(), StopTimeout: 300 * time.Millisecond, Registry: flowtest.Registry(t, regs...)})
	src := "testcomponents.fail \"stuck\" { ignore_cancel = true }\ntestcomponents.counter \"c\" {}\n" + config
	if d := rt.Load(map[string][]byte{"a.river": []byte(src)}); d.HasErrors() {
		t.Fatal(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rt.Run(ctx); close(done) }()
	return rt, cancel, done
}

// Not parallel: it bounds shutdown's wall time.
func TestShutdownIsBounded(t *testing.T) {
	rt, cancel, done := runWithStuck(t, `
testcomponents.passthrough "p" { input = testcomponents.counter.c.count }
`)
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	cancel()
	testwait.Receive(t, wait, done, "Run waited for a component that ignores cancellation")
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Fatalf("shutdown took %v, want about the 300ms stop timeout", d)
	}
	p, _ := rt.Component("testcomponents.passthrough.p")
	if p.(*tc.Passthrough).Running() {
		t.Fatal("a well-behaved component was not stopped")
	}
}

// Once a component that ignores cancellation has used up the stop
// timeout (stuck, stopped first with q, which nothing references), the
// components of the later levels (p, then c) are still awaited, together,
// for a moment: each used to be abandoned the instant its wait began, so
// one needing 100ms to return was still running when Run returned (and a
// reload could build over a port it had not released).
//
// Not parallel: it bounds shutdown's wall time.
func TestShutdownAwaitsLaterLevelsAfterTheDeadline(t *testing.T) {
	rt, cancel, done := runWithStuck(t, `
testcomponents.passthrough "p" {
  input    = testcomponents.counter.c.count
  stop_lag = "100ms"
}
testcomponents.passthrough "q" { input = testcomponents.passthrough.p.output }
`)
	p, _ := rt.Component("testcomponents.passthrough.p")
	testwait.Eventually(t, wait, p.(*tc.Passthrough).Running, "p running")
	start := time.Now()
	cancel()
	testwait.Receive(t, wait, done, "Run waited for a component that ignores cancellation")
	if p.(*tc.Passthrough).Running() {
		t.Fatal("Run returned while p, cancelled after the deadline, was still stopping")
	}
	if d := time.Since(start); d > 300*time.Millisecond+time.Second+2*time.Second {
		t.Fatalf("shutdown took %v, want the 300ms stop timeout and at most a second more", d)
	}
}
