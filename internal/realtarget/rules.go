package realtarget

import commonrelabel "github.com/flow-telemetry/flow/components/common/relabel"

// RelabelRules are the three rules the benchmarks put between scrape and
// remote write (bench/metrics -relabel writes the same ones as River and
// as the agent's metric_relabel_configs): add a constant label, drop a
// family by name, copy part of a label into another.
func RelabelRules() []commonrelabel.Rule {
	rule := func(mod func(*commonrelabel.Rule)) commonrelabel.Rule {
		var r commonrelabel.Rule
		r.SetToDefault()
		mod(&r)
		return r
	}
	return []commonrelabel.Rule{
		rule(func(r *commonrelabel.Rule) { r.TargetLabel = "cluster"; r.Replacement = "eu-west-1" }),
		rule(func(r *commonrelabel.Rule) {
			r.Action = "drop"
			r.SourceLabels = []string{"__name__"}
			r.Regex = "go_.*"
		}),
		rule(func(r *commonrelabel.Rule) {
			r.SourceLabels = []string{"route"}
			r.Regex = "/v1/(.*)"
			r.TargetLabel = "handler"
			r.Replacement = "$1"
		}),
	}
}
