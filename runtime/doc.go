// Package runtime runs a River configuration as a graph of components: it
// loads config files into a DAG, evaluates each component's arguments in
// dependency order, runs every component in its own goroutine, re-evaluates
// exactly the components downstream of a changed export, and applies new
// configs as a diff by component ID.
//
// # Loader
//
// Every top-level block of the config files is one component node whose ID is
// the block name plus "." plus its label ("prometheus.scrape.default"). The
// name must be in the runtime's registry (Options.Registry, by default every
// component the binary imports); duplicate IDs are reported at both
// positions. Edges come from the traversals in each block's expressions, the
// whole body walked, nested blocks included: a traversal resolves to the
// component whose ID is its longest dotted prefix, and the step after the ID
// must be an export of that component's Exports type. A traversal matching no
// component is an error unless its root is a standard-library variable
// (constants.hostname). Cycles are found with Tarjan's algorithm
// (runtime/internal/dag) and reported with every component on them.
//
// A node is evaluated in a hcl.EvalContext whose parent is the standard
// library's and whose variables hold only the exports of the node's
// dependencies, as nested objects (aws → credentials → default → exports).
// The block is decoded into a fresh Arguments value (defaults first); the
// component is built on its first successful evaluation and later updated only
// when the arguments, encoded back to cty values, differ from the last ones
// (capsules compare by identity, so the same receiver is no change).
//
// # Scheduler
//
// OnStateChange encodes the new exports and drops them when they equal the
// previous ones; otherwise the node is queued. One evaluator goroutine drains
// the queue in waves: it collects every queued node, evaluates their
// dependants once each in dependency order, and continues past a dependant
// only if that dependant's own exports changed during the wave. A burst of
// changes therefore costs at most one evaluation per dependant per wave.
// The order is by depth (the longest reference chain below a node): nodes of
// equal depth cannot depend on each other, so each depth's nodes are
// evaluated in parallel, which is what keeps a 1,000-way fan-out fast. Loads
// evaluate the whole graph the same way.
//
// Each component's Run has its own goroutine. A panic in Build, Update or Run
// is recovered and makes that component unhealthy with the panic message; the
// others keep running.
//
// A failed Build (an error or a panic: a port in use, a server not up yet)
// is retried while Run runs, not only when an input changes: the component
// is evaluated again after Options.BuildRetryMin (1 s), then after twice as
// long each time up to Options.BuildRetryMax (1 min). Until an attempt
// succeeds the component stays unhealthy with the Build error, its attempt
// number and the wait. Any successful Build ends the retries, as do removing
// the component and stopping the runtime; a Load before Run only schedules
// them.
//
// An evaluation error keeps the last good arguments and makes the component
// unhealthy. A component's health is the least healthy of
// its evaluation health, its run health and the health it reports itself
// (component.HealthComponent). The last 20 evaluations of each component are
// kept with their time, duration, cause and error, and the last 50 changes of
// its health with their time and message (ComponentDetail.HealthHistory).
//
// # Countable edges
//
// When a dependency exports a capsule holding a component.Countable (a
// metrics or logs receiver), the referencing component receives the wrapper
// returned by WithCounter for that edge instead, cached per edge and
// underlying value so its arguments stay equal across evaluations. The
// counters give the per-edge rates the API and UI show.
//
// # Reload
//
// Load parses, builds the graph and evaluates every component against a
// staged copy first, building nothing; on any error it returns the
// diagnostics and nothing changes. Exports of components not built yet are
// unknown during staging, so expressions depending on them are checked for
// errors but not decoded. A component whose dependencies are all built is
// decoded against their current exports, even those about to be updated;
// if that fails while one is, its errors are judged as if that one's
// exports were unknown (they may be the current values' only). Applying
// reuses a staged decode when the exports the component's expressions name
// are unchanged, so a component is decoded once per load unless what it
// reads changes. Then the new graph is applied as a diff by ID:
// removed components are stopped (their Run has returned when Load returns),
// components with the same ID keep their instance and get Update only if their
// arguments changed, and new components are built and started. A component
// whose evaluation fails only with the real values (known after its inputs
// were updated) is left unhealthy and reported as a warning.
//
// Unknown component names do not stop the checking: the rest of the config
// is still evaluated (components referencing the unknown ones excepted), so
// `flow validate` reports every mistake at once.
//
// # Data directories
//
// Each component gets <DataPath>/<DataDirName(id)>, created before Build
// unless its registration sets NoDataPath: on a disk where creating a
// directory costs a synchronous metadata write, thousands of empty
// directories would dominate start-up. DataDirName keeps a plain lower-case
// ID as it is (existing WALs are found) and maps any other ID to a bounded
// name with a hash of the ID, so a label can never point outside DataPath.
// Two components whose directories would coincide (compared
// case-insensitively) fail the load, and so `flow validate`, at both blocks.
// A directory an older flow kept under the raw ID (a label with upper case
// or spaces) is renamed to its new name when the component is first built.
// A symbolic link in place of a component's directory is refused.
//
// # Shutdown
//
// When Run's context ends, components are stopped in levels: first those no
// other component depends on (sources such as a scrape), then those they fed,
// so sinks (remote_write) can flush what they were sent. The whole shutdown
// is bounded by Options.StopTimeout; a component still running then is
// logged and abandoned.
package runtime
