package runtime

import (
	"fmt"
	"time"

	"github.com/flow-telemetry/flow/internal/backoff"
)

// A component whose Build fails (its port is in use, a file it needs is not
// there yet) is tried again with exponential backoff, not only when
// something upstream changes or the config is reloaded: a production agent
// must recover on its own once the cause goes away. The retry is a fresh
// evaluation against the live exports, so it uses the current arguments. It
// stays unhealthy with the Build error until an attempt succeeds. Retries
// stop when the component is removed, when it is built by any evaluation,
// and when the runtime stops; before Run they are only scheduled.

// buildFailed records a failed Build attempt of st and schedules the next
// one. It returns which attempt failed (1 for the first) and the wait before
// the next. The caller holds evalMu.
func (r *Runtime) buildFailed(st *nodeState) (attempt int, delay time.Duration) {
	st.mu.Lock()
	st.buildFailures++
	attempt = st.buildFailures
	delay = backoff.Exponential(r.opts.BuildRetryMin, r.opts.BuildRetryMax, attempt)
	st.retryAt = time.Now().Add(delay)
	st.stopRetryTimerLocked()
	st.mu.Unlock()
	r.armBuildRetry(st)
	return attempt, delay
}

// buildSucceeded forgets st's failed attempts and any scheduled retry.
func (st *nodeState) buildSucceeded() {
	st.mu.Lock()
	st.buildFailures = 0
	st.stopRetryTimerLocked()
	st.mu.Unlock()
}

// cancelBuildRetry stops st's scheduled retry, if any, for good: the
// component was removed or the runtime is stopping.
func (st *nodeState) cancelBuildRetry() {
	st.mu.Lock()
	st.buildFailures = 0
	st.stopRetryTimerLocked()
	st.mu.Unlock()
}

// stopRetryTimerLocked stops the retry timer; a timer that already fired
// finds retryGen changed and does nothing. The caller holds st.mu.
func (st *nodeState) stopRetryTimerLocked() {
	if st.retryTimer != nil {
		st.retryTimer.Stop()
		st.retryTimer = nil
	}
	st.retryGen++
}

// armBuildRetry starts the timer of st's next Build attempt if one is due,
// none is running and Run runs. The caller holds evalMu.
func (r *Runtime) armBuildRetry(st *nodeState) {
	if r.running() == nil {
		return // Run arms it when it starts
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.buildFailures == 0 || st.comp != nil || st.retryTimer != nil {
		return
	}
	gen := st.retryGen
	st.retryTimer = time.AfterFunc(max(time.Until(st.retryAt), 0), func() { r.retryBuild(st, gen) })
}

// retryBuild evaluates st's component again so that it is built, unless the
// retry was cancelled or superseded meanwhile.
func (r *Runtime) retryBuild(st *nodeState, gen uint64) {
	r.evalMu.Lock()
	defer r.evalMu.Unlock()
	if r.running() == nil {
		return
	}
	st.mu.Lock()
	current := st.retryGen == gen && st.comp == nil
	if current {
		st.retryTimer = nil
	}
	attempt := st.buildFailures + 1
	st.mu.Unlock()
	if !current {
		return
	}
	n, ok := r.graph.Load().byID[st.id]
	if !ok || n.st != st {
		return // removed by a reload
	}
	r.evaluateLive(n, fmt.Sprintf("retrying a failed build (attempt %d)", attempt))
}
