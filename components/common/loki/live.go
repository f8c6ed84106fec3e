package loki

import (
	"strings"
	"time"

	"github.com/flow-telemetry/flow/runtime/component"
)

// PublishEntries shows entries on the component's Live tab, one event each:
// "<time> <labels> <line>". With nobody watching it costs one atomic load.
func PublishEntries(ld component.LiveDebug, entries []Entry) {
	if !ld.Active() {
		return
	}
	for i := range entries {
		e := &entries[i] // format runs synchronously, within Publish
		ld.Publish("entry", func() string { return FormatEntry(e) })
	}
}

// FormatEntry renders an entry as loki.echo prints it.
func FormatEntry(e *Entry) string {
	var b strings.Builder
	b.Grow(64 + len(e.Line))
	b.WriteString(e.Timestamp.UTC().Format(time.RFC3339Nano))
	b.WriteByte(' ')
	b.WriteString(e.Labels.String())
	b.WriteByte(' ')
	b.WriteString(e.Line)
	return b.String()
}
