package runtime

import (
	"net/http"
	"sort"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// This file is the read side the HTTP API (docs/api.md) serves.

// Position is where a component's block starts.
type Position struct {
	Filename string `json:"filename"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
}

// ComponentInfo summarises one component.
type ComponentInfo struct {
	ID               string           `json:"id"`
	Name             string           `json:"name"`
	Label            string           `json:"label"`
	Health           component.Health `json:"health"`
	References       []string         `json:"references"`
	ReferencedBy     []string         `json:"referenced_by"`
	LastEvaluation   *time.Time       `json:"last_evaluation"`
	EvaluationsTotal int              `json:"evaluations_total"`
	// BuiltTime is when the running instance was built (null if it is not
	// built); UpdatesTotal counts its successful Updates. A reload that
	// leaves a component alone changes neither.
	BuiltTime    *time.Time `json:"built_time"`
	UpdatesTotal int        `json:"updates_total"`
	Position     Position   `json:"position"`
}

// EdgeInfo is one use of an export by another component.
type EdgeInfo struct {
	// From is the exporting component and To the one that references
	// the export (the reference direction, kept for compatibility).
	From   string `json:"from"`
	To     string `json:"to"`
	Export string `json:"export"`
	// Kind is "data" when the export is a receiver the referencing
	// component sends items to (forward_to, receiver), so data flows from
	// To to From; otherwise "value" (targets, credentials, file content),
	// which flows from From to To.
	Kind string `json:"kind"`
	// Source and Sink give the edge in data-flow order: for a "data" edge
	// Source is To and Sink is From; for a "value" edge Source is From and
	// Sink is To. The UI draws edges from Source to Sink.
	Source string `json:"source"`
	Sink   string `json:"sink"`
	// Data is set for edges data flows along: a Countable receiver, or a
	// list (of targets).
	Data bool `json:"data"`
	// Rate is items per second over the last 5 s along a counted edge.
	Rate float64 `json:"rate"`
	// Count is the length of a list export.
	Count int `json:"count"`
	// List is set when the export is a list (targets), so Count applies
	// rather than Rate.
	List bool `json:"list,omitempty"`
}

// ComponentDetail is everything the API shows about one component.
type ComponentDetail struct {
	ComponentInfo
	Arguments   any          `json:"arguments"`
	Exports     any          `json:"exports"`
	DebugInfo   any          `json:"debug_info"`
	Evaluations []Evaluation `json:"evaluations"`
	// HealthHistory is the last maxHealthHistory changes of the combined
	// health, newest first.
	HealthHistory []HealthChange `json:"health_history"`
	// LiveDebuggingEnabled is whether the `livedebugging` block is on, so
	// the Live tab can say how to switch it on (as Alloy's API does).
	LiveDebuggingEnabled bool `json:"live_debugging_enabled"`
}

// ConfigFile is one file of the running config.
type ConfigFile struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

func (r *Runtime) info(n *gnode) ComponentInfo {
	st := n.st
	evals, total := st.evaluations()
	ci := ComponentInfo{
		ID:               n.id,
		Name:             n.name,
		Label:            n.label,
		Health:           st.health(),
		References:       make([]string, 0, len(n.deps)),
		ReferencedBy:     make([]string, 0, len(n.dependants)),
		EvaluationsTotal: total,
		Position: Position{
			Filename: n.block.NameRange.Filename,
			Line:     n.block.NameRange.Start.Line,
			Column:   n.block.NameRange.Start.Column,
		},
	}
	if len(evals) > 0 {
		t := evals[0].Time
		ci.LastEvaluation = &t
	}
	st.mu.Lock()
	if st.comp != nil {
		t := st.builtAt
		ci.BuiltTime = &t
	}
	ci.UpdatesTotal = st.updates
	st.mu.Unlock()
	for _, d := range n.deps {
		ci.References = append(ci.References, d.id)
	}
	for _, d := range n.dependants {
		ci.ReferencedBy = append(ci.ReferencedBy, d.id)
	}
	sort.Strings(ci.References)
	sort.Strings(ci.ReferencedBy)
	return ci
}

// Components lists every component, in topological order.
func (r *Runtime) Components() []ComponentInfo {
	g := r.graph.Load()
	out := make([]ComponentInfo, len(g.nodes))
	for i, n := range g.nodes {
		out[i] = r.info(n)
	}
	return out
}

// Edges lists every (exporting component, referencing component, export)
// triple with its data-flow figures.
func (r *Runtime) Edges() []EdgeInfo {
	g := r.graph.Load()
	now := time.Now()
	var out []EdgeInfo
	for _, n := range g.nodes {
		for _, ref := range n.refs {
			e := EdgeInfo{From: ref.target.id, To: n.id, Export: ref.export,
				Kind: "value", Source: ref.target.id, Sink: n.id}
			if c := n.st.edges.lookup(edgeKey{ref.target.id, ref.export}); c != nil {
				// A counted edge is a Countable receiver: the referencing
				// component sends to the exporter.
				e.Data = true
				e.Rate = c.rate(now)
				e.Kind, e.Source, e.Sink = "data", n.id, ref.target.id
			}
			if ref.export != "" {
				ref.target.st.mu.Lock()
				v := ref.target.st.exportsVal
				ref.target.st.mu.Unlock()
				if ev, ok := exportAttr(v, ref.export); ok && ev.IsKnown() && !ev.IsNull() {
					if t := ev.Type(); t.IsListType() || t.IsTupleType() || t.IsSetType() {
						e.Data = true
						e.List = true
						e.Count = ev.LengthInt()
					}
				}
			}
			out = append(out, e)
		}
	}
	return out
}

func exportAttr(v cty.Value, name string) (cty.Value, bool) {
	v, _ = v.Unmark()
	if !v.IsKnown() || v.IsNull() || !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		return cty.NilVal, false
	}
	ev, _ := v.GetAttr(name).Unmark()
	return ev, true
}

// ComponentDetail returns the full detail of one component.
func (r *Runtime) ComponentDetail(id string) (ComponentDetail, bool) {
	n, ok := r.graph.Load().byID[id]
	if !ok {
		return ComponentDetail{}, false
	}
	d := ComponentDetail{ComponentInfo: r.info(n), LiveDebuggingEnabled: r.live.Enabled()}
	d.Evaluations, _ = n.st.evaluations()
	d.HealthHistory = n.st.healthChangesNewestFirst()
	st := n.st
	st.mu.Lock()
	args, exportsVal, comp := st.args, st.exportsVal, st.comp
	st.mu.Unlock()
	if args != nil {
		// Arguments are immutable once handed over (component.Arguments),
		// so encoding them now shows what was applied.
		if v, err := encodeValue(args); err == nil {
			d.Arguments = value.ToJSON(v)
		}
	}
	d.Exports = value.ToJSON(exportsVal)
	if dc, ok := comp.(component.DebugComponent); ok {
		d.DebugInfo = debugInfo(dc)
	}
	return d, true
}

func debugInfo(dc component.DebugComponent) (out any) {
	defer func() {
		if p := recover(); p != nil {
			out = map[string]any{"error": "DebugInfo panicked"}
		}
	}()
	info := dc.DebugInfo()
	if info == nil {
		return nil
	}
	v, err := encodeValue(info)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	return value.ToJSON(v)
}

// ConfigHash is the sha256 (hex) of the running config files.
func (r *Runtime) ConfigHash() string { return r.graph.Load().hash }

// ConfigFiles returns the running config as written, with the expression of
// every attribute decoded into a secret replaced by "(secret)", and of every
// attribute that is a URL with credentials by the URL with its password and
// query values masked.
func (r *Runtime) ConfigFiles() []ConfigFile {
	g := r.graph.Load()
	byFile := map[string][]masked{}
	for _, n := range g.nodes {
		for _, m := range n.secretRanges() {
			byFile[m.Range.Filename] = append(byFile[m.Range.Filename], m)
		}
	}
	out := make([]ConfigFile, 0, len(g.files))
	for name, src := range g.files {
		out = append(out, ConfigFile{Name: name, Content: string(scrub(src, byFile[name]))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// scrub replaces each masked range of src with its text.
func scrub(src []byte, ranges []masked) []byte {
	if len(ranges) == 0 {
		return src
	}
	sort.Slice(ranges, func(i, j int) bool { return ranges[i].Range.Start.Byte < ranges[j].Range.Start.Byte })
	var out []byte
	last := 0
	for _, m := range ranges {
		s, e := m.Range.Start.Byte, m.Range.End.Byte
		if s < last || e > len(src) || s > e {
			continue // overlapping or stale: the enclosing range already covers it
		}
		out = append(out, src[last:s]...)
		out = append(out, m.Text...)
		last = e
	}
	return append(out, src[last:]...)
}

// ComponentHandler returns the HTTP handler of a component implementing
// component.HTTPComponent.
func (r *Runtime) ComponentHandler(id string) (http.Handler, bool) {
	c, ok := r.Component(id)
	if !ok {
		return nil, false
	}
	hc, ok := c.(component.HTTPComponent)
	if !ok {
		return nil, false
	}
	return hc.Handler(), true
}
