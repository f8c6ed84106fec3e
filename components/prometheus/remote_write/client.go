package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	common "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/storage/remote"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/components/common/redact"
	"github.com/flow-telemetry/flow/syntax/value"
)

// endpointClient is flow's remote.WriteClient for one endpoint: Prometheus'
// remote.Client (request encoding, status handling: retry on 5xx and 429,
// drop on other 4xx) with flow's transport underneath:
//
//	observer → headers → SigV4 signer (optional) → auth, TLS, proxy → pool
//
// Store records every send's outcome in the endpoint's status (health,
// debug info, the dropped-samples metric) and scrubs the endpoint's secrets
// from the errors it hands the queue (or the replay sender), which logs them. The observer
// makes 401/403 retried (see retryAuth) and caps Retry-After.
type endpointClient struct {
	name string
	url  string // redacted: for messages
	// write is Prometheus' client, sending to the real URL.
	write remote.WriteClient
	// transport is the client's own connection pool, under any signing
	// wrapper: retire closes its idle connections, since a replaced
	// client's keep-alive connections would otherwise linger for the idle
	// timeout (5 minutes), two goroutines each, one set per reload.
	transport http.RoundTripper
	signer    *aws.RoundTripper // nil without aws_sigv4
	st        *endpointStatus
	m         *metrics
	// secrets are scrubbed from every message; replaced when aws_sigv4
	// credentials change in place.
	secrets atomic.Pointer[redact.Secrets]
	// v2 and withHist say how to count a dropped request's samples.
	v2, withHist bool
	// settings are what the client was built from (see clientSettings).
	settings EndpointOptions

	inflight atomic.Int64
	retired  atomic.Bool
}

func newEndpointClient(ep *EndpointOptions, st *endpointStatus, m *metrics, logger *slog.Logger) (*endpointClient, error) {
	name := ep.queueName()
	// The same client Prometheus would build from these settings (no
	// redirects unless follow_redirects, HTTP/2 as configured), with flow's
	// round trippers around its transport.
	hc, err := ep.HTTPClient.Build("remote_storage_write_client", ep.httpClientOptions()...)
	if err != nil {
		return nil, err
	}
	rt := hc.Transport
	c := &endpointClient{
		name: name, url: ep.redactedURL(), transport: rt, st: st, m: m,
		v2:       ep.ProtobufMessage != string(remoteapi.WriteV1MessageType),
		withHist: ep.SendNativeHistograms,
		settings: clientSettings(ep),
	}
	c.setSecrets(ep)
	if s := ep.sigv4(); s != nil {
		c.signer, err = aws.NewRoundTripper(*s, rt, aws.WithLogger(logger))
		if err != nil {
			return nil, err
		}
		rt = c.signer
	}
	if art, err := ep.authRoundTripper(rt); err != nil {
		return nil, err
	} else if art != nil {
		rt = art
	}
	if len(ep.Headers) > 0 {
		rt = &headerRoundTripper{headers: ep.Headers, next: rt}
	}
	rt = &observer{
		next: rt, c: c,
		retry429:   ep.QueueOptions.RetryOnHTTP429,
		retryAuth:  ep.RetryOnHTTPAuthError,
		maxBackoff: ep.QueueOptions.MaxBackoff,
	}

	u, err := url.Parse(ep.URL.Raw())
	if err != nil {
		return nil, errors.New("url is not valid")
	}
	wc, err := remote.NewWriteClient(name, &remote.ClientConfig{
		URL:              &common.URL{URL: u},
		Timeout:          model.Duration(ep.RemoteTimeout),
		RetryOnRateLimit: ep.QueueOptions.RetryOnHTTP429,
		WriteProtoMsg:    remoteapi.WriteMessageType(ep.ProtobufMessage),
	})
	if err != nil {
		return nil, err
	}
	pc, ok := wc.(*remote.Client)
	if !ok {
		return nil, fmt.Errorf("prometheus internals changed: remote.NewWriteClient returned %T, want *remote.Client", wc)
	}
	hc.Transport = rt
	pc.Client = hc
	c.write = wc
	return c, nil
}

// clientSettings is what an endpoint's client is built from, SigV4
// credentials excluded: when only those change, the signer is updated in
// place and the client (and its queue) stay. Compared with reflect.DeepEqual,
// which compares secrets by value and pointers by what they point to.
func clientSettings(ep *EndpointOptions) EndpointOptions {
	c := *ep
	if s := ep.sigv4(); s != nil {
		cp := *s
		cp.AccessKeyID, cp.SecretAccessKey, cp.AccessKey, cp.SecretKey, cp.Credentials = "", "", "", "", nil
		c.SigV4, c.SigV4Alloy = &cp, nil
	}
	return c
}

// updateCredentials gives the signer the endpoint's new SigV4 settings.
func (c *endpointClient) updateCredentials(ep *EndpointOptions) error {
	s := ep.sigv4()
	if c.signer == nil || s == nil {
		return nil
	}
	c.setSecrets(ep)
	return c.signer.Update(*s)
}

// setSecrets notes every secret of the endpoint (URL password and query
// values, headers, HTTP client and SigV4 secrets), to be scrubbed.
func (c *endpointClient) setSecrets(ep *EndpointOptions) {
	var s redact.Secrets
	s.AddURL(ep.URL)
	for _, v := range ep.Headers {
		s.Add(string(v))
	}
	s.AddHTTPClient(ep.HTTPClient)
	s.AddSigV4(ep.sigv4())
	if a := ep.AzureAD; a != nil && a.OAuth != nil {
		s.Add(string(a.OAuth.ClientSecret))
	}
	c.secrets.Store(&s)
}

// scrub replaces the endpoint's secrets in msg.
func (c *endpointClient) scrub(msg string) string {
	msg = c.secrets.Load().Scrub(msg)
	if c.signer != nil {
		// Also AWS-shaped keys and tokens: credentials rotate in place, and
		// a message may echo ones this endpoint no longer holds.
		msg = aws.Scrub(msg)
	}
	return msg
}

// Name implements remote.WriteClient.
func (c *endpointClient) Name() string { return c.name }

// Endpoint implements remote.WriteClient: the redacted URL, since the queue
// manager puts it in logs and trace attributes.
func (c *endpointClient) Endpoint() string { return c.url }

// attemptKey carries an *attempt from Store to the observer.
type attemptKey struct{}

// attempt is what the observer learnt of one Store's request.
type attempt struct {
	status int    // 0: no answer
	msg    string // what went wrong, for health and logs
	// retryAfter is the wait the endpoint asked for with Retry-After on an
	// answer that is retried, capped at max_backoff (0: none).
	retryAfter time.Duration
}

// Store implements remote.WriteClient: it sends through Prometheus' client
// and records the outcome. A request the queue will not retry (Prometheus'
// RecoverableError not set: a 4xx the endpoint refuses) is a drop, counted
// and shown.
func (c *endpointClient) Store(ctx context.Context, req []byte, try int) (remote.WriteResponseStats, error) {
	c.inflight.Add(1)
	defer c.storeDone()
	at := &attempt{}
	stats, err := c.write.Store(context.WithValue(ctx, attemptKey{}, at), req, try)
	if err == nil {
		c.st.succeed()
		return stats, nil
	}
	msg := at.msg
	if msg == "" {
		// Prometheus' own error: net/http's url.Error quotes the URL with its
		// query string.
		msg = err.Error()
	}
	msg = c.scrub(msg)
	if ctx.Err() != nil {
		// Stopping or resharding: not the endpoint's failure, and the
		// samples stay in the WAL for the next queue or run.
		return stats, &scrubbedError{msg: msg, err: err, status: at.status, retryAfter: at.retryAfter}
	}
	var rec remote.RecoverableError
	if errors.As(err, &rec) {
		c.st.fail(msg)
	} else if ctx.Value(probeKey{}) == nil {
		n := int64(0)
		if counts, derr := requestTimestamps(req, c.v2, c.withHist); derr == nil {
			for _, k := range counts {
				n += k
			}
		}
		c.dropped(n, at.status, msg)
	}
	return stats, &scrubbedError{msg: msg, err: err, status: at.status, retryAfter: at.retryAfter}
}

// dropped counts and shows n samples the endpoint refused for good.
func (c *endpointClient) dropped(n int64, status int, msg string) {
	reason := "error"
	if status != 0 {
		reason = strconv.Itoa(status)
	}
	c.m.droppedSamples.WithLabelValues(c.name, reason).Add(float64(n))
	c.st.drop(n, reason, msg)
}

// probeKey marks a Store whose caller settles a refusal itself (replay
// splits refused requests, replaysplit.go): Store does not count it as a
// drop; the caller calls dropped for what it finally gives up.
type probeKey struct{}

func (c *endpointClient) storeDone() {
	if c.inflight.Add(-1) == 0 && c.retired.Load() {
		c.closeIdle()
	}
}

// retire is called once the client is no longer any queue's: its idle
// connections are closed now, or when its last request in flight (a send
// that started before the queue was handed a new client) ends.
func (c *endpointClient) retire() {
	c.retired.Store(true)
	if c.inflight.Load() == 0 {
		c.closeIdle()
	}
}

func (c *endpointClient) closeIdle() {
	if ci, ok := c.transport.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// scrubbedError is a Store error with the endpoint's secrets replaced in
// its message; Unwrap keeps Prometheus' RecoverableError (and a context's
// cancellation) visible to the queue's retry decision (queue.Config.Classify).
type scrubbedError struct {
	msg    string
	err    error
	status int // the HTTP status, 0 if none
	// retryAfter is the endpoint's Retry-After, capped (0: none).
	retryAfter time.Duration
}

// retryAfterOf is the Retry-After a Store error carries (0 if none).
func retryAfterOf(err error) time.Duration {
	var se *scrubbedError
	if errors.As(err, &se) {
		return se.retryAfter
	}
	return 0
}

// statusOf is the HTTP status a Store error carries (0 if none).
func statusOf(err error) int {
	var se *scrubbedError
	if errors.As(err, &se) {
		return se.status
	}
	return 0
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// headerRoundTripper sets the endpoint's custom headers before signing.
type headerRoundTripper struct {
	headers map[string]value.Secret
	next    http.RoundTripper
}

func (h *headerRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range h.headers {
		req.Header.Set(k, string(v))
	}
	return h.next.RoundTrip(req)
}

// observer sees every request's outcome: it counts requests for debug
// info, describes failures for health (with SigV4, naming AWS's error code
// and its usual cause) and adjusts the answers Prometheus' client decides
// retries from:
//
//   - A 401 or 403, with retry_on_http_auth_error (the default), is handed
//     to the client as a 503 with its status line unchanged, so that the
//     queue retries it with backoff; the client prints the status
//     line, so logs still say "403 Forbidden". Prometheus' client retries
//     exactly 5xx (and 429 with retry_on_http_429) and has no option for
//     401/403, and its RecoverableError cannot be built outside its
//     package: this leans on nothing but that documented rule.
//   - Retry-After on an answer that will be retried is capped at
//     max_backoff (rounded up to whole seconds), so that a broken or
//     hostile server cannot stall the queue: Prometheus waits as long as
//     the header says.
type observer struct {
	next       http.RoundTripper
	c          *endpointClient
	retry429   bool
	retryAuth  bool
	maxBackoff time.Duration
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	at, _ := req.Context().Value(attemptKey{}).(*attempt)
	if at == nil {
		at = &attempt{}
	}
	resp, err := o.next.RoundTrip(req)
	switch {
	case err != nil:
		at.status = 0
		if errors.Is(err, context.Canceled) {
			return resp, err // shutting down, not a failure of the endpoint
		}
		at.msg = fmt.Sprintf("sending to %s: %v", o.c.url, err)
		o.c.st.request(false)
	case resp.StatusCode/100 == 2:
		at.status, at.msg = resp.StatusCode, ""
		o.c.st.request(true)
	default:
		at.status, at.msg = resp.StatusCode, o.describe(resp)
		o.c.st.request(false)
		at.retryAfter = o.adjust(resp)
	}
	return resp, err
}

// retried reports whether Prometheus' client retries a status, once
// adjusted.
func (o *observer) retried(status int) bool {
	switch {
	case status/100 == 5:
		return true
	case status == http.StatusTooManyRequests:
		return o.retry429
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return o.retryAuth
	}
	return false
}

// adjust returns the (capped) Retry-After of an answer that is retried.
func (o *observer) adjust(resp *http.Response) time.Duration {
	if !o.retried(resp.StatusCode) {
		return 0
	}
	var wait time.Duration
	if ra := httpclient.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ra > 0 {
		ra = min(ra, max(o.maxBackoff, time.Second))
		secs := int64((ra + time.Second - 1) / time.Second)
		resp.Header.Set("Retry-After", strconv.FormatInt(secs, 10))
		wait = time.Duration(secs) * time.Second
	} else {
		resp.Header.Del("Retry-After")
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		resp.StatusCode = http.StatusServiceUnavailable
	}
	return wait
}

// describe turns a failed response into a message, reading at most 1 KiB of
// its body and leaving the body intact for Prometheus' client.
func (o *observer) describe(resp *http.Response) string {
	peek, _ := httpclient.PeekBody(resp, 1<<10)
	msg := strings.TrimSpace(string(peek))
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if o.c.signer != nil {
		if e := aws.ExplainResponse(resp, peek); e != nil {
			return o.c.scrub(e.Error())
		}
	}
	var out string
	if msg == "" {
		out = fmt.Sprintf("%s answered %s", o.c.url, resp.Status)
	} else {
		out = fmt.Sprintf("%s answered %s: %s", o.c.url, resp.Status, msg)
	}
	if o.c.signer != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		// No AWS error code to explain: name the usual causes anyway.
		out += " (" + aws.AuthErrorHint + ")"
	}
	return o.c.scrub(out)
}
