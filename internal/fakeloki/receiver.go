package fakeloki

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/flow-telemetry/flow/components/common/loki"
)

// Receiver is an in-process forward_to receiver (a loki.LogsReceiver) for
// tests of log sources: it records the entries it is sent, and can fail or
// hold every Send to show back-pressure. The zero value records.
type Receiver struct {
	calls atomic.Int64 // Send calls, counted as they start

	mu      sync.Mutex
	entries []loki.Entry
	err     error
	block   chan struct{} // when set, Send waits for it to close or ctx
}

var _ loki.LogsReceiver = (*Receiver)(nil)

// Send records entries, or returns the error set by Fail, after waiting
// while the receiver is blocked.
func (r *Receiver) Send(ctx context.Context, entries []loki.Entry) error {
	r.calls.Add(1)
	r.mu.Lock()
	block := r.block
	r.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	// Copy: the sender may reuse the slice after Send returns.
	r.entries = append(r.entries, entries...)
	return nil
}

// Fail makes Send return err (nil: record again).
func (r *Receiver) Fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Block makes Send wait until Unblock (or its context ends).
func (r *Receiver) Block() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.block == nil {
		r.block = make(chan struct{})
	}
}

// Unblock releases the Sends waiting since Block.
func (r *Receiver) Unblock() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.block != nil {
		close(r.block)
		r.block = nil
	}
}

// Calls is how many times Send was called.
func (r *Receiver) Calls() int64 { return r.calls.Load() }

// Entries returns a copy of the entries recorded so far, in order.
func (r *Receiver) Entries() []loki.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]loki.Entry(nil), r.entries...)
}

// Lines returns the recorded entries' lines, in order.
func (r *Receiver) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, e.Line)
	}
	return out
}
