package common

import (
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/flow-telemetry/flow/internal/converter/river"
)

// RelabelRules writes one block named blockName (rule, write_relabel_config)
// per relabel config, leaving out fields at Prometheus' defaults.
func RelabelRules(b *river.Body, blockName string, rules []*relabel.Config) {
	def := relabel.DefaultRelabelConfig
	for _, r := range rules {
		if r == nil {
			continue
		}
		rb := b.Block(blockName, "")
		if len(r.SourceLabels) > 0 {
			ls := make([]string, len(r.SourceLabels))
			for i, l := range r.SourceLabels {
				ls[i] = string(l)
			}
			rb.Attr("source_labels", river.Strings(ls))
		}
		if r.Separator != def.Separator {
			rb.Attr("separator", river.String(r.Separator))
		}
		if re := r.Regex.String(); r.Regex.Regexp != nil && re != def.Regex.String() {
			rb.Attr("regex", river.String(re))
		}
		if r.Modulus != 0 {
			rb.Attr("modulus", river.Int(r.Modulus))
		}
		rb.OptString("target_label", r.TargetLabel)
		if r.Replacement != def.Replacement {
			rb.Attr("replacement", river.String(r.Replacement))
		}
		if r.Action != "" && r.Action != def.Action {
			rb.Attr("action", river.String(string(r.Action)))
		}
	}
}

// DiscoveryRelabel returns targets relabelled by rules: without rules,
// targets itself; with them, the output of a discovery.relabel named base
// that applies them (as both Prometheus' and Promtail's relabel_configs
// convert, between discovery and what reads the targets).
func (c *Context) DiscoveryRelabel(base string, targets river.Expr, rules []*relabel.Config) river.Expr {
	if len(rules) == 0 {
		return targets
	}
	label := c.Label("discovery.relabel", base)
	rb := c.Body.Block("discovery.relabel", label)
	rb.Attr("targets", targets)
	RelabelRules(&rb.Body, "rule", rules)
	return river.Raw("discovery.relabel." + label + ".output")
}
