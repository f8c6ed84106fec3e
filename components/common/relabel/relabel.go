// Package relabel is the `rule { … }` block shared by prometheus.relabel,
// discovery.relabel, loki.relabel, loki.source.* relabel_rules and
// remote_write's write_relabel_config: a thin adapter onto
// github.com/prometheus/prometheus/model/relabel, which does the work.
package relabel

import (
	"fmt"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
)

// Rule is one `rule` block. Defaults are Prometheus': separator ";", regex
// "(.*)" (anchored), replacement "$1", action "replace".
type Rule struct {
	SourceLabels []string `river:"source_labels,attr,optional"`
	Separator    string   `river:"separator,attr,optional"`
	Regex        string   `river:"regex,attr,optional"`
	Modulus      uint64   `river:"modulus,attr,optional"`
	TargetLabel  string   `river:"target_label,attr,optional"`
	Replacement  string   `river:"replacement,attr,optional"`
	Action       string   `river:"action,attr,optional"`
}

// SetToDefault gives a rule Prometheus' defaults.
func (r *Rule) SetToDefault() {
	*r = Rule{Separator: ";", Regex: "(.*)", Replacement: "$1", Action: "replace"}
}

// Rules is a list of rules, as exported by relabel components (`rules`).
type Rules []*relabel.Config

// Compile turns rules into validated Prometheus relabel configs. The error
// names the rule (1-based) and what is wrong with it.
func Compile(rules []Rule) (Rules, error) {
	out := make(Rules, 0, len(rules))
	for i, r := range rules {
		re, err := relabel.NewRegexp(r.Regex)
		if err != nil {
			return nil, fmt.Errorf("rule %d: invalid regex %q: %w", i+1, r.Regex, err)
		}
		src := make(model.LabelNames, len(r.SourceLabels))
		for j, l := range r.SourceLabels {
			src[j] = model.LabelName(l)
		}
		cfg := &relabel.Config{
			SourceLabels:         src,
			Separator:            r.Separator,
			Regex:                re,
			Modulus:              r.Modulus,
			TargetLabel:          r.TargetLabel,
			Replacement:          r.Replacement,
			Action:               relabel.Action(r.Action),
			NameValidationScheme: model.UTF8Validation,
		}
		if err := cfg.Validate(model.UTF8Validation); err != nil {
			return nil, fmt.Errorf("rule %d (action %q): %w", i+1, r.Action, err)
		}
		out = append(out, cfg)
	}
	return out, nil
}
