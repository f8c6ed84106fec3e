// Package component states the whole contract between flow's runtime and the
// components it runs. Components import this package and never the runtime's
// internals; the runtime contains no component-specific code.
//
// # Registration
//
// A component is one package that calls Register from an init function and is
// imported (for its side effect) by a file in components/all. Its Registration
// names it (a dotted identifier such as "prometheus.remote_write"), gives a
// prototype of its Arguments and Exports (struct values, not pointers), and a
// Build function. Register refuses (panics at start-up) a name that is not
// dotted identifiers, a duplicate, and a name that is a whole-segment prefix
// of another ("a.b" with "a.b.c"), which would make references ambiguous.
//
// Register fills DefaultRegistry, which a runtime uses unless its options
// name another Registry: tests build their own (flowtest.Registry) to add
// components whose closures hold per-test state, with no process globals.
//
// # Arguments and Exports
//
// Arguments and Exports are plain Go structs whose fields carry `river` tags:
//
//	river:"name,attr"            required attribute
//	river:"name,attr,optional"   optional attribute (keeps its default)
//	river:"name,block"           required block (struct) or map block (map[string]T: attributes of the block)
//	river:"name,block,optional"  optional block; a slice of structs is a repeated block
//	river:",squash"              embedded struct whose fields are decoded inline
//
// Field types: string, bool, ints, floats, time.Duration ("15s"), value.Secret,
// slices, maps, structs, and any other Go type (interfaces, pointers to
// non-block types, funcs): those travel as capsules, untouched, so a receiver
// exported by one component reaches another as the same Go value.
//
// If *Arguments implements Defaulter, SetToDefault is called before decoding;
// if it implements Validator, Validate is called after, and its error is shown
// at the block's position.
//
// Arguments and Exports are immutable once handed over: the runtime never
// mutates them, and a component must not mutate the Arguments it receives or
// the Exports it published.
//
// # Lifecycle
//
// Build is called once with the first successfully evaluated Arguments. Run is
// called exactly once, in its own goroutine, and must return when its context
// is cancelled. Update may be called at any time while Run is running (and
// concurrently with it) with new Arguments; it is called only when the
// evaluated arguments differ from the previous ones. A component reports new
// exports through Options.OnStateChange; the runtime ignores exports equal to
// the previous ones and otherwise re-evaluates every component depending on it.
//
// # Live debugging
//
// Options.LiveDebug is where a component shows what passes through it on
// the Live tab of its page (Alloy's live debugging, switched on by the
// top-level `livedebugging { enabled = true }` block). A component calls
// Active before building anything to show: it is one atomic load, false
// unless someone watches this component, so the data path pays nothing
// when nobody does. Publish hands over one event whose text is made (by
// its LiveText) only if a viewer's rate limit admits the event, so events
// sampled out cost no formatting and, when the component passes a pointer
// it already holds, no allocation; Publish never blocks (a viewer that
// falls behind loses events, and is told how many). A hot path publishes
// through a LiveSampler, which stops calling Publish for a while once the
// viewers' rates are spent. Text must never contain a secret's value:
// credentials publish when and from where they were refreshed, a secret
// file that it changed. The types are in live.go.
//
// Optional extension interfaces: HealthComponent (component-reported health),
// DebugComponent (debug info shown in the API and UI), HTTPComponent (serves
// HTTP under /api/v0/component/{id}/).
//
// # Clustering
//
// With `flow run --cluster.enabled`, agents sharing one config split work
// among themselves. A component that distributes work (prometheus.scrape
// with `clustering { enabled = true }`) reaches the cluster through
// Options.Cluster, which is nil when clustering is off: a component then
// behaves as the only agent and owns everything. It asks Ownership() which
// peer owns each target, re-asks after every value received from Subscribe
// (a peer joined, left, died, or this agent became ready), and reports the
// targets it distributes with SetTargets so the API can count each peer's
// share. Ownership is a pure function of the label set and the live peers,
// so every agent computes the same owner for a target with no coordination.
package component

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Arguments is the decoded configuration of a component: a struct value.
type Arguments any

// Exports is the set of values a component publishes: a struct value.
type Exports any

// Component is a running component.
type Component interface {
	// Run runs the component until ctx is cancelled. It is called once.
	Run(ctx context.Context) error
	// Update applies new arguments. It may be called concurrently with Run.
	Update(args Arguments) error
}

// Options are given to a component when it is built.
type Options struct {
	// ID is the component's full ID, such as "prometheus.remote_write.default".
	ID string
	// Logger is scoped to the component (it carries component_id).
	Logger *slog.Logger
	// LogHandler is the handler under all of flow's own logs: that of the
	// runtime's logger (runtime.Options.Logger), without component_id. Only
	// the logging block uses it, to change the level and format of flow's
	// logs when it is a *logging.Handler (as cmd/flow's is); no process
	// global is involved, so each runtime (each test) has its own.
	LogHandler slog.Handler
	// Registerer registers the component's own metrics; every metric gets a
	// component_id label, and the metrics are unregistered when the component
	// is removed.
	Registerer prometheus.Registerer
	// DataPath is a directory private to this component, under --storage.path.
	// It is created before Build is called (unless the registration sets
	// NoDataPath) and survives restarts.
	DataPath string
	// OnStateChange publishes new exports. It is safe to call from any
	// goroutine, including from Build (before Run) to publish initial exports.
	OnStateChange func(e Exports)
	// Cluster is the agent's cluster, or nil when --cluster.enabled is
	// false (see "Clustering" above).
	Cluster Cluster
	// LiveDebug receives what passes through the component for the Live
	// view (see "Live debugging" above). nil outside the runtime (a
	// component built by a test): use Live(), which is never nil.
	LiveDebug LiveDebug
}

// Cluster is the agent's view of the flow cluster. Its methods are safe for
// concurrent use.
type Cluster interface {
	// Ownership returns the current ownership, an immutable snapshot.
	Ownership() Ownership
	// Subscribe returns a channel that receives a value after every change
	// of Ownership. Changes are coalesced (the channel holds one value), so
	// a receiver reads Ownership again after each value. cancel ends the
	// subscription; a component calls it when Run returns.
	Subscribe() (changes <-chan struct{}, cancel func())
	// SetTargets records the targets a component distributes (nil when it
	// stops distributing), so the cluster API can show how many of them
	// each peer owns. The cluster keeps only their hashes.
	SetTargets(componentID string, targets []map[string]string)
}

// Ownership says which peer owns each target at one moment.
type Ownership interface {
	// Ready is false until this agent has joined its peers and
	// --cluster.wait-for-size is met (or --cluster.wait-timeout passed);
	// until then the agent owns no target, so a starting fleet does not
	// scrape everything N times.
	Ready() bool
	// Self is this agent's node name (--cluster.node-name).
	Self() string
	// Peers are the node names that share targets now, sorted; this agent
	// is among them once it participates (after its first config load).
	Peers() []string
	// Owner returns the node name of the peer that owns the target with
	// these labels (labels starting with "__meta_" do not count), or "" when
	// no peer does (not Ready).
	Owner(target map[string]string) string
	// Owns reports whether this agent owns the target.
	Owns(target map[string]string) bool
}

// Registration describes a component type.
type Registration struct {
	// Name is the dotted name used in config, such as "aws.credentials".
	Name string
	// Args is a zero or default value of the Arguments struct type.
	Args Arguments
	// Exports is a zero value of the Exports struct type, or nil if the
	// component exports nothing.
	Exports Exports
	// Build creates the component from its first arguments.
	Build func(opts Options, args Arguments) (Component, error)
	// NoDataPath tells the runtime that the component keeps nothing on disk,
	// so no data directory is created for it: a config of thousands of such
	// components would otherwise create thousands of empty directories (each
	// a synchronous metadata write) before it could start.
	NoDataPath bool
	// ConfigBlock marks a block that, as Alloy's `logging`, is written
	// without a label and at most once. Every other component must have a
	// label, as in Alloy (`local.file "name" { … }`).
	ConfigBlock bool
}

// Defaulter is implemented by *Arguments types that have defaults.
type Defaulter interface{ SetToDefault() }

// Validator is implemented by *Arguments types that check themselves after decoding.
type Validator interface{ Validate() error }

// HealthType is the state of a component's health.
type HealthType int

const (
	HealthUnknown HealthType = iota
	HealthHealthy
	HealthUnhealthy
	// HealthExited means Run returned.
	HealthExited
)

func (h HealthType) String() string {
	switch h {
	case HealthHealthy:
		return "healthy"
	case HealthUnhealthy:
		return "unhealthy"
	case HealthExited:
		return "exited"
	default:
		return "unknown"
	}
}

// MarshalText renders the health state by name in JSON.
func (h HealthType) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads a health state by name, so API clients written in Go
// can decode the JSON the runtime serves.
func (h *HealthType) UnmarshalText(b []byte) error {
	for _, t := range []HealthType{HealthUnknown, HealthHealthy, HealthUnhealthy, HealthExited} {
		if string(b) == t.String() {
			*h = t
			return nil
		}
	}
	return fmt.Errorf("unknown health state %q: want healthy, unhealthy, unknown or exited", b)
}

// Health is a component's health at a point in time.
type Health struct {
	Health     HealthType `json:"state"`
	Message    string     `json:"message"`
	UpdateTime time.Time  `json:"updated_time"`
}

// HealthComponent is implemented by components that report their own health
// (for example an endpoint whose every send fails).
type HealthComponent interface {
	Component
	CurrentHealth() Health
}

// DebugComponent is implemented by components with debug info for the API
// and UI. The value is encoded like Exports (river tags), so secrets stay hidden.
type DebugComponent interface {
	Component
	DebugInfo() any
}

// HTTPComponent is implemented by components that serve HTTP under
// /api/v0/component/{id}/ on flow's own server.
type HTTPComponent interface {
	Component
	Handler() http.Handler
}

// Countable is implemented by exported capsule values through which data
// flows (metrics and log receivers). The runtime calls WithCounter once per
// edge and hands the returned value to the referencing component, so the UI
// can show how much flows along each edge. The returned value must behave as
// the original and add the number of items (samples, log entries) it passes on
// to counter. It must return the same kind of value (it is decoded into the
// same argument types).
type Countable interface {
	WithCounter(counter func(n int)) any
}
