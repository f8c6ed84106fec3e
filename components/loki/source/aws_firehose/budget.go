package awsfirehose

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"unsafe"

	"github.com/flow-telemetry/flow/components/common/loki"
)

// memBudget is the memory that all requests in flight may hold together
// (http > max_inflight_size). Requests reserve from it before they allocate,
// as bytes actually arrive or are decoded, never from what a client declares;
// they release everything when answered.
//
// A reservation that does not fit fails at once: the request is answered 503
// with Retry-After and drops what it held. Nothing waits for budget, so a
// client cannot park requests on it, and requests that each hold part of the
// budget cannot wait for one another: under load some requests are shed
// quickly and Firehose retries them. (A blocking semaphore, such as
// golang.org/x/sync/semaphore's Acquire, would hold every request's partial
// reservation while it waited for more; TryAcquire alone is this counter.)
type memBudget struct {
	total atomic.Int64
	used  atomic.Int64
}

func newMemBudget(total int64) *memBudget {
	b := &memBudget{}
	b.total.Store(total)
	return b
}

// tryReserve takes n bytes if they fit.
func (b *memBudget) tryReserve(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.total.Load() {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *memBudget) release(n int64) { b.used.Add(-n) }

// Estimated memory of what a request builds, beyond the bytes themselves.
var (
	recordSize = int64(unsafe.Sizeof(record{}))
	entrySize  = int64(unsafe.Sizeof(loki.Entry{}))
	eventSize  = int64(unsafe.Sizeof(cwEvent{}))
)

const (
	// cwRecordOverhead is a CloudWatch record's share beyond its events:
	// the payload struct and its label sets before and after relabelling.
	cwRecordOverhead = 2 << 10
	// gzipReaderSize is a gzip reader's state (window and tables).
	gzipReaderSize = 48 << 10
)

// account is one request's reservations and decoded bytes, and its
// deadline.
type account struct {
	b       *memBudget
	l       *limits
	held    int64
	decoded int64
	// stop closes when the request must stop its work and be answered
	// (handle's deadline, see forwardDeadline); expired is then the
	// answer. A nil stop never closes.
	stop    <-chan struct{}
	expired func() *requestError
}

// check is the answer once the request's deadline has passed, else nil.
// Decoding calls it between records and between reads of a body or a
// gzipped record, so that a request too slow to decode is answered 503
// in time rather than cut off by server_write_timeout without an answer.
// (It is a non-blocking receive: cheap enough for every record.)
func (a *account) check() *requestError {
	select {
	case <-a.stop:
		return a.expired()
	default:
		return nil
	}
}

func newAccount(b *memBudget, l *limits) *account { return &account{b: b, l: l} }

// reserve charges n bytes to the request: 413 if the request alone would
// need more than the whole budget, 503 (retry later) if the budget is in use.
func (a *account) reserve(n int64) *requestError {
	if n <= 0 {
		return nil
	}
	if a.held+n > a.b.total.Load() {
		return &requestError{status: http.StatusRequestEntityTooLarge, reason: "too_large",
			msg: fmt.Sprintf("the request needs more than max_inflight_size (%d bytes) of memory to decode; lower the Firehose stream's buffer size or raise max_inflight_size", a.b.total.Load())}
	}
	if !a.b.tryReserve(n) {
		return &requestError{status: http.StatusServiceUnavailable, reason: "busy", retryAfter: true,
			msg: fmt.Sprintf("requests in flight hold max_inflight_size (%d bytes) of memory; Firehose will retry", a.b.total.Load())}
	}
	a.held += n
	return nil
}

// release returns n bytes the request no longer holds.
func (a *account) release(n int64) {
	if n > a.held {
		n = a.held
	}
	if n > 0 {
		a.held -= n
		a.b.release(n)
	}
}

// decode counts n decoded record bytes (after base64 and gunzip) against
// max_request_decoded_size; the caller reserves their memory separately.
func (a *account) decode(n int64) *requestError {
	a.decoded += n
	if a.decoded > a.l.decoded {
		return &requestError{status: http.StatusRequestEntityTooLarge, reason: "too_large",
			msg: fmt.Sprintf("the request's records decode to more than max_request_decoded_size (%d bytes); lower the Firehose stream's buffer size", a.l.decoded)}
	}
	return nil
}

// done releases everything the request holds.
func (a *account) done() { a.release(a.held) }
