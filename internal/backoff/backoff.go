// Package backoff is the one exponential backoff outside the two senders
// (prometheus.remote_write and loki.write keep their own, with jitter and
// Retry-After, in their packages).
package backoff

import "time"

// Exponential is the wait after failures (1, 2, …) failed attempts in a
// row: lo after the first, doubling with each further one, at most hi.
// failures below 1 count as 1. It doubles only while under hi, so a long
// run of failures cannot overflow.
func Exponential(lo, hi time.Duration, failures int) time.Duration {
	d := lo
	for i := 1; i < failures && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}
