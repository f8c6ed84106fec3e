package runtime

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/internal/dag"
	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/decode"
)

// graph is one loaded config: its components in topological order and the
// references between them. It is immutable once built; the live state of
// each component is in its nodeState.
type graph struct {
	nodes  []*gnode // topological order: dependencies first; gnode.idx is the position
	byID   map[string]*gnode
	levels [][]int // shutdown levels, see dag.Graph.Levels
	// byDepth groups the nodes by depth, in topological order.
	byDepth [][]*gnode
	files   map[string][]byte
	parsed  []*syntax.File // sorted by name
	hash    string
	// maxSegments is the most dot-separated segments in a component ID
	// (a label may hold dots), known or not: no longer prefix of a
	// reference can name a component. maxNameSegments is the most in a
	// registered component name.
	maxSegments, maxNameSegments int
	// registry is where the block names were looked up.
	registry *component.Registry
}

// gnode is a component in one graph.
type gnode struct {
	idx int
	// depth is the length of the longest reference chain below the node (0
	// for a node referencing nothing). A reference always points to a
	// smaller depth, so nodes of equal depth never depend on each other and
	// can be evaluated in parallel.
	depth int
	id    string
	name  string
	label string
	path  []string // the ID's dotted segments, for the nested variables
	block *syntax.Block
	deps  []*gnode // components this one references, first reference first
	// depExports are, for each of deps, the exports the block names, nil
	// where it names the component whole (referencedExports).
	depExports [][]string
	dependants []*gnode
	refs       []reference
	st         *nodeState
	// tainted is set when the block references a component whose name is
	// unknown: it cannot be evaluated.
	tainted bool

	staged *stagedEval
	// secrets are the attribute expressions of block decoded into secrets
	// (or URLs holding credentials), masked when the config is shown. They
	// belong to the graph, not the component, so the config view always
	// pairs a graph's files with that graph's ranges, even while a reload
	// that moved them is being applied. Set when staging and by every
	// evaluation.
	secrets atomic.Pointer[[]masked]
}

// setSecrets records where n's block holds secrets.
func (n *gnode) setSecrets(ms []masked) { n.secrets.Store(&ms) }

// secretRanges returns where n's block holds secrets (not to be modified).
func (n *gnode) secretRanges() []masked {
	if p := n.secrets.Load(); p != nil {
		return *p
	}
	return nil
}

// reference is one use of another component's export.
type reference struct {
	target *gnode
	export string // "" when the whole component is referenced
}

// stagedEval keeps the arguments decoded while staging a load, with the
// export versions they were computed from and the scope they were
// evaluated in, so applying the load can reuse them when nothing they read
// changed in between (stagedArgs).
type stagedEval struct {
	dec      *decoded
	versions []uint64
	ctx      *hcl.EvalContext
	// stable is set when the component is built, its arguments are
	// unchanged and nothing they read is about to change, so its current
	// exports are what dependants will see.
	stable bool
	// unknown is set for a decode with placeholders (some dependencies
	// unknown: unknown[i] for n.deps[i]). It is never applied as it is:
	// applying evaluates again every attribute naming one of those
	// (decodeArgsAgain).
	unknown []bool
}

func emptyGraph() *graph {
	return &graph{byID: map[string]*gnode{}, files: map[string][]byte{}, hash: configHash(nil)}
}

// configHash hashes the files in name order.
func configHash(files map[string][]byte) string {
	names := slices.Sorted(maps.Keys(files))
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%d:%s\n%d:", len(n), n, len(files[n]))
		h.Write(files[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// buildGraph parses files and wires the components. live is the running
// graph: components keeping their ID keep their nodeState.
func (r *Runtime) buildGraph(files map[string][]byte, live *graph) (*graph, hcl.Diagnostics) {
	g := &graph{byID: map[string]*gnode{}, files: files, hash: configHash(files), registry: r.opts.Registry, maxNameSegments: maxNameSegments(r.opts.Registry)}
	parsed, diags := parseConfig(files, live.parsed)
	g.parsed = parsed
	if diags.HasErrors() {
		return nil, diags
	}
	// Unknown component names are soft errors: the rest of the config is
	// still checked, so `flow validate` reports everything at once.
	nodes, unknown, diags, soft := r.addNodes(g, live, diags)
	// Two components must never share a data directory.
	diags = append(diags, checkDataDirs(nodes)...)
	dg, diags := resolveReferences(g, nodes, unknown, diags)
	if diags.HasErrors() {
		return nil, sortDiagnostics(append(diags, soft...))
	}
	if cycles := dg.Cycles(); len(cycles) > 0 {
		for _, c := range cycles {
			diags = append(diags, cycleDiagnostic(nodes, c))
		}
		return nil, sortDiagnostics(append(diags, soft...))
	}
	g.order(nodes, dg)
	diags = append(diags, deprecatedCalls(nodes)...)
	return g, sortDiagnostics(append(diags, soft...))
}

// addNodes makes a node of every top-level block of g's files, in source
// order, and indexes it in g.byID; a node keeps live's nodeState for its ID.
// Blocks of an unknown component name become no node: their IDs are returned
// in unknown and the errors about them in soft, so components referencing
// them are not evaluated but the rest of the config is still checked. Other
// errors are added to diags.
func (r *Runtime) addNodes(g, live *graph, diags hcl.Diagnostics) (nodes []*gnode, unknown map[string]bool, _, soft hcl.Diagnostics) {
	unknown = map[string]bool{}
	for _, f := range g.parsed {
		for _, s := range f.Body.Stmts {
			switch s := s.(type) {
			case *syntax.Attribute:
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("unexpected attribute %q at the top level", s.Name),
					Detail:   "A config file holds only component blocks, such as local.file \"name\" { ... }.",
					Subject:  s.NameRange.Ptr(),
				})
			case *syntax.Block:
				reg, ok := g.registry.Get(s.Name)
				if !ok {
					if len(soft) < maxErrors {
						soft = append(soft, unknownComponent(s, g.registry))
					} else if len(soft) == maxErrors {
						soft = append(soft, tooManyErrors(maxErrors, s.ID(), s.NameRange))
					}
					unknown[s.ID()] = true
					g.maxSegments = max(g.maxSegments, strings.Count(s.ID(), ".")+1)
					continue
				}
				if d := checkLabel(s, reg); d != nil {
					if len(diags) < maxErrors {
						diags = append(diags, d)
					}
					continue
				}
				id := s.ID()
				if prev, dup := g.byID[id]; dup {
					if len(diags) < maxErrors {
						diags = append(diags, duplicateComponent(id, s, prev.block)...)
					}
					continue
				}
				n := &gnode{id: id, name: s.Name, label: s.Label, path: strings.Split(id, "."), block: s}
				if old, ok := live.byID[id]; ok {
					n.st = old.st
				} else {
					n.st = r.newNodeState(id, reg)
				}
				g.byID[id] = n
				g.maxSegments = max(g.maxSegments, len(n.path))
				nodes = append(nodes, n)
			}
		}
	}
	return nodes, unknown, diags, soft
}

// resolveReferences resolves every traversal in every expression of every
// node's block, recording each node's references and returning them as
// edges of a DAG over nodes (indexed as in nodes). It adds its errors to
// diags (errors found earlier count towards maxErrors).
func resolveReferences(g *graph, nodes []*gnode, unknown map[string]bool, diags hcl.Diagnostics) (*dag.Graph, hcl.Diagnostics) {
	index := make(map[*gnode]int, len(nodes))
	for i, n := range nodes {
		index[n] = i
	}
	dg := dag.New(len(nodes))
	stdVars := stdlibContext().Variables
	errs := countErrors(diags)
	if errs >= maxErrors && len(nodes) > 0 {
		diags = append(diags, tooManyErrors(errs, nodes[0].id, nodes[0].block.NameRange))
	}
	for i, n := range nodes {
		seen := map[reference]bool{}
		// Past maxErrors, references are not resolved: each unknown one is
		// compared with every component for a suggestion, and sixty
		// thousand of them took 40 s.
		if errs >= maxErrors {
			break
		}
		syntax.Walk(n.block.Body, func(a *syntax.Attribute) {
			if a.Expr == nil {
				return
			}
			for _, t := range a.Expr.Variables() {
				if errs >= maxErrors {
					continue
				}
				ref, toUnknown, d := resolveTraversal(g, t, stdVars, unknown)
				if d != nil {
					diags = append(diags, d)
					if errs++; errs == maxErrors {
						diags = append(diags, tooManyErrors(errs, n.id, n.block.NameRange))
					}
					continue
				}
				if toUnknown {
					n.tainted = true
				}
				if ref.target == nil || seen[ref] {
					continue
				}
				seen[ref] = true
				n.refs = append(n.refs, ref)
				dg.AddEdge(i, index[ref.target])
			}
		})
	}
	return dg, diags
}

// order lays out g's nodes from the acyclic dg over nodes: topological
// order (gnode.idx), each node's dependencies and dependants, the depth
// groups evaluated in parallel, and the shutdown levels.
func (g *graph) order(nodes []*gnode, dg *dag.Graph) {
	order, _ := dg.TopoOrder()
	g.nodes = make([]*gnode, len(order))
	for pos, i := range order {
		nodes[i].idx = pos
		g.nodes[pos] = nodes[i]
	}
	for i, n := range nodes {
		for _, j := range dg.Dependencies(i) {
			n.deps = append(n.deps, nodes[j])
			n.depExports = append(n.depExports, n.referencedExports(nodes[j]))
		}
		for _, j := range dg.Dependants(i) {
			n.dependants = append(n.dependants, nodes[j])
		}
		// Keep dependants in evaluation order for deterministic waves.
		slices.SortFunc(n.dependants, func(a, b *gnode) int { return a.idx - b.idx })
	}
	for _, n := range g.nodes {
		for _, d := range n.deps {
			n.depth = max(n.depth, d.depth+1)
		}
		for len(g.byDepth) <= n.depth {
			g.byDepth = append(g.byDepth, nil)
		}
		g.byDepth[n.depth] = append(g.byDepth[n.depth], n)
	}
	for _, level := range dg.Levels() {
		l := make([]int, len(level))
		for k, i := range level {
			l[k] = nodes[i].idx
		}
		g.levels = append(g.levels, l)
	}
}

// sortDiagnostics orders diagnostics by file and position, so errors found
// in different passes read top to bottom.
func sortDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int {
		if a.Subject == nil || b.Subject == nil {
			return 0
		}
		return cmp.Or(strings.Compare(a.Subject.Filename, b.Subject.Filename), cmp.Compare(a.Subject.Start.Byte, b.Subject.Start.Byte))
	})
	return diags
}

func unknownComponent(b *syntax.Block, registry *component.Registry) *hcl.Diagnostic {
	summary := fmt.Sprintf("unknown component %q", b.Name)
	if s := syntax.Suggest(b.Name, registry.Names()); s != "" {
		summary += fmt.Sprintf("; did you mean %q?", s)
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   "flow has no component of this name.",
		Subject:  b.NameRange.Ptr(),
	}
}

func duplicateComponent(id string, b, prev *syntax.Block) hcl.Diagnostics {
	at := func(r hcl.Range) string { return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column) }
	return hcl.Diagnostics{
		{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("duplicate component %q", id),
			Detail:   fmt.Sprintf("Also defined at %s. Give each block of the same component a different label.", at(b.NameRange)),
			Subject:  prev.NameRange.Ptr(),
		},
		{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("duplicate component %q", id),
			Detail:   fmt.Sprintf("First defined at %s. Give each block of the same component a different label.", at(prev.NameRange)),
			Subject:  b.NameRange.Ptr(),
		},
	}
}

func cycleDiagnostic(nodes []*gnode, c []int) *hcl.Diagnostic {
	first := nodes[c[0]]
	if len(c) == 1 {
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("component %q references itself", first.id),
			Detail:   "A component cannot use its own exports as arguments.",
			Subject:  first.block.NameRange.Ptr(),
		}
	}
	ids := make([]string, len(c))
	var where []string
	for i, k := range c {
		ids[i] = nodes[k].id
		r := nodes[k].block.NameRange
		where = append(where, fmt.Sprintf("%s (%s:%d:%d)", nodes[k].id, r.Filename, r.Start.Line, r.Start.Column))
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("dependency cycle between %s", strings.Join(ids, ", ")),
		Detail:   "These components reference each other's exports in a loop: " + strings.Join(where, ", ") + ". Break the loop by removing one of the references.",
		Subject:  first.block.NameRange.Ptr(),
	}
}

// checkLabel enforces Alloy's rule: a component block has a label, a config
// block (logging) has none.
func checkLabel(b *syntax.Block, reg component.Registration) *hcl.Diagnostic {
	switch {
	case reg.ConfigBlock && b.Label != "":
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("block %q must not have a label", b.Name),
			Detail:   fmt.Sprintf("%s is a config block, written once and without a label: %s { … }.", b.Name, b.Name),
			Subject:  b.NameRange.Ptr(),
		}
	case !reg.ConfigBlock && b.Label == "":
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("component %q must have a label", b.Name),
			Detail:   fmt.Sprintf("Give the block a label, as in Alloy: %s \"default\" { … }.", b.Name),
			Subject:  b.NameRange.Ptr(),
		}
	}
	return nil
}

// dottedSteps appends to names the leading root-and-attribute names of t
// (stopping at the first index or splat), at most limit of them; the step
// of names[i] is t[i].
func dottedSteps(names []string, t hcl.Traversal, limit int) []string {
	for i, s := range t {
		if i == limit {
			break
		}
		switch s := s.(type) {
		case hcl.TraverseRoot:
			names = append(names, s.Name)
		case hcl.TraverseAttr:
			names = append(names, s.Name)
		default:
			return names
		}
	}
	return names
}

// resolveTraversal finds the component t refers to: the one whose ID is the
// longest dotted prefix of t. A traversal of a standard-library variable
// resolves to no component and no error.
//
// toUnknown reports a reference to a block whose component name is unknown
// (already reported).
//
// It runs for every reference of every load, so the names and the IDs tried
// are built in buffers on the stack (a map lookup of string(bytes) does not
// allocate).
func resolveTraversal(g *graph, t hcl.Traversal, stdVars map[string]cty.Value, unknown map[string]bool) (ref reference, toUnknown bool, d *hcl.Diagnostic) {
	// An ID and the export after it are all a reference can name.
	var nameBuf [8]string
	names := dottedSteps(nameBuf[:0], t, max(g.maxSegments, g.maxNameSegments+1)+1)
	if len(names) == 0 {
		return reference{}, false, nil
	}
	var idBuf [128]byte
	// Longest prefix first, from the longest an ID can be: trying every
	// prefix of a long reference would join and hash it once per step.
	for k := min(len(names), g.maxSegments); k >= 1; k-- {
		id := idBuf[:0]
		for i, name := range names[:k] {
			if i > 0 {
				id = append(id, '.')
			}
			id = append(id, name...)
		}
		target, ok := g.byID[string(id)]
		if !ok {
			if unknown[string(id)] {
				return reference{}, true, nil
			}
			continue
		}
		ref := reference{target: target}
		if k < len(names) {
			ref.export = names[k]
			if d := checkExport(target, ref.export, t[k].SourceRange()); d != nil {
				return reference{}, false, d
			}
		}
		return ref, false, nil
	}
	if _, ok := stdVars[names[0]]; ok {
		return reference{}, false, nil
	}
	return reference{}, false, missingComponent(g, names, t.SourceRange())
}

// maxNameSegments is the most dot-separated segments in a component name
// of registry.
func maxNameSegments(registry *component.Registry) int {
	n := 0
	for _, name := range registry.Names() {
		n = max(n, strings.Count(name, ".")+1)
	}
	return n
}

// missingComponent explains a reference to no component. When a prefix of
// the reference is a registered component name, the ID meant is that name
// plus the next step (the label), and the suggestion is among components of
// that name.
func missingComponent(g *graph, names []string, rng hcl.Range) *hcl.Diagnostic {
	meant := strings.Join(names, ".")
	var candidates []string
	for k := min(len(names)-1, g.maxNameSegments); k >= 1; k-- {
		if _, ok := g.registry.Get(strings.Join(names[:k], ".")); ok {
			meant = strings.Join(names[:k+1], ".")
			break
		}
	}
	segs := strings.Count(meant, ".") + 1
	for id, n := range g.byID {
		if len(n.path) == segs {
			candidates = append(candidates, id)
		}
	}
	sort.Strings(candidates)
	summary := fmt.Sprintf("component %q does not exist", meant)
	if s := syntax.Suggest(meant, candidates); s != "" {
		summary += fmt.Sprintf("; did you mean %q?", s)
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   "A reference must name a component defined in the config, followed by one of its exports.",
		Subject:  rng.Ptr(),
	}
}

// checkExport reports a reference to an export that the target's Exports
// type does not have.
func checkExport(target *gnode, export string, rng hcl.Range) *hcl.Diagnostic {
	names := exportNames(target.st.reg)
	if slices.Contains(names, export) {
		return nil
	}
	summary := fmt.Sprintf("%s has no export %q", target.name, export)
	if s := syntax.Suggest(export, names); s != "" {
		summary += fmt.Sprintf("; did you mean %q?", s)
	}
	detail := target.name + " exports nothing."
	if len(names) > 0 {
		detail = target.name + " exports " + strings.Join(quoteAll(names), ", ") + "."
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// exportNames lists the river names of a registration's Exports fields.
func exportNames(reg component.Registration) []string {
	if reg.Exports == nil {
		return nil
	}
	return decode.FieldNames(reflect.TypeOf(reg.Exports))
}
