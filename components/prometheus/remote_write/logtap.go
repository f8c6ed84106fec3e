package remotewrite

import (
	"context"
	"log/slog"
)

// wal.Open reports one failure only in its log: "encountered WAL read
// error, attempting repair" before Prometheus' own repair deletes what
// follows the damage. No metric or return value carries it, so flow taps
// the logger it hands wal.Open: a slog.Handler that passes every record
// through and calls back for these messages, with the record's attributes.
// If a Prometheus upgrade rewords a message, the tap goes silent;
// TestPrometheusRepairIsReported catches that. (flow's own WAL tailers
// report read failures directly: watcherFailed, msgWatcherError.)
const (
	msgWatcherError  = "error tailing WAL"
	msgPromRepair    = "encountered WAL read error, attempting repair"
	msgPromRepairEnd = "successfully repaired WAL"
)

// logTap is a slog.Handler that reports chosen messages to on.
type logTap struct {
	next  slog.Handler
	attrs []slog.Attr
	on    func(msg string, attrs map[string]string)
}

func newLogTap(l *slog.Logger, on func(msg string, attrs map[string]string)) *slog.Logger {
	return slog.New(&logTap{next: l.Handler(), on: on})
}

func (t *logTap) Enabled(ctx context.Context, level slog.Level) bool {
	// The tapped messages are warnings and errors; let them through even
	// where the operator's level hides them, so the tap sees them.
	return level >= slog.LevelWarn || t.next.Enabled(ctx, level)
}

func (t *logTap) Handle(ctx context.Context, r slog.Record) error {
	switch r.Message {
	case msgPromRepair, msgPromRepairEnd:
		m := make(map[string]string, len(t.attrs)+r.NumAttrs())
		for _, a := range t.attrs {
			m[a.Key] = a.Value.String()
		}
		r.Attrs(func(a slog.Attr) bool {
			m[a.Key] = a.Value.String()
			return true
		})
		t.on(r.Message, m)
	}
	if !t.next.Enabled(ctx, r.Level) {
		return nil
	}
	return t.next.Handle(ctx, r)
}

func (t *logTap) WithAttrs(as []slog.Attr) slog.Handler {
	return &logTap{next: t.next.WithAttrs(as), attrs: append(append([]slog.Attr(nil), t.attrs...), as...), on: t.on}
}

func (t *logTap) WithGroup(name string) slog.Handler {
	return &logTap{next: t.next.WithGroup(name), attrs: t.attrs, on: t.on}
}
