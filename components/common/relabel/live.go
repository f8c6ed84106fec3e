package relabel

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/flow-telemetry/flow/runtime/component"
)

// PublishTargets shows a new target set on the component's Live tab: one
// event "N targets" and one per target, `{label="value", …}` with sorted
// labels. With nobody watching it costs one atomic load.
func PublishTargets(ld component.LiveDebug, targets []map[string]string) {
	if !ld.Active() {
		return
	}
	ld.Publish("targets", component.LiveFunc(func() string { return strconv.Itoa(len(targets)) + " targets" }))
	for _, t := range targets {
		ld.Publish("target", targetText(t))
	}
}

// targetText is a target as a component.LiveText (a map: no allocation).
type targetText map[string]string

func (t targetText) LiveText() string { return FormatTarget(t) }

// FormatTarget renders a target's labels as `{a="1", b="2"}`, sorted.
func FormatTarget(t map[string]string) string {
	keys := slices.Sorted(maps.Keys(t))
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(t[k]))
	}
	b.WriteByte('}')
	return b.String()
}
