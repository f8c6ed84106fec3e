package runtime

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/decode"
)

func (r *Runtime) newNodeState(id string, reg component.Registration) *nodeState {
	st := newNodeState(id, reg, r.log, "", newComponentRegisterer(r.opts.Registerer, id))
	st.dirName = DataDirName(id)
	st.dataPath = filepath.Join(r.opts.DataPath, st.dirName)
	return st
}

// varTree builds the nested objects that hold dependencies' exports
// (aws → credentials → default → exports).
type varTree struct {
	val      cty.Value
	has      bool
	children map[string]*varTree
}

func (t *varTree) set(path []string, v cty.Value) {
	for _, p := range path {
		if t.children == nil {
			t.children = map[string]*varTree{}
		}
		c := t.children[p]
		if c == nil {
			c = &varTree{}
			t.children[p] = c
		}
		t = c
	}
	t.val, t.has = v, true
}

func (t *varTree) value() cty.Value {
	if len(t.children) == 0 {
		return t.val
	}
	attrs := map[string]cty.Value{}
	// A component whose ID is a prefix of another's (a label with a dot):
	// keep both, the longer ID's segments merged into the shorter's exports.
	if t.has && t.val.IsKnown() && !t.val.IsNull() && t.val.Type().IsObjectType() {
		for k, v := range t.val.AsValueMap() {
			attrs[k] = v
		}
	}
	for k, c := range t.children {
		attrs[k] = c.value()
	}
	return cty.ObjectVal(attrs)
}

// scopeMode says which dependencies' exports an evaluation sees as unknown.
type scopeMode int

const (
	// live: every dependency's current exports.
	live scopeMode = iota
	// stagingBuilt: the exports of dependencies not built are unknown; a
	// built one's current exports are seen even if it is about to be
	// updated. A decode that succeeds in this scope is valid and, if what
	// it read is still what the component sees once its dependencies are
	// applied, is what gets applied (see stage and stagedArgs).
	stagingBuilt
	// stagingPending: the exports of dependencies not built or about to be
	// updated (pending) are unknown, so errors that may only be the
	// current values' are not reported.
	stagingPending
)

// pending reports whether d may export something else once the load being
// staged is applied: it is not built, failed to stage, or its arguments
// (or something they read) change.
func (d *gnode) pending() bool { return d.staged == nil || !d.staged.stable }

// evalContext returns n's context: the standard library plus the exports of
// n's dependencies. While staging, some of them are unknown (see scopeMode;
// known is then false). versions are the dependencies' export versions
// read, in n.deps order.
//
// The scope holds of each dependency only the exports n's expressions name,
// or all of them where one names the component as a whole (an index such as
// c["output"] does), which no expression can tell apart. It is kept in n's
// state and reused while what it holds is unchanged (the same exports
// version, or equal values of the exports named; unknown ones: the same
// types), so a reload or a wave does not rebuild it for every component.
// The context returned is that scope: each evaluation sets its own budget
// in it (setBudget), which is safe as n's evaluations never run
// concurrently (evalMu).
func (r *Runtime) evalContext(n *gnode, mode scopeMode) (ctx *hcl.EvalContext, known bool, versions []uint64) {
	known = true
	versions = make([]uint64, len(n.deps))
	keys := make([]scopeKey, len(n.deps))
	for i, d := range n.deps {
		k := &keys[i]
		k.st, k.id = d.st, d.id
		d.st.mu.Lock()
		k.val, k.version = d.st.exportsVal, d.st.exportsVersion
		built := d.st.comp != nil
		d.st.mu.Unlock()
		k.unknown = mode == stagingBuilt && !built || mode == stagingPending && d.pending()
		known = known && !k.unknown
		versions[i] = k.version
		k.want = n.depExports[i]
	}
	slot := 0
	if !known {
		slot = 1
	}
	if sc := n.st.scopes[slot]; sc != nil && sc.matches(keys) {
		return sc.ctx, known, versions
	}
	scope := r.stdlib().NewChild()
	for i := range keys {
		keys[i].selectExports()
	}
	if len(keys) == 1 && !keys[0].unknown && keys[0].names == nil {
		// The common case of one dependency read whole needs no merging:
		// reuse the dependency's exports wrapped in its ID's nested
		// objects, unless they hold capsules to count.
		d := n.deps[0]
		d.st.mu.Lock()
		var nested cty.Value
		var ok bool
		if d.st.exportsVersion == keys[0].version {
			nested, ok = d.st.nestedExports(d.path)
		}
		d.st.mu.Unlock()
		if ok {
			scope.Variables = map[string]cty.Value{d.path[0]: nested}
			n.st.scopes[slot] = &evalScope{keys: keys, ctx: scope}
			return scope, known, versions
		}
	}
	if len(keys) == 1 && !keys[0].unknown && keys[0].names != nil && !slices.ContainsFunc(keys[0].attrs, func(v cty.Value) bool { return mayHoldCapsule(v.Type()) }) && n.st.edges.noWrappers() {
		// One dependency, some of its exports named, no capsule among
		// them (a discovery chain's targets): the nested objects are built
		// directly, without the tree that merges several dependencies.
		k := &keys[0]
		attrs := make(map[string]cty.Value, len(k.names))
		for j, name := range k.names {
			attrs[name] = k.attrs[j]
		}
		v := cty.ObjectVal(attrs)
		path := n.deps[0].path
		for i := len(path) - 1; i >= 1; i-- {
			v = cty.ObjectVal(map[string]cty.Value{path[i]: v})
		}
		scope.Variables = map[string]cty.Value{path[0]: v}
		n.st.scopes[slot] = &evalScope{keys: keys, ctx: scope}
		return scope, known, versions
	}
	root := &varTree{}
	// A scope of known exports drops the wrappers it does not use; a
	// staging scope with unknowns keeps them, as the live scope holds them.
	n.st.edges.beginEvaluation(known)
	for i, d := range n.deps {
		k := &keys[i]
		v := k.val
		if k.names != nil {
			attrs := make(map[string]cty.Value, len(k.names))
			for j, name := range k.names {
				attrs[name] = k.attrs[j]
			}
			v = cty.ObjectVal(attrs)
		}
		if k.unknown {
			v = cty.UnknownVal(v.Type())
		} else {
			v = countEdges(n.st.edges, d.id, v)
		}
		root.set(d.path, v)
	}
	n.st.edges.endEvaluation()
	scope.Variables = make(map[string]cty.Value, len(root.children))
	for k, c := range root.children {
		scope.Variables[k] = c.value()
	}
	n.st.scopes[slot] = &evalScope{keys: keys, ctx: scope}
	return scope, known, versions
}

// evalScope is a component's evaluation scope kept for reuse (see
// evalContext): what it was built from, and the context holding it. Only
// evaluations of that component, under evalMu, use it.
type evalScope struct {
	keys []scopeKey
	ctx  *hcl.EvalContext
}

// scopeKey is what a scope was built from for one dependency: its exports
// (val) and their version, unknown or not, and the exports wanted (nil:
// all); names and attrs are the exports selected and their values, names
// nil when the scope holds them all (selectExports).
type scopeKey struct {
	st       *nodeState
	id       string
	version  uint64
	unknown  bool
	val      cty.Value
	want     []string
	selected bool
	names    []string
	attrs    []cty.Value
}

// selectExports sets names and attrs: the exports wanted and their values
// when they are fewer than all of val's; else nil and nil (the scope holds
// val whole).
func (k *scopeKey) selectExports() {
	if k.selected {
		return
	}
	k.selected = true
	v := k.val
	if k.want == nil || !v.IsKnown() || v.IsNull() || v.IsMarked() || !v.Type().IsObjectType() {
		return
	}
	types := v.Type().AttributeTypes()
	if len(k.want) >= len(types) {
		return
	}
	attrs := make([]cty.Value, len(k.want))
	for i, name := range k.want {
		// The names are the Exports' river names, as the object holds them
		// (a name needing normalization would only select nothing).
		if _, ok := types[name]; !ok {
			return
		}
		attrs[i] = v.GetAttr(name)
	}
	k.names, k.attrs = k.want, attrs
}

func (s *evalScope) matches(keys []scopeKey) bool {
	if len(keys) != len(s.keys) {
		return false
	}
	for i := range keys {
		k, c := &keys[i], &s.keys[i]
		if k.st != c.st || k.id != c.id || k.unknown != c.unknown || !slices.Equal(k.want, c.want) {
			return false
		}
		if k.version == c.version {
			continue // the same exports: the same selection
		}
		k.selectExports()
		if !slices.Equal(k.names, c.names) {
			return false
		}
		// The exports changed; the scope still holds if what it shows of
		// them did not: the values named, or for unknowns their types.
		switch {
		case k.names == nil:
			if !k.unknown || !k.val.Type().Equals(c.val.Type()) {
				return false
			}
		default:
			for j, a := range k.attrs {
				if k.unknown && !a.Type().Equals(c.attrs[j].Type()) || !k.unknown && !a.RawEquals(c.attrs[j]) {
					return false
				}
			}
		}
		c.version, c.val, c.attrs = k.version, k.val, k.attrs
	}
	return true
}

// referencedExports returns the exports of d that n's expressions name, or
// nil when one names d as a whole.
func (n *gnode) referencedExports(d *gnode) []string {
	var out []string
	for _, ref := range n.refs {
		if ref.target != d {
			continue
		}
		if ref.export == "" {
			return nil
		}
		if !slices.Contains(out, ref.export) {
			out = append(out, ref.export)
		}
	}
	return out
}

// countEdges swaps Countable capsules in exports v of component from for
// their per-edge counting wrappers.
func countEdges(es *edgeSet, from string, v cty.Value) cty.Value {
	if !v.IsKnown() || v.IsNull() || !v.Type().IsObjectType() || !mayHoldCapsule(v.Type()) {
		return v
	}
	m := v.AsValueMap()
	changed := false
	for k, ev := range m {
		if !mayHoldCapsule(ev.Type()) {
			continue
		}
		if nv := es.countExports(from, k, ev); !nv.RawEquals(ev) {
			m[k] = nv
			changed = true
		}
	}
	if !changed {
		return v
	}
	return cty.ObjectVal(m)
}

func mayHoldCapsule(t cty.Type) bool {
	switch {
	case t.IsCapsuleType(), t == cty.DynamicPseudoType:
		return true
	case t.IsListType(), t.IsSetType(), t.IsMapType():
		return mayHoldCapsule(t.ElementType())
	case t.IsObjectType():
		for _, at := range t.AttributeTypes() {
			if mayHoldCapsule(at) {
				return true
			}
		}
	case t.IsTupleType():
		for _, et := range t.TupleElementTypes() {
			if mayHoldCapsule(et) {
				return true
			}
		}
	}
	return false
}

// decoded is the result of decoding a block: the Arguments value and where
// secrets are in the source. A block that fails to decode still has its
// secrets: the config view masks them whether or not the component runs.
//
// The arguments are compared with the applied ones as Go values
// (argsEqual) and encoded only when shown (ComponentDetail): encoding every
// component's arguments on every evaluation was a fifth of a reload.
type decoded struct {
	args    component.Arguments
	secrets []masked
	// unchanged is set when staging found args equal to those applied.
	unchanged bool
}

// decodeArgs decodes n's block into a fresh Arguments value, spending
// budget, or when it is nil a budget of n's own (syntax.EvalBudget).
func decodeArgs(n *gnode, ctx *hcl.EvalContext, budget *syntax.EvalBudget) (dec *decoded, diags hcl.Diagnostics) {
	return decodeArgsWith(n, ctx, budget, false)
}

// decodeArgsAgain decodes n's block once more after staging, when some of
// the exports its staged decode s read have changed or were unknown: only
// the attributes naming such a dependency are evaluated again, the rest are
// taken from s (decode.Reuse). A staged decode that found secrets is
// not reused (their ranges are recorded by evaluating), nor is one without
// arguments.
func decodeArgsAgain(n *gnode, ctx *hcl.EvalContext, s *stagedEval) (dec *decoded, diags hcl.Diagnostics) {
	if s == nil || s.dec == nil || s.dec.args == nil || len(s.dec.secrets) > 0 {
		return decodeArgs(n, ctx, nil)
	}
	var changed [][]string
	for i, d := range n.deps {
		d.st.mu.Lock()
		v := d.st.exportsVersion
		d.st.mu.Unlock()
		if v != s.versions[i] || s.unknown != nil && s.unknown[i] {
			changed = append(changed, d.path)
		}
	}
	fresh := func(a *syntax.Attribute) bool {
		if a.Expr == nil {
			return false
		}
		for _, tr := range a.Expr.Variables() {
			for _, path := range changed {
				if mayName(tr, path) {
					return true
				}
			}
		}
		return false
	}
	return decodeArgsWith(n, ctx, nil, false, decode.Reuse(s.dec.args, fresh))
}

// mayName reports whether traversal tr may read the component whose ID has
// the dotted segments path: it names the component or something in it, or a
// prefix of its ID (an object holding it). When it cannot tell (an index
// step, a name other than ASCII, which evaluation normalizes), it says yes.
func mayName(tr hcl.Traversal, path []string) bool {
	for i, seg := range path {
		if i >= len(tr) {
			return true
		}
		var name string
		switch st := tr[i].(type) {
		case hcl.TraverseRoot:
			name = st.Name
		case hcl.TraverseAttr:
			name = st.Name
		default:
			return true
		}
		if name != seg && (isASCII(name) && isASCII(seg)) {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// decodeWithPlaceholders decodes n's block while some of the exports it
// reads are not known yet (their components are not built): each attribute
// that depends on them gets a placeholder of its type, so the component's
// own argument checks (Validate) still run, and only their errors that name
// such an attribute are dropped (decode.Placeholders). This is how `flow
// validate` and a reload reject an argument error that `flow run` would
// meet only once the component's dependencies run.
func decodeWithPlaceholders(n *gnode, ctx *hcl.EvalContext, budget *syntax.EvalBudget) (dec *decoded, diags hcl.Diagnostics) {
	return decodeArgsWith(n, ctx, budget, true)
}

func decodeArgsWith(n *gnode, ctx *hcl.EvalContext, budget *syntax.EvalBudget, placeholders bool, opts ...decode.Option) (dec *decoded, diags hcl.Diagnostics) {
	if budget == nil {
		budget = evalBudget(n.block.Range.End.Byte - n.block.Range.Start.Byte)
	}
	setBudget(ctx, budget) // ctx is evalContext's, made for this evaluation
	defer func() {
		if p := recover(); p != nil {
			dec = nil
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("decoding the arguments of %s panicked: %v", n.id, p),
				Subject:  n.block.NameRange.Ptr(),
			})
		}
	}()
	// The prototype's field values are the defaults; decoding calls
	// SetToDefault and Validate itself.
	proto := reflect.ValueOf(n.st.reg.Args)
	p := reflect.New(proto.Type())
	p.Elem().Set(proto)
	dec = &decoded{}
	diags = decodeBody(n.block, ctx, p.Interface(), &dec.secrets, placeholders, opts...)
	dec.secrets = literalSecrets(n.block.Body, dec.secrets)
	if diags.HasErrors() {
		return &decoded{secrets: dec.secrets}, diags
	}
	dec.args = p.Elem().Interface()
	return dec, diags
}

// unknownExpressions returns the ranges of the attribute expressions in
// body (nested blocks included) whose values are not wholly known in ctx.
func unknownExpressions(body *syntax.Body, ctx *hcl.EvalContext) []hcl.Range {
	var out []hcl.Range
	syntax.Walk(body, func(a *syntax.Attribute) {
		if a.Expr == nil {
			return
		}
		if v, _ := a.Expr.Value(ctx); !v.IsWhollyKnown() {
			out = append(out, a.Expr.Range())
		}
	})
	return out
}

// dropWithin removes the diagnostics pointing inside one of ranges.
func dropWithin(diags hcl.Diagnostics, ranges []hcl.Range) hcl.Diagnostics {
	if len(ranges) == 0 {
		return diags
	}
	var out hcl.Diagnostics
	for _, d := range diags {
		inside := false
		if d.Subject != nil {
			for _, r := range ranges {
				if d.Subject.Filename == r.Filename && d.Subject.Start.Byte >= r.Start.Byte && d.Subject.End.Byte <= r.End.Byte {
					inside = true
					break
				}
			}
		}
		if !inside {
			out = append(out, d)
		}
	}
	return out
}

// evaluateLive evaluates n against the live exports of its dependencies and
// applies the result.
func (r *Runtime) evaluateLive(n *gnode, cause string) {
	start := time.Now()
	ctx, _, _ := r.evalContext(n, live)
	dec, diags := decodeArgs(n, ctx, nil)
	r.applyArgs(n, dec, diags, cause, start)
}

// applyArgs builds or updates n's component with newly evaluated arguments
// and records the evaluation. An error leaves the last good arguments in
// place and is returned as a message.
func (r *Runtime) applyArgs(n *gnode, dec *decoded, diags hcl.Diagnostics, cause string, start time.Time) (errMsg string) {
	st := n.st
	// retryNote says when a failed Build is tried again; it goes into the
	// health message, the log and the returned message, not the recorded
	// evaluation (whose time says when it was).
	var retryNote string
	var retryIn time.Duration
	if dec != nil {
		// The secrets are where the source has them, whether this
		// evaluation succeeds or not.
		n.setSecrets(dec.secrets)
	}
	if diags.HasErrors() {
		errMsg = "component evaluation failed: " + diagnosticsText(diags)
	} else {
		st.mu.Lock()
		comp, prev := st.comp, st.args
		st.mu.Unlock()
		switch {
		case comp == nil:
			c, err := r.build(st, dec.args)
			if err != nil {
				errMsg = "building component failed: " + err.Error()
				var attempt int
				attempt, retryIn = r.buildFailed(st)
				retryNote = fmt.Sprintf(" (attempt %d; retrying in %s)", attempt, retryIn)
				break
			}
			st.buildSucceeded()
			st.mu.Lock()
			st.comp, st.args = c, dec.args
			st.builtAt = time.Now()
			st.mu.Unlock()
			r.start(st)
		case !dec.unchanged && !argsEqual(dec.args, prev):
			if err := safeUpdate(comp, dec.args); err != nil {
				errMsg = "updating component failed: " + err.Error()
				break
			}
			st.mu.Lock()
			st.args = dec.args
			st.updates++
			st.mu.Unlock()
		}
	}
	switch {
	case retryNote != "":
		st.log.Error("component evaluation failed", "cause", cause, "err", errMsg, "retry_in", retryIn)
		st.setEvalHealth(component.HealthUnhealthy, errMsg+retryNote)
	case errMsg != "":
		st.log.Error("component evaluation failed", "cause", cause, "err", errMsg)
		st.setEvalHealth(component.HealthUnhealthy, errMsg)
	default:
		st.setEvalHealth(component.HealthHealthy, "component evaluated")
	}
	dur := time.Since(start)
	r.metrics.evalSeconds.Observe(dur.Seconds())
	e := Evaluation{Time: start, Duration: dur.Seconds(), Cause: cause, Error: errMsg}
	st.recordEvaluation(e)
	if r.events.active() {
		r.announceEvaluation(st, e)
	}
	// Always: the health history is kept whether or not anyone listens.
	r.announceHealth(st)
	if errMsg == "" {
		return ""
	}
	return errMsg + retryNote
}

// build creates the component's data directory and calls Build, turning a
// panic into an error.
func (r *Runtime) build(st *nodeState, args component.Arguments) (c component.Component, err error) {
	if !st.reg.NoDataPath {
		if err := r.ensureDataDir(st); err != nil {
			return nil, err
		}
	}
	opts := component.Options{
		ID:            st.id,
		Logger:        st.log,
		LogHandler:    r.log.Handler(),
		Registerer:    st.registerer,
		DataPath:      st.dataPath,
		OnStateChange: func(e component.Exports) { r.onStateChange(st, e) },
		Cluster:       r.opts.Cluster,
		LiveDebug:     r.live.Publisher(st.id),
	}
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, panicError("Build", p)
			st.registerer.UnregisterAll()
		}
	}()
	c, err = st.reg.Build(opts, args)
	if err == nil && c == nil {
		//lint:ignore ST1005 Build is the method's name
		err = fmt.Errorf("Build returned no component")
	}
	if err != nil {
		// A failed Build may have registered metrics; the next attempt
		// registers them again.
		st.registerer.UnregisterAll()
	}
	return c, err
}

func safeUpdate(c component.Component, args component.Arguments) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicError("Update", p)
		}
	}()
	return c.Update(args)
}

// diagnosticsText renders diagnostics on one line for health messages and
// logs: "file:line:col: summary; detail".
func diagnosticsText(diags hcl.Diagnostics) string {
	var parts []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		s := d.Summary
		if d.Detail != "" {
			s += "; " + d.Detail
		}
		if d.Subject != nil {
			s = fmt.Sprintf("%s:%d:%d: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, s)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "\n")
}

// zeroExportsCache holds zeroExports per registration name: cty values are
// immutable, so every component of a kind can share one.
var zeroExportsCache sync.Map // string -> cty.Value

// zeroExports is the encoding of a registration's zero Exports: what
// dependants see before the component publishes anything.
func zeroExports(reg component.Registration) cty.Value {
	if v, ok := zeroExportsCache.Load(reg.Name); ok {
		return v.(cty.Value)
	}
	v := cty.EmptyObjectVal
	if reg.Exports != nil {
		if ev, err := encodeValue(reg.Exports); err == nil {
			v = ev
		}
	}
	zeroExportsCache.Store(reg.Name, v)
	return v
}

// nestedExports returns the exports wrapped in objects named by path[1:]
// (the caller puts them under path[0]), cached until the exports change. It
// reports false when the exports may hold capsules, which each referencing
// component gets wrapped for its own edge. The caller holds st.mu.
func (st *nodeState) nestedExports(path []string) (cty.Value, bool) {
	if st.nestedSet && st.nestedVersion == st.exportsVersion {
		return st.nested, st.nestedOK
	}
	v := st.exportsVal
	ok := !mayHoldCapsule(v.Type())
	if ok {
		for i := len(path) - 1; i >= 1; i-- {
			v = cty.ObjectVal(map[string]cty.Value{path[i]: v})
		}
	}
	st.nested, st.nestedOK, st.nestedSet, st.nestedVersion = v, ok, true, st.exportsVersion
	return v, ok
}

// encodeExports encodes exports published by a component.
func encodeExports(reg component.Registration, e component.Exports) (v cty.Value, err error) {
	if e == nil {
		return zeroExports(reg), nil
	}
	if reg.Exports != nil && reflect.TypeOf(e) != reflect.TypeOf(reg.Exports) {
		return cty.NilVal, fmt.Errorf("exports of type %T, want %T", e, reg.Exports)
	}
	return encodeValue(e)
}

// literalSecrets keeps the secret expressions that may hold the secret's
// text. An expression that is only a reference (password =
// local.file.token.content) shows no secret, and is more useful visible.
func literalSecrets(body *syntax.Body, ranges []masked) []masked {
	if len(ranges) == 0 {
		return nil
	}
	refs := map[hcl.Pos]bool{}
	syntax.Walk(body, func(a *syntax.Attribute) {
		if _, ok := a.Expr.(*syntax.ScopeTraversalExpr); ok {
			refs[a.Expr.Range().Start] = true
		}
	})
	out := ranges[:0:0]
	for _, r := range ranges {
		if !refs[r.Range.Start] {
			out = append(out, r)
		}
	}
	return out
}
