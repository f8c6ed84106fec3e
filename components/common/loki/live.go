package loki

import (
	"strings"
	"time"

	"github.com/flow-telemetry/flow/runtime/component"
)

// PublishEntries shows entries on the component's Live tab, one event each:
// "<time> <labels> <line>". With nobody watching it costs one atomic load.
func PublishEntries(ld component.LiveDebug, entries []Entry) {
	var s component.LiveSampler
	if !s.Reset(ld) {
		return
	}
	for i := range entries {
		// A pointer into the batch: no allocation per entry.
		s.Publish("entry", (*entryText)(&entries[i]))
	}
	s.Flush()
}

// entryText is an Entry as a component.LiveText.
type entryText Entry

func (e *entryText) LiveText() string { return FormatEntry((*Entry)(e)) }

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
