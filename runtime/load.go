package runtime

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/flow-telemetry/flow/syntax"
)

// Load parses files (file name → River source), builds the component graph
// and evaluates it without building anything; on any error it returns the
// diagnostics and the running graph is untouched. Otherwise it applies the
// new graph as a diff by component ID (see the package documentation) and
// returns once removed components have stopped and new ones are built and,
// if Run is running, started. The returned diagnostics then hold warnings
// only.
//
// A failed Load is not logged: the caller reports the diagnostics once, in
// the form that suits it (flow run prints them with source lines, the HTTP
// API answers with them and logs them).
func (r *Runtime) Load(files map[string][]byte) hcl.Diagnostics {
	start := time.Now()
	r.evalMu.Lock()
	defer r.evalMu.Unlock()
	old := r.graph.Load()
	g, diags := r.stage(files, old)
	if diags.HasErrors() {
		r.metrics.reloads.WithLabelValues("failure").Inc()
		return diags
	}
	cause := "reload"
	if !r.loaded.Load() {
		cause = "initial load"
	}
	added, removed, warnings := r.apply(old, g, cause)
	diags = append(diags, warnings...)
	r.loaded.Store(true)
	r.metrics.reloads.WithLabelValues("success").Inc()
	r.metrics.lastReloadTime.SetToCurrentTime()
	r.metrics.configHash.Reset()
	r.metrics.configHash.WithLabelValues(g.hash).Set(1)
	r.log.Info("config loaded", "components", len(g.nodes), "added", added, "removed", removed, "duration", time.Since(start))
	return diags
}

// Validate checks files as Load would, against the running components'
// exports, and changes nothing.
func (r *Runtime) Validate(files map[string][]byte) hcl.Diagnostics {
	r.evalMu.Lock()
	defer r.evalMu.Unlock()
	_, diags := r.stage(files, r.graph.Load())
	return diags
}

// stage builds the graph for files and evaluates every component in
// topological order without building any.
func (r *Runtime) stage(files map[string][]byte, live *graph) (*graph, hcl.Diagnostics) {
	g, diags := r.buildGraph(files, live)
	if g == nil {
		return nil, diags
	}
	// One evaluation budget for the whole config: no expression repeated
	// across components may do more work than the config's size allows.
	size := 0
	for _, src := range files {
		size += len(src)
	}
	budget := evalBudget(size)
	checked := 0 // diags counted into errs so far
	errs := 0
	for _, n := range g.nodes {
		if budget.Exhausted() {
			break // reported where it ran out
		}
		errs += countErrors(diags[checked:])
		checked = len(diags)
		if errs >= maxErrors {
			diags = append(diags, tooManyErrors(errs, n.id, n.block.NameRange))
			break
		}
		if n.tainted {
			continue
		}
		// A component whose dependencies are all built is decoded against
		// their current exports, even those about to be updated: if that
		// succeeds, its arguments are valid, and applying the load reuses
		// them when what they read has not changed meanwhile (stagedArgs),
		// so most components are decoded once per load.
		if !r.opts.UnknownEnvironment {
			ctx, known, versions := r.evalContext(n, stagingBuilt)
			if known {
				dec, d := decodeArgs(n, ctx, budget)
				if dec != nil {
					n.setSecrets(dec.secrets)
				}
				pending := slices.ContainsFunc(n.deps, (*gnode).pending)
				if !d.HasErrors() {
					diags = append(diags, d...)
					n.staged = &stagedEval{dec: dec, versions: versions, ctx: ctx}
					// A built component keeping its arguments, and reading
					// nothing about to change, keeps its exports, so its
					// dependants can be checked against them.
					eq := false
					if sameText(n, g, live) {
						n.st.mu.Lock()
						eq = n.st.comp != nil && argsEqual(dec.args, n.st.args)
						n.st.mu.Unlock()
					}
					n.staged.stable = eq && !pending
					// Applying these very arguments (nothing they read
					// changed: see stagedArgs) needs no second comparison:
					// evalMu is held from here to apply, so the applied
					// arguments cannot change meanwhile.
					dec.unchanged = eq
					continue
				}
				if !pending {
					diags = append(diags, d...)
					continue
				}
				// The errors may be the current values' only, about to
				// change: judged below as if those values were unknown.
			}
		}
		// Decode with placeholders for the unknown values, for the errors
		// that do not depend on them (a misspelt attribute, a wrong type in
		// a literal, an argument check such as scrape_timeout >
		// scrape_interval), dropping those about expressions whose value is
		// not known yet.
		ctx, _, versions := r.evalContext(n, stagingPending)
		dec, d := decodeWithPlaceholders(n, ctx, budget)
		if dec != nil {
			n.setSecrets(dec.secrets)
		}
		if d.HasErrors() {
			diags = append(diags, dropWithin(d, unknownExpressions(n.block.Body, ctx))...)
		} else if dec != nil && dec.args != nil && !r.opts.UnknownEnvironment {
			// Kept for applying, which evaluates again what names a
			// dependency unknown here (every placeholder does: unknown
			// values come from those alone) and takes the rest.
			unknown := make([]bool, len(n.deps))
			for i, dep := range n.deps {
				unknown[i] = dep.pending()
			}
			n.staged = &stagedEval{dec: dec, versions: versions, ctx: ctx, unknown: unknown}
		}
	}
	if diags.HasErrors() {
		return nil, sortDiagnostics(diags)
	}
	return g, diags
}

// sameText reports whether n's block reads as it did in the running graph.
// A block whose text changed is taken as changing its arguments without
// comparing them while staging (its dependants are then judged as reading
// something about to change, and applying compares the arguments once):
// comparing them here too made an edit of every component compare each one
// twice.
func sameText(n *gnode, g, live *graph) bool {
	o := live.byID[n.id]
	if o == nil {
		return false
	}
	if o.block == n.block {
		return true // the same tree: the file is unchanged
	}
	return bytes.Equal(blockText(n.block, g.files), blockText(o.block, live.files))
}

// blockText is a block's source in files, or nil.
func blockText(b *syntax.Block, files map[string][]byte) []byte {
	src := files[b.Range.Filename]
	if b.Range.Start.Byte < 0 || b.Range.End.Byte > len(src) || b.Range.Start.Byte > b.Range.End.Byte {
		return nil
	}
	return src[b.Range.Start.Byte:b.Range.End.Byte]
}

// apply makes g the running graph: it stops components missing from g, then
// evaluates every component of g in topological order, building new ones
// and updating those whose arguments changed.
//
// Components whose evaluation, Build or Update fails are left unhealthy (the
// rest of the graph runs) and returned as warnings.
func (r *Runtime) apply(old, g *graph, cause string) (added, removed int, warnings hcl.Diagnostics) {
	// Stop removed components first (freeing their ports for new ones),
	// sources before the components they fed, all within the stop timeout.
	deadline := time.Now().Add(r.opts.StopTimeout)
	var levels [][]*nodeState
	for _, level := range old.levels {
		var gone []*nodeState
		for _, i := range level {
			n := old.nodes[i]
			if nn, ok := g.byID[n.id]; !ok || nn.st != n.st {
				gone = append(gone, n.st)
			}
		}
		if len(gone) > 0 {
			levels = append(levels, gone)
		}
	}
	r.stopLevels(levels, deadline)
	for _, gone := range levels {
		for _, st := range gone {
			st.cancelBuildRetry()
			st.registerer.UnregisterAll()
			r.queue.take(st)
			r.live.Remove(st.id)
			removed++
		}
	}
	r.graph.Store(g)

	for _, n := range g.nodes {
		if _, existed := old.byID[n.id]; !existed {
			added++
		}
		if n.st.edges.keepOnly(n.refs) {
			// Scopes holding wrappers that count into dropped counters.
			n.st.scopes = [2]*evalScope{}
		}
	}
	var mu sync.Mutex
	for _, group := range g.byDepth {
		parallel(group, func(n *gnode) {
			start := time.Now()
			dec, ctx := r.stagedArgs(n)
			var diags hcl.Diagnostics
			if dec == nil {
				dec, diags = decodeArgsAgain(n, ctx, n.staged)
			}
			n.staged = nil
			if msg := r.applyArgs(n, dec, diags, cause, start); msg != "" {
				ws := asWarnings(n, diags, msg)
				if diags.HasErrors() {
					markArgumentErrors(n, ws)
				}
				mu.Lock()
				warnings = append(warnings, ws...)
				mu.Unlock()
			}
		})
		// Everything downstream of these nodes is deeper and evaluated
		// later in this pass, so exports changes they made meanwhile need
		// no extra wave.
		for _, n := range group {
			r.queue.take(n.st)
		}
	}
	// Parallel evaluation finishes in any order; report in source order.
	slices.SortStableFunc(warnings, func(a, b *hcl.Diagnostic) int {
		if a.Subject == nil || b.Subject == nil {
			return 0
		}
		return cmp.Or(strings.Compare(a.Subject.Filename, b.Subject.Filename), cmp.Compare(a.Subject.Start.Byte, b.Subject.Start.Byte))
	})
	if added > 0 || removed > 0 {
		r.events.publish(Event{Type: "graph", Data: GraphEvent{}})
	}
	return added, removed, warnings
}

// asWarnings turns a component's failed evaluation into warnings: the config
// was applied, that component is unhealthy.
func asWarnings(n *gnode, diags hcl.Diagnostics, msg string) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			w := *d
			w.Severity = hcl.DiagWarning
			w.Summary = n.id + ": " + d.Summary
			out = append(out, &w)
		}
	}
	if len(out) == 0 {
		out = append(out, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  n.id + ": " + msg,
			Subject:  n.block.NameRange.Ptr(),
		})
	}
	return out
}

// stagedArgs returns the arguments decoded while staging if what they were
// computed from is unchanged since: every export version they read, or, where
// some changed, the exports the component's expressions name (its evaluation
// scope is kept: see evalContext). Else it returns nil and the live
// evaluation context to decode in.
func (r *Runtime) stagedArgs(n *gnode) (*decoded, *hcl.EvalContext) {
	s := n.staged
	if s != nil && s.unknown == nil {
		same := true
		for i, d := range n.deps {
			d.st.mu.Lock()
			v := d.st.exportsVersion
			d.st.mu.Unlock()
			if v != s.versions[i] {
				same = false
				break
			}
		}
		if same {
			return s.dec, nil
		}
	}
	ctx, _, _ := r.evalContext(n, live)
	if s != nil && s.unknown == nil && ctx == s.ctx {
		return s.dec, nil
	}
	return nil, ctx
}
