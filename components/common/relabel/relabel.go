// Package relabel is the `rule { … }` block shared by prometheus.relabel,
// discovery.relabel, loki.relabel, loki.source.* relabel_rules and
// remote_write's write_relabel_config: a thin adapter onto
// github.com/prometheus/prometheus/model/relabel, which does the work.
package relabel

import (
	"fmt"
	"strings"
	"sync"

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
		cfg, err := compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("rule %d%w", i+1, err)
		}
		out = append(out, cfg)
	}
	return out, nil
}

// actions are the actions Prometheus implements; relabel.Process panics on
// any other, so they are checked here.
var actions = map[relabel.Action]bool{
	relabel.Replace: true, relabel.Keep: true, relabel.Drop: true,
	relabel.KeepEqual: true, relabel.DropEqual: true, relabel.HashMod: true,
	relabel.LabelMap: true, relabel.LabelDrop: true, relabel.LabelKeep: true,
	relabel.Lowercase: true, relabel.Uppercase: true,
}

// compileRule compiles one rule. Its error starts with ": " or " (action …): "
// so Compile can prefix the rule number.
func compileRule(r Rule) (*relabel.Config, error) {
	action := relabel.Action(strings.ToLower(r.Action))
	if !actions[action] {
		return nil, fmt.Errorf(": unknown action %q; use one of replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase", r.Action)
	}
	// Prometheus compares some fields with its defaults to reject fields an
	// action does not use; the default regex must be the very same value for
	// that comparison to hold.
	re := relabel.DefaultRelabelConfig.Regex
	if r.Regex != relabel.DefaultRelabelConfig.Regex.String() {
		var err error
		if re, err = compileRegex(r.Regex); err != nil {
			return nil, fmt.Errorf(": invalid regex %q: %w", r.Regex, err)
		}
	}
	var src model.LabelNames
	for _, l := range r.SourceLabels {
		src = append(src, model.LabelName(l))
	}
	cfg := &relabel.Config{
		SourceLabels:         src,
		Separator:            r.Separator,
		Regex:                re,
		Modulus:              r.Modulus,
		TargetLabel:          r.TargetLabel,
		Replacement:          r.Replacement,
		Action:               action,
		NameValidationScheme: model.UTF8Validation,
	}
	if err := cfg.Validate(model.UTF8Validation); err != nil {
		return nil, fmt.Errorf(" (action %q): %w", action, err)
	}
	return cfg, nil
}

// Compiled regexes are shared by source text: a config repeats the same few
// regexes across many rules, and a rule is compiled each time its block is
// evaluated (validation, then Update), on every reload. A compiled regex is
// safe for concurrent use and never modified. The cache is bounded
// (docs/security.md): regexes longer than maxCachedRegexLen are not kept,
// and once maxCachedRegexes are held it starts afresh.
const (
	maxCachedRegexes  = 4096
	maxCachedRegexLen = 4 << 10
)

var regexCache struct {
	sync.Mutex
	m map[string]relabel.Regexp
}

// compileRegex is relabel.NewRegexp through the cache.
func compileRegex(s string) (relabel.Regexp, error) {
	regexCache.Lock()
	re, ok := regexCache.m[s]
	regexCache.Unlock()
	if ok {
		return re, nil
	}
	re, err := relabel.NewRegexp(s)
	if err != nil || len(s) > maxCachedRegexLen {
		return re, err
	}
	regexCache.Lock()
	if regexCache.m == nil || len(regexCache.m) >= maxCachedRegexes {
		regexCache.m = make(map[string]relabel.Regexp)
	}
	regexCache.m[s] = re
	regexCache.Unlock()
	return re, nil
}
