package loki

import (
	"errors"
	"fmt"
	"time"
)

// ErrFull is what a Send refused for lack of room wraps (errors.Is): the
// receiver (or one it forwards to) holds more undelivered entries than its
// bound, so it takes none until delivery catches up. Nothing was accepted;
// the source must not acknowledge the entries, and should hold back: the
// Firehose source answers 503 with Retry-After, loki.source.file stops
// reading until a retry is accepted.
var ErrFull = errors.New("receiver is full")

// FullError is a Send refused for lack of room.
type FullError struct {
	// Component names the receiver that is full, e.g. loki.write.default.
	Component string
	// Reason says what is over which bound.
	Reason string
	// RetryAfter is when trying again makes sense.
	RetryAfter time.Duration
}

func (e *FullError) Error() string {
	return fmt.Sprintf("%s is full: %s", e.Component, e.Reason)
}

// Is makes errors.Is(err, ErrFull) true.
func (e *FullError) Is(target error) bool { return target == ErrFull }

// FullReporter is implemented by receivers that can say, before any work
// is done, that a Send would be refused as full: Full returns a *FullError
// then, and nil while entries are taken. Receivers that forward (as
// loki.relabel does) report what their destinations report; sinks that
// never refuse for lack of room (loki.echo) report nil.
type FullReporter interface {
	Full() error
}

// Full returns the first *FullError any of receivers reports, or nil.
func Full(receivers []LogsReceiver) error {
	for _, r := range receivers {
		if f, ok := r.(FullReporter); ok {
			if err := f.Full(); err != nil {
				return err
			}
		}
	}
	return nil
}

// RetryAfter is the wait err asks for when it is (or wraps) a *FullError,
// else def.
func RetryAfter(err error, def time.Duration) time.Duration {
	var fe *FullError
	if errors.As(err, &fe) && fe.RetryAfter > 0 {
		return fe.RetryAfter
	}
	return def
}
