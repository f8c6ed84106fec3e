// Package loki holds the types log components exchange: an entry with its
// labels, and the receiver that log pipelines are wired with
// (`forward_to = [loki.write.default.receiver]`).
package loki

import (
	"context"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"
)

// Entry is one log line with its labels.
type Entry struct {
	Labels model.LabelSet
	push.Entry
}

// LogsReceiver accepts entries. Send returns nil only once every entry has
// been accepted durably by the receiver (written to its WAL or handed to the
// next receiver, which accepted it), so a source can acknowledge its sender
// only then. Send must honour ctx: on cancellation it returns ctx's error and
// the caller treats the entries as not accepted. Send must not keep or modify
// the slice after returning.
type LogsReceiver interface {
	Send(ctx context.Context, entries []Entry) error
}

// Fanout sends to every receiver in turn and fails if any fails, so that
// senders retry rather than lose entries.
func Fanout(ctx context.Context, receivers []LogsReceiver, entries []Entry) error {
	for _, r := range receivers {
		if err := r.Send(ctx, entries); err != nil {
			return err
		}
	}
	return nil
}
