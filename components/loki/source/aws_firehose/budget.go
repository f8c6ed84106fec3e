package awsfirehose

import (
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
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
//
// Released bytes are not free memory yet: they are garbage until the
// collector has run. Returned to the budget at once, as they were before,
// requests that come and go allocate a budget's worth of new memory while
// the last one's is still garbage, and the heap grows with the collector's
// pacing (GOGC=100: up to twice what was live at the last collection)
// instead of with the budget: under issue 9's attack mix flow's peak RSS was
// 426–607 MiB with a 128 MiB budget, depending on scheduling. So the budget
// counts memory until it is collected: used is what requests hold (held)
// plus what they released before the last collection that has ended. Bytes
// come back when a collection that started after their release ends: any
// collection, seen through a sentinel object's finalizer, or one the budget
// asks for (runtime.GC, one at a time, in the background) once half of the
// budget awaits collection. A reservation that does not fit while released
// bytes await collection waits for that collection, at most gcWait, then
// fails as above; this wait does not depend on other requests finishing, so
// requests still cannot wait for one another. The Firehose component's heap
// (live and garbage) thus stays within max_inflight_size, whatever the
// collector's pacing.
type memBudget struct {
	total atomic.Int64
	used  atomic.Int64 // held, plus released bytes not yet collected
	held  atomic.Int64 // reserved by requests in flight

	mu     sync.Mutex
	fresh  int64         // released since the outstanding sentinel was made
	sealed int64         // released before it: free once it is finalized
	armed  bool          // a sentinel is outstanding
	gcDone chan struct{} // closed when the forced collection under way ends; nil if none
	// collecting is what the forced collection under way frees when it ends.
	collecting int64
	forced     atomic.Int64 // collections the budget asked for (tests, metrics)
}

// gcWait bounds how long a reservation waits for a collection to free
// released bytes: a collection of a few hundred MiB takes tens of
// milliseconds, a few hundred on a loaded machine.
const gcWait = time.Second

func newMemBudget(total int64) *memBudget {
	b := &memBudget{}
	b.total.Store(total)
	return b
}

// take takes n bytes if they fit.
func (b *memBudget) take(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.total.Load() {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			b.held.Add(n)
			return true
		}
	}
}

// tryReserve takes n bytes if they fit, after waiting (at most gcWait in
// all) for collections to free released bytes if that would make them fit.
func (b *memBudget) tryReserve(n int64) bool {
	var deadline time.Time
	for {
		if b.take(n) {
			return true
		}
		b.mu.Lock()
		uncollected := b.fresh + b.sealed + b.collecting
		b.mu.Unlock()
		if uncollected == 0 || b.used.Load()-uncollected+n > b.total.Load() {
			return false // what requests hold leaves no room: shed at once
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(gcWait)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return false
		}
		b.collect(wait)
	}
}

// release gives back n bytes a request no longer holds; they count until
// collected.
func (b *memBudget) release(n int64) {
	if n <= 0 {
		return
	}
	b.held.Add(-n)
	b.mu.Lock()
	b.fresh += n
	if !b.armed {
		b.arm()
	}
	pending := b.fresh + b.sealed
	b.mu.Unlock()
	if pending >= b.total.Load()/2 {
		b.collect(0)
	}
}

// sentinel is a heap object whose finalizer tells that a collection has
// ended. (It holds a pointer so that it is not a tiny allocation, whose
// finalizer may never run.)
type sentinel struct {
	_ *byte
	_ [2]int64
}

// arm seals the bytes released so far under a new sentinel: they are
// garbage before it is allocated, so a collection that finds it unreachable
// started after they were released and has freed them. b.mu is held.
func (b *memBudget) arm() {
	b.sealed, b.fresh = b.sealed+b.fresh, 0
	b.armed = true
	s := new(sentinel)
	runtime.SetFinalizer(s, func(*sentinel) { b.collected() })
}

// collected runs on the finalizer goroutine after a collection.
func (b *memBudget) collected() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used.Add(-b.sealed)
	b.sealed = 0
	b.armed = false
	if b.fresh > 0 {
		b.arm()
	}
}

// collect starts a collection, unless one is under way, and waits at most
// wait for it to end. Bytes released before it starts are back in the
// budget when it ends.
func (b *memBudget) collect(wait time.Duration) {
	b.mu.Lock()
	done := b.gcDone
	if done == nil {
		done = make(chan struct{})
		b.gcDone = done
		x := b.fresh + b.sealed
		b.fresh, b.sealed, b.collecting = 0, 0, x
		b.forced.Add(1)
		go func() {
			runtime.GC()
			b.mu.Lock()
			b.used.Add(-x)
			b.collecting = 0
			b.gcDone = nil
			b.mu.Unlock()
			close(done)
		}()
	}
	b.mu.Unlock()
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

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
