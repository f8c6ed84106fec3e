package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	tc "github.com/flow-telemetry/flow/internal/testcomponents"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

// retrying is a runtime with short Build retry backoffs, loaded with src and
// not yet running.
type retrying struct {
	t    *testing.T
	rt   *runtime.Runtime
	env  *tc.Env // its test components
	stop context.CancelFunc
	done chan struct{}
}

func newRetrying(t *testing.T, src string, lo, hi time.Duration) *retrying {
	t.Helper()
	env, regs := testComponents()
	r := &retrying{t: t, env: env, rt: runtime.New(runtime.Options{
		DataPath:      t.TempDir(),
		BuildRetryMin: lo,
		BuildRetryMax: hi,
		Registry:      flowtest.Registry(t, regs...),
	})}
	if diags := r.rt.Load(map[string][]byte{"test.river": []byte(src)}); diags.HasErrors() {
		t.Fatalf("loading: %v", diags)
	}
	return r
}

// run starts Run; the test's cleanup stops it if the test did not.
func (r *retrying) run() {
	ctx, cancel := context.WithCancel(context.Background())
	r.stop, r.done = cancel, make(chan struct{})
	go func() { defer close(r.done); r.rt.Run(ctx) }()
	r.t.Cleanup(r.shutdown)
}

func (r *retrying) shutdown() {
	r.stop()
	select {
	case <-r.done:
	case <-time.After(wait):
		r.t.Errorf("Run did not return within %v", wait)
	}
}

// TestBuildRetriedWithBackoff: a component whose first four Builds fail is
// tried again after 50, 100, 200 and 200 ms (doubling, capped), stays
// unhealthy with the Build error meanwhile, and runs once built. A Load
// before Run only schedules the retry.
// Not parallel: it measures the spacing of retries, which other tests
// running alongside would stretch.
func TestBuildRetriedWithBackoff(t *testing.T) {
	const id = "testcomponents.fail.flaky"
	lo, hi := 50*time.Millisecond, 200*time.Millisecond
	r := newRetrying(t, `testcomponents.fail "flaky" { fail_builds = 4 }`, lo, hi)

	h, _ := r.rt.Health(id)
	if h.Health != component.HealthUnhealthy || h.Message != "building component failed: build failure 1 of 4 (attempt 1; retrying in 50ms)" {
		t.Fatalf("health after the first failed Build = %s %q", h.Health, h.Message)
	}
	time.Sleep(3 * lo)
	if n := r.env.BuildAttempts.Count(id); n != 1 {
		t.Fatalf("Build was retried %d times before Run", n-1)
	}

	r.run()
	// Until it is built it is unhealthy with the latest Build error. Health
	// is read before checking whether it is built, which only goes one way.
	var messages []string
	testwait.Eventually(t, wait, func() bool {
		h, _ := r.rt.Health(id)
		_, built := r.rt.Component(id)
		if !built {
			if h.Health != component.HealthUnhealthy {
				t.Fatalf("%s is %s (%q) before it was built", id, h.Health, h.Message)
			}
			if len(messages) == 0 || messages[len(messages)-1] != h.Message {
				messages = append(messages, h.Message)
			}
		}
		return built
	}, "%s to be built after its Build failed 4 times", id)
	for _, m := range messages {
		if !strings.HasPrefix(m, "building component failed: build failure ") || !strings.Contains(m, "; retrying in ") {
			t.Errorf("health message while failing: %q", m)
		}
	}
	testwait.Eventually(t, wait, func() bool { h, _ := r.rt.Health(id); return h.Health == component.HealthHealthy }, "%s healthy once built", id)

	// Five attempts, spaced by the backoff; none once built.
	time.Sleep(2 * hi)
	times := r.env.BuildAttempts.Times(id)
	if len(times) != 5 {
		t.Fatalf("%d Build attempts, want 5 (4 failures, 1 success)", len(times))
	}
	// The first retry came when Run started (it was due already); then the
	// waits double from 100 ms and stop growing at 200 ms.
	for i, want := range []time.Duration{2 * lo, hi, hi} {
		gap := times[i+2].Sub(times[i+1])
		if gap < want || gap >= 2*want {
			t.Errorf("wait before attempt %d = %v, want %v (at least, and less than twice)", i+3, gap, want)
		}
	}

	d, _ := r.rt.ComponentDetail(id)
	if d.EvaluationsTotal != 5 {
		t.Errorf("%d evaluations recorded, want 5", d.EvaluationsTotal)
	}
	for i, ev := range d.Evaluations { // newest first
		attempt := 5 - i
		want := fmt.Sprintf("retrying a failed build (attempt %d)", attempt)
		if attempt == 1 {
			want = "initial load"
		}
		if ev.Cause != want {
			t.Errorf("evaluation %d cause %q, want %q", attempt, ev.Cause, want)
		}
		if (attempt < 5) != (ev.Error == fmt.Sprintf("building component failed: build failure %d of 4", attempt)) {
			t.Errorf("evaluation %d error %q", attempt, ev.Error)
		}
	}
}

// TestBuildRetryStopsWhenRemoved: removing a component whose Build keeps
// failing stops its retries, while waves run alongside.
func TestBuildRetryStopsWhenRemoved(t *testing.T) {
	t.Parallel()
	const id = "testcomponents.fail.broken"
	const others = `
testcomponents.counter "tick" { frequency = "5ms" }
testcomponents.passthrough "p" { input = testcomponents.counter.tick.count }
`
	r := newRetrying(t, `testcomponents.fail "broken" {
  fail_builds = 1000000
  build_error = "address already in use"
}`+others, 10*time.Millisecond, 10*time.Millisecond)
	r.run()
	testwait.Eventually(t, wait, func() bool { return r.env.BuildAttempts.Count(id) >= 4 }, "Build retries of %s", id)
	h, _ := r.rt.Health(id)
	if h.Health != component.HealthUnhealthy || !strings.Contains(h.Message, "building component failed: address already in use") {
		t.Errorf("health while retrying = %s %q", h.Health, h.Message)
	}

	if diags := r.rt.Load(map[string][]byte{"test.river": []byte(others)}); diags.HasErrors() {
		t.Fatalf("reloading: %v", diags)
	}
	n := r.env.BuildAttempts.Count(id)
	time.Sleep(100 * time.Millisecond)
	if got := r.env.BuildAttempts.Count(id); got != n {
		t.Errorf("Build of the removed %s was tried %d more times", id, got-n)
	}
	// The rest kept running throughout.
	c, _ := r.rt.Exports("testcomponents.passthrough.p")
	if c.(tc.PassthroughExports).Output == "" {
		t.Error("the passthrough never received the counter's count")
	}
}

// TestBuildRetryStopsWithRuntime: once Run returns, no Build is retried.
func TestBuildRetryStopsWithRuntime(t *testing.T) {
	t.Parallel()
	const id = "testcomponents.fail.down"
	r := newRetrying(t, `testcomponents.fail "down" { fail_builds = 1000000 }`, 10*time.Millisecond, 10*time.Millisecond)
	r.run()
	testwait.Eventually(t, wait, func() bool { return r.env.BuildAttempts.Count(id) >= 3 }, "Build retries of %s", id)
	r.shutdown()
	n := r.env.BuildAttempts.Count(id)
	time.Sleep(100 * time.Millisecond)
	if got := r.env.BuildAttempts.Count(id); got != n {
		t.Errorf("Build was tried %d more times after Run returned", got-n)
	}
}

// TestBuildRetryUsesCurrentArguments: a reload while a retry is pending
// tries Build at once with the new arguments, and success ends the retries.
func TestBuildRetryUsesCurrentArguments(t *testing.T) {
	t.Parallel()
	const id = "testcomponents.fail.fixed"
	r := newRetrying(t, `testcomponents.fail "fixed" { build_error = "bad setting" }`, time.Hour, time.Hour)
	r.run()
	if diags := r.rt.Load(map[string][]byte{"test.river": []byte(`testcomponents.fail "fixed" { version = 2 }`)}); diags.HasErrors() {
		t.Fatalf("reloading: %v", diags)
	}
	if _, built := r.rt.Component(id); !built {
		h, _ := r.rt.Health(id)
		t.Fatalf("not built by the reload that fixed its arguments: %s %q", h.Health, h.Message)
	}
	if n := r.env.BuildAttempts.Count(id); n != 2 {
		t.Errorf("%d Build attempts, want 2", n)
	}
	testwait.Eventually(t, wait, func() bool { h, _ := r.rt.Health(id); return h.Health == component.HealthHealthy }, "%s healthy", id)
}
