package runtime

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/livedebug"
)

// Options configure a Runtime.
type Options struct {
	// Logger receives the runtime's logs and is the parent of every
	// component's logger. nil discards logs.
	Logger *slog.Logger
	// Registerer receives the runtime's own metrics and, labelled with
	// component_id, every component's metrics. nil keeps them private.
	Registerer prometheus.Registerer
	// DataPath is the directory holding one data directory per component,
	// <DataPath>/<DataDirName(component id)>. Empty means "data". It is made
	// absolute (against the working directory) when the Runtime is created.
	DataPath string
	// StopTimeout bounds how long stopping components may take: the removed
	// ones on a reload, and all of them at shutdown. Zero means 10 seconds.
	StopTimeout time.Duration
	// BuildRetryMin and BuildRetryMax bound the wait before Build is tried
	// again after it failed (a port in use, a server not up yet): the first
	// retry waits BuildRetryMin, each further one twice as long, up to
	// BuildRetryMax. Zero means 1 second and 1 minute.
	BuildRetryMin, BuildRetryMax time.Duration
	// Cluster is handed to every component as component.Options.Cluster;
	// nil when clustering is off.
	Cluster component.Cluster
	// Registry holds the component types a config may use. nil means
	// component.DefaultRegistry(), every component the binary imports; tests
	// give their own (see flowtest.Registry) to add components holding
	// per-test state.
	Registry *component.Registry
	// UnknownEnvironment makes sys.env unknown while validating, for
	// `flow validate`, which may run on another machine than the config
	// (a CI job): a value from the environment gets a placeholder of its
	// type (see decodeWithPlaceholders) instead of this machine's value,
	// so an unset variable is not a validation error. Load is not meant
	// to be used with it.
	UnknownEnvironment bool
}

// Runtime runs one graph of components. Its methods are safe for concurrent use.
type Runtime struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	events  *eventBus
	queue   *queue
	// live is the live debugging service: every component publishes to
	// its Publisher, the `livedebugging` block switches it on.
	live *livedebug.Service

	// evalMu serialises Load and the scheduler's waves, so a reload never
	// interleaves with a propagation of exports.
	evalMu sync.Mutex
	// graph is the live graph; its structure is immutable once stored, so
	// readers (the HTTP API) need no lock. Per-component state lives in the
	// nodes' *nodeState, guarded by its own mutex.
	graph atomic.Pointer[graph]
	// loaded is set after the first successful Load.
	loaded atomic.Bool

	runMu sync.Mutex
	// runCtx is the parent of component contexts while Run runs; nil before
	// Run and after shutdown began. It never carries Run's cancellation:
	// components are cancelled one level at a time so sources stop first.
	runCtx context.Context
}

// New returns a Runtime with no components. Call Load to give it a config and
// Run to run it.
func New(opts Options) *Runtime {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Registry == nil {
		opts.Registry = component.DefaultRegistry()
	}
	if opts.DataPath == "" {
		opts.DataPath = "data"
	}
	if abs, err := filepath.Abs(opts.DataPath); err == nil {
		opts.DataPath = abs
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.BuildRetryMin <= 0 {
		opts.BuildRetryMin = time.Second
	}
	if opts.BuildRetryMax <= 0 {
		opts.BuildRetryMax = time.Minute
	}
	opts.BuildRetryMax = max(opts.BuildRetryMax, opts.BuildRetryMin)
	r := &Runtime{
		opts:   opts,
		log:    opts.Logger,
		events: newEventBus(),
		queue:  newQueue(),
		live:   livedebug.New(),
	}
	r.metrics = newMetrics(opts.Registerer, r)
	r.graph.Store(emptyGraph())
	return r
}

// Run starts every built component and the scheduler, and blocks until ctx
// is done and every component has stopped. Load may be called before or
// while Run runs. Run may be called once.
func (r *Runtime) Run(ctx context.Context) {
	r.runMu.Lock()
	r.runCtx = context.WithoutCancel(ctx)
	r.runMu.Unlock()

	// Components built by a Load before Run start now, dependencies first;
	// those whose Build failed get their retry timer.
	r.evalMu.Lock()
	for _, n := range r.graph.Load().nodes {
		r.start(n.st)
		r.armBuildRetry(n.st)
	}
	r.evalMu.Unlock()

	var bg sync.WaitGroup
	bgCtx, stopBG := context.WithCancel(context.Background())
	bg.Add(2)
	go func() { defer bg.Done(); r.evaluatorLoop(bgCtx) }()
	go func() { defer bg.Done(); r.sampleLoop(bgCtx) }()

	<-ctx.Done()
	r.log.Info("stopping components")

	// Stop starting things: no new Run goroutines and no Build retries
	// from here on.
	r.runMu.Lock()
	r.runCtx = nil
	r.runMu.Unlock()
	stopBG()
	bg.Wait()
	r.evalMu.Lock()
	for _, n := range r.graph.Load().nodes {
		n.st.cancelBuildRetry()
	}
	r.evalMu.Unlock()

	// One deadline for the whole shutdown: a deep graph must not multiply
	// the stop timeout by its depth.
	r.evalMu.Lock()
	g := r.graph.Load()
	deadline := time.Now().Add(r.opts.StopTimeout)
	levels := make([][]*nodeState, 0, len(g.levels))
	for _, level := range g.levels {
		states := make([]*nodeState, 0, len(level))
		for _, i := range level {
			states = append(states, g.nodes[i].st)
		}
		levels = append(levels, states)
	}
	r.stopLevels(levels, deadline)
	r.evalMu.Unlock()
	// Components that outlived the deadline were logged by stopAll and are
	// abandoned: the process is exiting.
	r.log.Info("all components stopped")
}

// running reports the context for a new component goroutine, or nil when
// Run is not running.
func (r *Runtime) running() context.Context {
	r.runMu.Lock()
	defer r.runMu.Unlock()
	return r.runCtx
}

// LiveDebugging returns the live debugging service (the API serves its
// viewers).
func (r *Runtime) LiveDebugging() *livedebug.Service { return r.live }

// Component returns the running component with the given ID.
func (r *Runtime) Component(id string) (component.Component, bool) {
	n, ok := r.graph.Load().byID[id]
	if !ok {
		return nil, false
	}
	n.st.mu.Lock()
	defer n.st.mu.Unlock()
	return n.st.comp, n.st.comp != nil
}

// Exports returns the last exports the component with the given ID published.
func (r *Runtime) Exports(id string) (component.Exports, bool) {
	n, ok := r.graph.Load().byID[id]
	if !ok {
		return nil, false
	}
	n.st.mu.Lock()
	defer n.st.mu.Unlock()
	return n.st.exports, n.st.exportsSet
}

// Health returns the health of the component with the given ID.
func (r *Runtime) Health(id string) (component.Health, bool) {
	n, ok := r.graph.Load().byID[id]
	if !ok {
		return component.Health{}, false
	}
	return n.st.health(), true
}

// Ready reports whether a config has been loaded successfully.
func (r *Runtime) Ready() bool { return r.loaded.Load() }

// ComponentIDs returns the IDs of the running graph in topological order
// (dependencies first).
func (r *Runtime) ComponentIDs() []string {
	g := r.graph.Load()
	ids := make([]string, len(g.nodes))
	for i, n := range g.nodes {
		ids[i] = n.id
	}
	return ids
}

// Unhealthy returns the IDs of components whose health is not healthy or
// unknown, in topological order.
func (r *Runtime) Unhealthy() []string {
	var out []string
	for _, n := range r.graph.Load().nodes {
		switch n.st.health().Health {
		case component.HealthUnhealthy, component.HealthExited:
			out = append(out, n.id)
		}
	}
	return out
}
