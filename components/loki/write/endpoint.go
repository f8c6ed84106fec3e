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
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/components/common/redact"
)

// endpoint pushes batches to one Loki URL. Its worker goroutine reads records
// from a source, batches them, and pushes each batch with retries.
type endpoint struct {
	name   string
	args   EndpointArgs
	client *http.Client
	// transport is the client's own connection pool, under any signing
	// wrapper: stop closes its idle connections, since a replaced endpoint's
	// keep-alive connections would otherwise linger for the idle timeout
	// (5 minutes), two goroutines each, one set per reload.
	transport http.RoundTripper
	signer    *signer // nil without aws_sigv4
	// secrets are scrubbed from every message (see redact.go); replaced
	// when aws_sigv4 credentials change in place.
	secrets atomic.Pointer[redact.Secrets]
	src     source
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
	// dctx and drainQueue tell a stopping worker how to finish (see stop).
	dctx       context.Context
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
	// failing: the batch in hand could not be pushed and is being retried
	// (or, on a reload, is left for the next worker).
	failing bool
	// failingSince is the first failure (retried or dropped) since the last
	// successful push; zero after one.
	failingSince time.Time
	lastError    string
	lastErrorAt  time.Time
	lastSuccess  time.Time
	entriesSent  int64
	batchesSent  int64
	dropped      int64 // since start
	// Drops since the last successful push, and the latest of them: health
	// is unhealthy while recentDropped > 0, and names the reason.
	recentDropped  int64
	lastDropAt     time.Time
	lastDropReason string
	lastDropError  string
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

// stop ends the worker after it has tried to deliver its batches in hand
// within drain (and, when drainQueue is set, every queued record too). It
// returns once the worker has exited.
func (e *endpoint) stop(drain time.Duration, drainQueue bool) {
	if e.cancel == nil {
		e.closeIdle()
		return
	}
	var dcancel context.CancelFunc = func() {}
	e.mu.Lock()
	e.dctx, e.drainQueue = nil, drainQueue
	if drain > 0 {
		e.dctx, dcancel = context.WithTimeout(context.Background(), drain)
	}
	e.mu.Unlock()
	e.cancel()
	<-e.done
	dcancel()
	e.closeIdle()
}

// drainContext is, once stop has been called, the context bounding the
// drain (nil for none) and whether the queue is drained too (shutdown
// without a WAL), which is also when failed pushes are retried in it.
func (e *endpoint) drainContext() (context.Context, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dctx, e.drainQueue
}

// scrub replaces the endpoint's secrets in msg.
func (e *endpoint) scrub(msg string) string {
	if p := e.secrets.Load(); p != nil {
		msg = p.Scrub(msg)
	}
	if e.signer != nil {
		// Also AWS-shaped keys and tokens: credentials rotate in place, and
		// a message may echo ones this endpoint no longer holds.
		msg = aws.Scrub(msg)
	}
	return msg
}

func (e *endpoint) setSecrets(ea EndpointArgs) {
	e.secrets.Store(secretsOf(ea))
}

// closeIdle closes the endpoint's idle keep-alive connections. A stopped
// worker has no request in flight, so this closes them all.
func (e *endpoint) closeIdle() {
	if ci, ok := e.transport.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// flush pushes every tenant's part of b. With retry it retries failures
// (network errors, 5xx, 429 and 401/403 unless their options say drop)
// with backoff: forever with a WAL, up to max_backoff_retries without.
// Without retry (a reload) it tries once. Batches Loki refuses as invalid
// (other 4xx, such as 400 for entries out of order or too old) are dropped
// (see permanent). It returns false if ctx ended before everything was
// delivered or dropped.
func (e *endpoint) flush(ctx context.Context, b *batch, enc *pushEncoder, retry bool) bool {
	for _, tb := range b.tenants {
		if tb.done {
			continue
		}
		if ctx.Err() != nil {
			return false
		}
		body := enc.encode(tb)
		backoff := e.args.MinBackoff
		for attempt := 1; ; attempt++ {
			res := e.push(ctx, tb.tenant, body)
			if res.err == nil {
				e.recordSuccess(tb)
				tb.done = true
				break
			}
			if ctx.Err() != nil {
				return false
			}
			if why := e.permanent(res.status); why != "" {
				e.drop(tb, strconv.Itoa(res.status), fmt.Errorf("%w; %s", res.err, why))
				break
			}
			if retry && !e.durable && attempt > e.args.MaxBackoffRetries {
				e.drop(tb, "max_retries", fmt.Errorf("giving up after %d retries (enable the WAL to keep retrying): %w", e.args.MaxBackoffRetries, res.err))
				break
			}
			e.recordFailure(res.err)
			e.m.retries.WithLabelValues(e.name).Inc()
			if !retry {
				return false // a reload: the next worker retries it
			}
			// Jitter keeps many flow instances from retrying in lockstep.
			wait := backoff/2 + rand.N(backoff/2+1)
			if res.retryAfter > wait {
				// Loki (or a gateway) said when to come back. Capped, so a
				// broken or hostile server cannot stall the endpoint.
				wait = min(res.retryAfter, e.args.MaxBackoff)
			}
			e.log.Warn("push to Loki failed; retrying", "endpoint", e.name, "attempt", attempt, "wait", wait, "err", res.err)
			if !sleep(ctx, wait) {
				return false
			}
			backoff = min(backoff*2, e.args.MaxBackoff)
		}
	}
	return true
}

// pushResult is the outcome of one push: the HTTP status (0 when none
// arrived), the error for anything but 2xx, and the Retry-After asked for.
type pushResult struct {
	status     int
	retryAfter time.Duration
	err        error
}

// push sends one body. Its error never holds a secret: the URL is shown
// redacted, Go's url.Error (which quotes the whole URL, query string and
// all) is unwrapped, and the message is scrubbed of the endpoint's secrets.
func (e *endpoint) push(ctx context.Context, tenant string, body []byte) pushResult {
	res := e.pushOnce(ctx, tenant, body)
	if res.err != nil {
		res.err = errors.New(e.scrub(res.err.Error()))
	}
	return res
}

func (e *endpoint) pushOnce(ctx context.Context, tenant string, body []byte) pushResult {
	// A push in flight is not cut short by a stop: Loki may already have
	// stored it, and aborting would only make the drain send it twice.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.args.RemoteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.args.URL.Raw(), bytes.NewReader(body))
	if err != nil {
		return pushResult{err: errors.New("building the request failed: check the endpoint's url")}
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
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return pushResult{err: fmt.Errorf("pushing to %s: %w", e.args.redactedURL(), err)}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBody)) // reuse the connection
	e.m.requestDuration.WithLabelValues(e.name, strconv.Itoa(resp.StatusCode)).Observe(time.Since(start).Seconds())
	res := pushResult{status: resp.StatusCode}
	if resp.StatusCode/100 == 2 {
		return res
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		res.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	//lint:ignore ST1005 Loki is a proper noun
	res.err = fmt.Errorf("Loki at %s answered %s: %s", e.args.redactedURL(), resp.Status, bytes.TrimSpace(msg))
	if e.signer != nil && resp.StatusCode/100 == 4 {
		res.err = e.signer.explain(resp, msg, res.err)
		var ae *aws.AuthError
		if (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) && !errors.As(res.err, &ae) {
			// No AWS error code to explain: name the usual causes anyway.
			res.err = fmt.Errorf("%w (%s)", res.err, sigV4AuthHint)
		}
	}
	return res
}

// Bounds on what is read of a failed push's answer: the start of the body
// for the message, and a little more to let the connection be reused.
const (
	maxErrorBody = 1 << 10
	maxDrainBody = 64 << 10
)

// parseRetryAfter reads a Retry-After header (see httpclient.ParseRetryAfter).
func parseRetryAfter(v string, now time.Time) time.Duration {
	return httpclient.ParseRetryAfter(v, now)
}

// permanent says why a failed push's batch is dropped rather than retried,
// or "" to retry it. Network errors and 5xx are always retried.
func (e *endpoint) permanent(status int) string {
	switch {
	case status == 0 || status >= 500:
		return ""
	case status == http.StatusTooManyRequests:
		if e.args.RetryOnHTTP429 {
			return ""
		}
		return "dropped because retry_on_http_429 is false"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		if e.args.RetryOnHTTPAuthError {
			return ""
		}
		return "dropped because retry_on_http_auth_error is false"
	default:
		return "Loki refuses these entries as invalid; they are dropped, not retried"
	}
}

// drop gives up on a tenant's batch: counted under reason, logged, and
// shown in health until a later push succeeds.
func (e *endpoint) drop(tb *tenantBatch, reason string, err error) {
	tb.done = true
	msg := e.scrub(err.Error())
	e.log.Error("dropped a batch of log entries", "endpoint", e.name, "tenant", tb.tenant, "entries", tb.entries, "reason", reason, "err", msg)
	e.m.droppedEntries.WithLabelValues(e.name, reason).Add(float64(tb.entries))
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	e.status.dropped += int64(tb.entries)
	e.status.recentDropped += int64(tb.entries)
	e.status.lastDropAt, e.status.lastDropReason, e.status.lastDropError = now, reason, msg
	// The retries of this batch are over; the next failure starts anew.
	e.status.failing = false
	if e.status.failingSince.IsZero() {
		e.status.failingSince = now
	}
	e.status.lastError, e.status.lastErrorAt = msg, now
}

func (e *endpoint) recordSuccess(tb *tenantBatch) {
	e.m.sentEntries.WithLabelValues(e.name).Add(float64(tb.entries))
	e.m.sentBytes.WithLabelValues(e.name).Add(float64(tb.bytes))
	e.mu.Lock()
	defer e.mu.Unlock()
	e.status.failing = false
	e.status.failingSince = time.Time{}
	e.status.recentDropped = 0
	e.status.lastSuccess = time.Now()
	e.status.entriesSent += int64(tb.entries)
	e.status.batchesSent++
}

func (e *endpoint) recordFailure(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	e.status.failing = true
	if e.status.failingSince.IsZero() {
		e.status.failingSince = now
	}
	e.status.lastError = e.scrub(err.Error())
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
