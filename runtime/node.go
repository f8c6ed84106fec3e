package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/runtime/component"
)

// maxEvaluations is how many evaluations are kept per component.
const maxEvaluations = 20

// maxHealthHistory is how many health changes are kept per component
// (docs/security.md): enough to see a flapping component's pattern, bounded
// so one cannot grow without limit.
const maxHealthHistory = 50

// HealthChange is one change of a component's combined health: the state and
// message it changed to, and when the runtime saw the change (after an
// evaluation, when Run started or returned, or within a second for health a
// component reports itself), so the history is in order even where a
// component's own UpdateTime is older.
type HealthChange struct {
	Time    time.Time            `json:"time"`
	State   component.HealthType `json:"state"`
	Message string               `json:"message"`
}

// Evaluation records one evaluation of a component's arguments.
type Evaluation struct {
	Time     time.Time `json:"time"`
	Duration float64   `json:"duration_seconds"`
	// Cause is "initial load", "reload", "<id> exports changed" (or "<id>
	// and N more exports changed"), or "retrying a failed build (attempt N)".
	Cause string `json:"cause"`
	Error string `json:"error,omitempty"`
}

// nodeState is everything about a component that survives a reload keeping
// its ID: the instance, its arguments and exports, health and history. The
// graph structure around it is rebuilt on every load.
type nodeState struct {
	id  string
	reg component.Registration
	log *slog.Logger
	// dirName is DataDirName(id); dataPath is the directory of that name
	// under Options.DataPath.
	dirName  string
	dataPath string

	mu   sync.Mutex
	comp component.Component
	// args are the last arguments successfully applied (given to Build or
	// Update).
	args component.Arguments
	// exports as last published, with their encoding; exportsVersion counts
	// changes so staged evaluations can tell whether what they read is stale.
	exports        component.Exports
	exportsVal     cty.Value
	exportsSet     bool
	exportsVersion uint64
	// nested caches the exports wrapped in the ID's objects (see
	// nestedExports), valid while nestedVersion == exportsVersion.
	nested        cty.Value
	nestedOK      bool
	nestedSet     bool
	nestedVersion uint64

	evalHealth component.Health
	runHealth  component.Health
	reported   component.Health // last combined health announced as an event

	// announceMu serialises announceHealth (taken before mu).
	announceMu sync.Mutex
	// healthHistory is a ring of the last maxHealthHistory changes of the
	// combined health (as announced); healthChanges counts them all.
	healthHistory [maxHealthHistory]HealthChange
	healthChanges int

	evals      [maxEvaluations]Evaluation
	evalCount  int
	lastEvalAt time.Time

	// builtAt is when the instance was built; updates counts Update calls
	// that succeeded. Together they show what a reload touched.
	builtAt time.Time
	updates int

	started bool
	cancel  context.CancelFunc
	done    chan struct{}

	// buildFailures counts the Build attempts that failed in a row;
	// retryAt is when the next one is due. retryTimer, set only while Run
	// runs, calls it then; retryGen tells a timer that fired whether it is
	// still the current one (a Stop can come too late).
	buildFailures int
	retryAt       time.Time
	retryTimer    *time.Timer
	retryGen      uint64

	registerer *componentRegisterer
	edges      *edgeSet

	// scopes are the last evaluation scopes built for the component with
	// every dependency known [0] and with some unknown while staging [1]
	// (see evalContext). Only its evaluations, under evalMu, use them.
	scopes [2]*evalScope
}

func newNodeState(id string, reg component.Registration, parent *slog.Logger, dataPath string, rr *componentRegisterer) *nodeState {
	now := time.Now()
	st := &nodeState{
		id:         id,
		reg:        reg,
		log:        parent.With("component_id", id),
		dataPath:   dataPath,
		evalHealth: component.Health{Health: component.HealthUnknown, Message: "component not evaluated yet", UpdateTime: now},
		runHealth:  component.Health{Health: component.HealthUnknown, Message: "component not started yet", UpdateTime: now},
		registerer: rr,
		edges:      newEdgeSet(),
	}
	st.exportsVal = zeroExports(reg)
	return st
}

// health combines evaluation, run and component-reported health.
func (st *nodeState) health() component.Health {
	st.mu.Lock()
	eval, run, comp := st.evalHealth, st.runHealth, st.comp
	st.mu.Unlock()
	hs := []component.Health{eval, run}
	if hc, ok := comp.(component.HealthComponent); ok {
		if h, ok := reportedHealth(hc); ok {
			hs = append(hs, h)
		}
	}
	return leastHealthy(hs...)
}

// reportedHealth calls CurrentHealth, turning a panic into unhealthy.
func reportedHealth(hc component.HealthComponent) (h component.Health, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			h, ok = component.Health{Health: component.HealthUnhealthy, Message: fmt.Sprintf("CurrentHealth panicked: %v", p), UpdateTime: time.Now()}, true
		}
	}()
	return hc.CurrentHealth(), true
}

// healthRank orders states from healthiest to least healthy.
func healthRank(h component.HealthType) int {
	switch h {
	case component.HealthHealthy:
		return 0
	case component.HealthUnknown:
		return 1
	case component.HealthUnhealthy:
		return 2
	case component.HealthExited:
		return 3
	}
	return 1
}

// leastHealthy returns the least healthy of hs; ties go to the newest.
func leastHealthy(hs ...component.Health) component.Health {
	var out component.Health
	for i, h := range hs {
		if i == 0 || healthRank(h.Health) > healthRank(out.Health) ||
			(healthRank(h.Health) == healthRank(out.Health) && h.UpdateTime.After(out.UpdateTime)) {
			out = h
		}
	}
	return out
}

func (st *nodeState) setEvalHealth(t component.HealthType, msg string) {
	st.mu.Lock()
	if st.evalHealth.Health != t || st.evalHealth.Message != msg {
		st.evalHealth = component.Health{Health: t, Message: msg, UpdateTime: time.Now()}
	}
	st.mu.Unlock()
}

func (st *nodeState) setRunHealth(t component.HealthType, msg string) {
	st.mu.Lock()
	st.runHealth = component.Health{Health: t, Message: msg, UpdateTime: time.Now()}
	st.mu.Unlock()
}

func (st *nodeState) recordEvaluation(e Evaluation) {
	st.mu.Lock()
	st.evals[st.evalCount%maxEvaluations] = e
	st.evalCount++
	st.lastEvalAt = e.Time
	st.mu.Unlock()
}

// recordHealthChange adds a change to the health history. The caller holds st.mu.
func (st *nodeState) recordHealthChange(h component.Health, now time.Time) {
	st.healthHistory[st.healthChanges%maxHealthHistory] = HealthChange{Time: now, State: h.Health, Message: h.Message}
	st.healthChanges++
}

// healthChangesNewestFirst returns the kept health changes, newest first.
func (st *nodeState) healthChangesNewestFirst() []HealthChange {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := min(st.healthChanges, maxHealthHistory)
	out := make([]HealthChange, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, st.healthHistory[(st.healthChanges-1-i)%maxHealthHistory])
	}
	return out
}

// evaluations returns the kept evaluations, newest first, and the total count.
func (st *nodeState) evaluations() ([]Evaluation, int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := st.evalCount
	if n > maxEvaluations {
		n = maxEvaluations
	}
	out := make([]Evaluation, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, st.evals[(st.evalCount-1-i)%maxEvaluations])
	}
	return out, st.evalCount
}

// start runs the component in its own goroutine if it is built, not started
// and the runtime is running. The caller holds evalMu.
func (r *Runtime) start(st *nodeState) {
	parent := r.running()
	if parent == nil {
		return
	}
	st.mu.Lock()
	if st.started || st.comp == nil {
		st.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(parent)
	st.started, st.cancel, st.done = true, cancel, make(chan struct{})
	comp, done := st.comp, st.done
	st.mu.Unlock()

	st.setRunHealth(component.HealthHealthy, "started")
	go func() {
		defer close(done)
		err := safeRun(ctx, comp)
		switch {
		case err == nil:
			st.setRunHealth(component.HealthExited, "component exited")
		case ctx.Err() != nil:
			st.setRunHealth(component.HealthExited, "component exited: "+err.Error())
		default:
			st.log.Error("component exited with an error", "err", err)
			st.setRunHealth(component.HealthUnhealthy, "component exited with an error: "+err.Error())
		}
		r.announceHealth(st)
	}()
	r.announceHealth(st)
}

// safeRun calls Run, turning a panic into an error so one component cannot
// take the process down.
func safeRun(ctx context.Context, c component.Component) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicError("Run", p)
		}
	}()
	return c.Run(ctx)
}

type panicErr struct {
	msg   string
	stack []byte
}

func (e *panicErr) Error() string { return e.msg }

func panicError(where string, p any) error {
	return &panicErr{msg: fmt.Sprintf("panic in %s: %v", where, p), stack: debug.Stack()}
}

// afterDeadlineGrace is how long components are awaited together once the
// stop deadline has passed (see stopLevels).
const afterDeadlineGrace = time.Second

// stopLevels stops components level by level, each level (sources first)
// after the one before has stopped, all within deadline. Once a component
// slower than that has used it up, the remaining levels are cancelled at
// once and awaited together for afterDeadlineGrace: each used to be
// abandoned the moment its wait began, without the instant a cancelled
// component needs to return (a reload could then build a component on a
// port the removed one had not released yet).
func (r *Runtime) stopLevels(levels [][]*nodeState, deadline time.Time) {
	for i, level := range levels {
		if !time.Now().Before(deadline) {
			var rest []*nodeState
			for _, l := range levels[i:] {
				rest = append(rest, l...)
			}
			r.stopAll(rest, time.Now().Add(afterDeadlineGrace))
			return
		}
		r.stopAll(level, deadline)
	}
}

// stopAll cancels the components and waits for their Run to return until
// deadline; a component still running after a second is logged, one still
// running at the deadline is logged and abandoned.
func (r *Runtime) stopAll(states []*nodeState, deadline time.Time) {
	var wg sync.WaitGroup
	for _, st := range states {
		st.mu.Lock()
		cancel, done, started := st.cancel, st.done, st.started
		st.mu.Unlock()
		if !started {
			continue
		}
		cancel()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.waitStopped(st, done, deadline)
		}()
	}
	wg.Wait()
}

func (r *Runtime) waitStopped(st *nodeState, done chan struct{}, deadline time.Time) {
	slow := time.NewTimer(time.Second)
	defer slow.Stop()
	give := time.NewTimer(time.Until(deadline))
	defer give.Stop()
	for {
		select {
		case <-done:
			return
		case <-slow.C:
			st.log.Warn("component is slow to stop", "waited", time.Second)
		case <-give.C:
			st.log.Error("component did not stop in time; abandoning it", "timeout", r.opts.StopTimeout)
			return
		}
	}
}
