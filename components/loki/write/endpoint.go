package write

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/loki/write/internal/wal"
)

// endpoint pushes batches to one Loki URL. Its worker goroutine reads records
// from a source, batches them, and pushes each batch with retries.
type endpoint struct {
	name   string
	args   EndpointArgs
	client *http.Client
	signer *signer // nil without aws_sigv4
	src    source
	// durable: with a WAL, batches are never dropped after retries; the
	// worker keeps retrying and the component reports unhealthy.
	durable    bool
	maxStreams int
	log        *slog.Logger
	m          *endpointMetrics

	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	status endpointStatus
	// drain and drainQueue tell a stopping worker how to finish (see stop).
	drain      time.Duration
	drainQueue bool
	// sigv4 is the signing configuration in force; args keeps the one the
	// endpoint was built with, since the worker reads args without locking.
	sigv4 *aws.SigV4Config
}

func (e *endpoint) currentSigV4() *aws.SigV4Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sigv4
}

func (e *endpoint) setSigV4(s *aws.SigV4Config) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sigv4 = s
}

// endpointStatus is what health and debug info show for an endpoint.
type endpointStatus struct {
	failing      bool
	failingSince time.Time
	lastError    string
	lastErrorAt  time.Time
	lastSuccess  time.Time
	entriesSent  int64
	batchesSent  int64
	dropped      int64
}

// start runs the worker until stop.
func (e *endpoint) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	e.cancel = cancel
	e.done = make(chan struct{})
	go func() {
		defer close(e.done)
		e.run(ctx)
	}()
}

// stop ends the worker after it has tried to deliver its batch in hand
// within drain (and, when drainQueue is set, every queued record too). It
// returns once the worker has exited.
func (e *endpoint) stop(drain time.Duration, drainQueue bool) {
	if e.cancel == nil {
		return
	}
	e.mu.Lock()
	e.drain, e.drainQueue = drain, drainQueue
	e.mu.Unlock()
	e.cancel()
	<-e.done
}

func (e *endpoint) run(ctx context.Context) {
	b := newBatch()
	var rec decodedRecord
	var enc pushEncoder
	// lastEnd is the position after the last record wholly in this or an
	// earlier batch: what a successful flush commits.
	var lastEnd wal.Position
	haveEnd := false
	// refs maps the streams of the record being added to batch slots.
	var refs []streamRef

	flush := func(ctx context.Context, retry bool) bool {
		if b.empty() {
			if haveEnd {
				e.src.commit(lastEnd)
			}
			return true
		}
		if !e.flush(ctx, b, &enc, retry) {
			return false
		}
		if haveEnd {
			e.src.commit(lastEnd)
		}
		b = newBatch()
		return true
	}

	for ctx.Err() == nil {
		var deadline time.Time
		if !b.empty() {
			deadline = b.created.Add(e.args.BatchWait)
		}
		payload, end, ok, err := e.src.next(ctx, deadline)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, wal.ErrClosed) || errors.Is(err, errQueueClosed) {
				break
			}
			e.log.Error("reading queued log entries failed; retrying", "endpoint", e.name, "err", err)
			e.recordFailure(fmt.Errorf("reading the WAL: %w", err))
			sleep(ctx, time.Second)
			continue
		}
		if !ok { // batch_wait passed
			if !flush(ctx, true) {
				break
			}
			continue
		}
		if err := rec.decode(payload); err != nil {
			// A record that passed its CRC but does not decode was written by
			// a different version; skip it rather than wedge the endpoint.
			e.log.Error("skipping an undecodable WAL record", "endpoint", e.name, "err", err)
			e.m.droppedEntries.WithLabelValues(e.name, "corrupt").Inc()
			lastEnd, haveEnd = end, true
			continue
		}
		refs = refs[:0]
		for range rec.streams {
			refs = append(refs, streamRef{i: -1})
		}
		resetRefs := func() {
			for i := range refs {
				refs[i] = streamRef{i: -1}
			}
		}
		complete := true
		for _, de := range rec.entries {
			size := entrySize(&de.Entry)
			if b.bytes+size > int(e.args.BatchSize) && !b.empty() {
				if !flush(ctx, true) {
					complete = false
					break
				}
				resetRefs()
			}
			r := refs[de.stream]
			if r.i < 0 {
				var ok bool
				r, ok = b.ref(rec.streams[de.stream], e.maxStreams)
				if !ok { // max_streams reached: push what we have first
					if !flush(ctx, true) {
						complete = false
						break
					}
					resetRefs()
					r, _ = b.ref(rec.streams[de.stream], e.maxStreams)
				}
				refs[de.stream] = r
			}
			b.add(r, de.Entry, size)
		}
		if !complete {
			break
		}
		lastEnd, haveEnd = end, true
	}

	// Stopping: deliver the batch in hand (and, without a WAL at shutdown,
	// the queue) within the drain time; what is left is rewound so that a
	// successor worker, or the next start, delivers it.
	e.mu.Lock()
	drain, drainQueue := e.drain, e.drainQueue
	e.mu.Unlock()
	if drain <= 0 {
		e.src.rewind()
		return
	}
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	// When the loop broke in the middle of a record, the batch holds part of
	// it and lastEnd still points before it: flushing and committing lastEnd
	// is right, the rest of the record is re-read later.
	if !flush(dctx, drainQueue) {
		e.src.rewind()
		return
	}
	for drainQueue && dctx.Err() == nil {
		payload, end, ok, err := e.src.next(dctx, time.Now())
		if err != nil || !ok {
			break
		}
		if rec.decode(payload) != nil {
			continue
		}
		for _, de := range rec.entries {
			r, _ := b.ref(rec.streams[de.stream], 0)
			b.add(r, de.Entry, entrySize(&de.Entry))
		}
		lastEnd, haveEnd = end, true
		if b.bytes >= int(e.args.BatchSize) && !flush(dctx, true) {
			break
		}
	}
	if drainQueue && !flush(dctx, true) {
		n := b.entries
		e.log.Error("log entries not delivered before shutdown were lost (enable the WAL to keep them)", "endpoint", e.name, "entries", n)
		e.m.droppedEntries.WithLabelValues(e.name, "shutdown").Add(float64(n))
	}
	e.src.rewind()
}

// flush pushes every tenant's part of b. With retry it retries failures
// (5xx, 429, network errors) with backoff: forever with a WAL, up to
// max_backoff_retries without. Without retry (a reload) it tries once.
// Batches Loki refuses as invalid (other 4xx) are dropped. It returns false
// if ctx ended before everything was delivered or dropped.
func (e *endpoint) flush(ctx context.Context, b *batch, enc *pushEncoder, retry bool) bool {
	for _, tb := range b.tenants {
		if tb.done {
			continue
		}
		body, err := enc.encode(tb)
		if err != nil {
			// Marshalling our own structs cannot fail short of a bug; drop
			// rather than retry forever.
			e.drop(tb, "encode", fmt.Errorf("encoding push request: %w", err))
			continue
		}
		backoff := e.args.MinBackoff
		for attempt := 1; ; attempt++ {
			status, err := e.push(ctx, tb.tenant, body)
			if err == nil {
				e.recordSuccess(tb)
				tb.done = true
				break
			}
			if ctx.Err() != nil {
				return false
			}
			retryable := status == 0 || status >= 500 || (status == http.StatusTooManyRequests && e.args.RetryOnHTTP429)
			if !retryable {
				e.drop(tb, strconv.Itoa(status), err)
				break
			}
			e.recordFailure(err)
			e.m.retries.WithLabelValues(e.name).Inc()
			if !retry {
				return false
			}
			if !e.durable && attempt > e.args.MaxBackoffRetries {
				e.drop(tb, "max_retries", fmt.Errorf("giving up after %d retries (enable the WAL to keep retrying): %w", e.args.MaxBackoffRetries, err))
				break
			}
			e.log.Warn("push to Loki failed; retrying", "endpoint", e.name, "attempt", attempt, "backoff", backoff, "err", err)
			// Jitter keeps many flow instances from retrying in lockstep.
			if !sleep(ctx, backoff/2+rand.N(backoff/2+1)) {
				return false
			}
			backoff = min(backoff*2, e.args.MaxBackoff)
		}
	}
	return true
}

// push sends one body and returns the HTTP status and an error for anything
// but 2xx.
func (e *endpoint) push(ctx context.Context, tenant string, body []byte) (int, error) {
	// A push in flight is not cut short by a stop: Loki may already have
	// stored it, and aborting would only make the drain send it twice.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.args.RemoteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.args.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", userAgent)
	for k, v := range e.args.Headers {
		req.Header.Set(k, v)
	}
	if tenant == "" {
		tenant = e.args.TenantID
	}
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		e.m.requestDuration.WithLabelValues(e.name, "error").Observe(time.Since(start).Seconds())
		return 0, fmt.Errorf("pushing to %s: %w", e.args.redactedURL(), err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	e.m.requestDuration.WithLabelValues(e.name, strconv.Itoa(resp.StatusCode)).Observe(time.Since(start).Seconds())
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, nil
	}
	err = fmt.Errorf("Loki at %s answered %s: %s", e.args.redactedURL(), resp.Status, bytes.TrimSpace(msg))
	if e.signer != nil && resp.StatusCode/100 == 4 {
		err = e.signer.explain(resp, msg, err)
	}
	return resp.StatusCode, err
}

func (e *endpoint) drop(tb *tenantBatch, reason string, err error) {
	tb.done = true
	e.log.Error("dropping a batch of log entries Loki will not accept", "endpoint", e.name, "tenant", tb.tenant, "entries", tb.entries, "reason", reason, "err", err)
	e.m.droppedEntries.WithLabelValues(e.name, reason).Add(float64(tb.entries))
	e.mu.Lock()
	e.status.dropped += int64(tb.entries)
	e.mu.Unlock()
	e.recordFailure(err)
}

func (e *endpoint) recordSuccess(tb *tenantBatch) {
	e.m.sentEntries.WithLabelValues(e.name).Add(float64(tb.entries))
	e.m.sentBytes.WithLabelValues(e.name).Add(float64(tb.bytes))
	e.mu.Lock()
	defer e.mu.Unlock()
	e.status.failing = false
	e.status.lastSuccess = time.Now()
	e.status.entriesSent += int64(tb.entries)
	e.status.batchesSent++
}

func (e *endpoint) recordFailure(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	if !e.status.failing {
		e.status.failing = true
		e.status.failingSince = now
	}
	e.status.lastError = err.Error()
	e.status.lastErrorAt = now
}

func (e *endpoint) snapshot() endpointStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// sleep waits d or until ctx ends; it reports whether the full time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
