package testwait

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// fakeTB records Fatalf instead of stopping the goroutine, so the failure
// path of Eventually can be checked.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	took := Eventually(t, 30*time.Second, func() bool { return n.Add(1) >= 3 }, "three calls")
	if n.Load() != 3 {
		t.Fatalf("cond called %d times, want 3 (it returns as soon as cond holds)", n.Load())
	}
	if took > 10*time.Second {
		t.Fatalf("took %v for a condition that held on the third call", took)
	}
}

func TestEventuallyFailsWithTheMessageAfterTimeout(t *testing.T) {
	f := &fakeTB{TB: t}
	start := time.Now()
	Eventually(f, 50*time.Millisecond, func() bool { return false }, "the %s", "thing")
	if time.Since(start) < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before the 50ms timeout", time.Since(start))
	}
	if want := "timed out after 50ms: the thing"; f.failed != want {
		t.Fatalf("failure %q, want %q", f.failed, want)
	}
}

func TestPollReportsTimeoutWithoutFailing(t *testing.T) {
	var n atomic.Int32
	if _, ok := Poll(30*time.Millisecond, func() bool { n.Add(1); return false }); ok {
		t.Fatal("Poll of a condition that never holds returned ok")
	}
	if n.Load() < 2 {
		t.Fatalf("cond called %d times in 30ms, want it polled more than once", n.Load())
	}
	if _, ok := Poll(time.Second, func() bool { return true }); !ok {
		t.Fatal("Poll of a condition that holds returned not ok")
	}
}

func TestReceiveReturnsTheValueOrFailsAfterTimeout(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if got := Receive(t, 30*time.Second, ch, "a value"); got != 7 {
		t.Fatalf("Receive = %d, want 7", got)
	}
	done := make(chan struct{})
	close(done)
	Receive(t, 30*time.Second, done, "a closed channel counts as received")

	f := &fakeTB{TB: t}
	start := time.Now()
	if got := Receive(f, 50*time.Millisecond, make(chan int), "the %s", "value"); got != 0 {
		t.Fatalf("Receive on timeout = %d, want the zero value", got)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before the 50ms timeout", time.Since(start))
	}
	if want := "timed out after 50ms: the value"; f.failed != want {
		t.Fatalf("failure %q, want %q", f.failed, want)
	}
}
