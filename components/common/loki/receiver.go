package loki

import (
	"context"
)

// Receiver is the LogsReceiver components export: it calls a send function
// and is component.Countable, so the runtime can count entries per edge.
// Receivers are compared by identity (a pointer), so re-publishing the same
// Receiver never looks like a change to the runtime.
type Receiver struct {
	send    func(ctx context.Context, entries []Entry) error
	full    func() error
	counter func(n int)
}

// NewReceiver returns a Receiver that hands entries to send.
func NewReceiver(send func(ctx context.Context, entries []Entry) error) *Receiver {
	return &Receiver{send: send}
}

// NewReceiverWithFull returns a Receiver that hands entries to send and
// answers Full (FullReporter) with full.
func NewReceiverWithFull(send func(ctx context.Context, entries []Entry) error, full func() error) *Receiver {
	return &Receiver{send: send, full: full}
}

// Full reports whether a Send would be refused as full (see FullReporter);
// nil for a receiver built without a full function.
func (r *Receiver) Full() error {
	if r.full == nil {
		return nil
	}
	return r.full()
}

// Send passes entries on and counts them once they are accepted.
func (r *Receiver) Send(ctx context.Context, entries []Entry) error {
	if err := r.send(ctx, entries); err != nil {
		return err
	}
	if r.counter != nil {
		r.counter(len(entries))
	}
	return nil
}

// WithCounter returns a Receiver sending to the same place that also reports
// the number of entries it passed on to counter (component.Countable).
func (r *Receiver) WithCounter(counter func(n int)) any {
	return &Receiver{send: r.send, full: r.full, counter: counter}
}
