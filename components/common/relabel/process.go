package relabel

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
)

// Validate checks one rule as it is decoded, so a bad regex or a missing
// target_label is reported at the rule's own block.
func (r *Rule) Validate() error {
	if _, err := compileRule(*r); err != nil {
		return fmt.Errorf("invalid rule%w", err)
	}
	return nil
}

// Process applies rules to lbls. It returns the result and false if a rule
// dropped the label set (an empty result also counts as dropped).
func Process(lbls labels.Labels, rules Rules) (labels.Labels, bool) {
	b := labels.NewBuilder(lbls)
	if !relabel.ProcessBuilder(b, rules...) {
		return labels.EmptyLabels(), false
	}
	res := b.Labels()
	return res, !res.IsEmpty()
}

// ProcessTargets relabels discovery targets (maps of labels) as Prometheus'
// target relabelling does, and drops the targets a rule drops. Targets left
// without labels are dropped too. Labels starting with "__" are kept, since
// the consumer (prometheus.scrape, another relabel) still needs __address__
// and __meta_* ones.
func ProcessTargets(targets []map[string]string, rules Rules) []map[string]string {
	out := make([]map[string]string, 0, len(targets))
	b := labels.NewBuilder(labels.EmptyLabels())
	for _, t := range targets {
		b.Reset(labels.FromMap(t))
		if !relabel.ProcessBuilder(b, rules...) {
			continue
		}
		res := b.Labels()
		if res.IsEmpty() {
			continue
		}
		out = append(out, res.Map())
	}
	return out
}
