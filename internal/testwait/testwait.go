// Package testwait is the one way tests wait: Eventually polls a condition
// until it holds or a deadline passes, Receive waits for a value on a
// channel, and Long marks a test that takes more than ~20 seconds so that
// `go test -short` skips it (.ci/run runs without -short, so CI still runs
// it in full).
//
// It imports nothing of the project, so every package's tests, including the
// runtime's in-package ones, can use it without an import cycle.
//
// Deadlines are generous on purpose: CI and development machines are small
// and shared, and a condition that holds returns as soon as it is seen, so a
// long deadline costs nothing when the test passes.
package testwait

import (
	"fmt"
	"testing"
	"time"
)

// Poll intervals: start short so a condition that holds soon is seen soon,
// and back off so a slow one does not spin on a loaded machine.
const (
	firstInterval = 5 * time.Millisecond
	maxInterval   = 50 * time.Millisecond
)

// Eventually calls cond until it returns true and returns how long that
// took. If cond is still false after timeout, it fails the test (FailNow)
// with the formatted message.
//
// The message is formatted when the test fails, from the values args hold
// then; to report the last state cond saw, use Poll instead.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) time.Duration {
	t.Helper()
	took, ok := Poll(timeout, cond)
	if !ok {
		t.Fatalf("timed out after %v: %s", timeout, fmt.Sprintf(format, args...))
	}
	return took
}

// Poll is Eventually without failing the test: it calls cond until it
// returns true (ok) or timeout passes (not ok), and returns how long it
// polled. It is for the callers whose failure message reports what cond saw
// last, and for those that do something other than fail on timeout.
func Poll(timeout time.Duration, cond func() bool) (took time.Duration, ok bool) {
	start := time.Now()
	interval := firstInterval
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) >= timeout {
			return time.Since(start), false
		}
		time.Sleep(interval)
		interval = min(2*interval, maxInterval)
	}
}

// Receive waits up to timeout for a value from ch and returns it (a closed
// channel's zero value counts: closing is how a done channel signals). If
// nothing arrives in time it fails the test (FailNow) with the formatted
// message. It is Eventually for the tests that wait on a channel instead of
// polling a condition.
func Receive[T any](t testing.TB, timeout time.Duration, ch <-chan T, format string, args ...any) T {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out after %v: %s", timeout, fmt.Sprintf(format, args...))
		var zero T
		return zero
	}
}

// Long skips the test under `go test -short`. Call it first in every test
// that takes more than ~20 seconds (long sleeps, soak loops, kill -9 runs);
// why says what makes it long.
func Long(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("long test (%s): skipped under -short; .ci/run runs it", why)
	}
}
