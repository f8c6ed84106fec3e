package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/flow-telemetry/flow/internal/backoff"
)

// Credentials that cannot be used are a failure, not a reason to fetch again
// at once. A host clock ahead of AWS's makes STS (or IMDS, or the container
// endpoint) return credentials whose Expiration is already past by the
// local clock; taken at face value, every refresh loop would fetch again
// immediately, forever. These bounds apply to every refresh flow does on its
// own: aws.credentials, and the credentials that aws_sigv4 blocks and
// discovery.aws.ec2 resolve themselves (through LoadConfig's RefreshGuard).
const (
	// MinUsableLifetime is the least time credentials must have left when
	// they arrive: less (or already expired) is a failure.
	MinUsableLifetime = time.Second
	// MinRefreshInterval is the floor between two fetches of credentials.
	MinRefreshInterval = time.Second
	// RefreshBackoffMin and RefreshBackoffMax bound the wait after a failed
	// fetch: RefreshBackoffMin after the first failure, doubling with each
	// further one, up to RefreshBackoffMax.
	RefreshBackoffMin = time.Second
	RefreshBackoffMax = time.Minute
)

// RefreshBackoff is the wait before the next fetch after failures (1, 2, …)
// failed fetches in a row: 1s, 2s, 4s, … up to 1 minute.
func RefreshBackoff(failures int) time.Duration {
	if failures < 1 {
		return MinRefreshInterval
	}
	return backoff.Exponential(RefreshBackoffMin, RefreshBackoffMax, failures)
}

// ServerClock remembers the Date header of the last response from the AWS
// endpoints a config talks to (STS, IMDS, the container endpoint), and the
// local time it arrived, so a credentials failure can say how far the
// host's clock is from AWS's. The zero value is ready to use.
type ServerClock struct {
	mu    sync.Mutex
	date  time.Time
	local time.Time
}

// Observe records a response's Date header value (date) received at local.
func (c *ServerClock) Observe(date, local time.Time) {
	c.mu.Lock()
	c.date, c.local = date, local
	c.mu.Unlock()
}

// Offset returns AWS's clock minus the local clock at the last response
// (negative: the host is ahead), with that response's Date. ok is false if
// no response carried a Date header.
func (c *ServerClock) Offset() (offset time.Duration, date time.Time, ok bool) {
	if c == nil {
		return 0, time.Time{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.date.IsZero() {
		return 0, time.Time{}, false
	}
	return c.date.Sub(c.local), c.date, true
}

// apiOption adds a middleware recording every response's Date header to
// every SDK client made from the config (STS clients included).
func (c *ServerClock) apiOption() func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Deserialize.Add(middleware.DeserializeMiddlewareFunc("FlowServerClock",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleDeserialize(ctx, in)
				if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp.Response != nil {
					if d, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
						c.Observe(d, time.Now())
					}
				}
				return out, md, err
			}), middleware.After)
	}
}

// LifetimeError reports credentials that arrived with less than
// MinUsableLifetime left. Its message names the clock skew.
type LifetimeError struct {
	// Source is the SDK provider that returned them.
	Source string
	// Expires is their expiration; Now the local time they were checked at.
	Expires, Now time.Time
	// ServerDate is the Date header of the last AWS response and Offset
	// AWS's clock minus the local clock then (negative: the host is ahead);
	// HasServerDate is false if no response carried one.
	ServerDate    time.Time
	Offset        time.Duration
	HasServerDate bool
}

func (e *LifetimeError) Error() string {
	left := e.Expires.Sub(e.Now)
	src := "the credential provider"
	if e.Source != "" {
		src = e.Source
	}
	var what string
	if left <= 0 {
		what = fmt.Sprintf("%s returned credentials that have already expired: they expire at %s, %s before the local clock (%s)",
			src, fmtTime(e.Expires), roundDur(-left), fmtTime(e.Now))
	} else {
		what = fmt.Sprintf("%s returned credentials with no usable lifetime: they expire at %s, %s after the local clock (%s), under the %s minimum",
			src, fmtTime(e.Expires), roundDur(left), fmtTime(e.Now), MinUsableLifetime)
	}
	var skew string
	switch {
	case !e.HasServerDate:
		skew = "clock skew: no AWS response carried a Date header to compare clocks with; a host clock ahead of AWS's is the usual cause, check time synchronisation (NTP/chrony)"
	case e.Offset < -2*time.Second:
		skew = fmt.Sprintf("clock skew: this host's clock is %s ahead of AWS's (the Date header of AWS's last response said %s): fix time synchronisation (NTP/chrony); until then AWS issues credentials that look expired here",
			roundDur(-e.Offset), fmtTime(e.ServerDate))
	case e.Offset > 2*time.Second:
		skew = fmt.Sprintf("clock skew: this host's clock is %s behind AWS's (the Date header of AWS's last response said %s), so the source itself issued expired credentials; also fix time synchronisation (NTP/chrony)",
			roundDur(e.Offset), fmtTime(e.ServerDate))
	default:
		skew = fmt.Sprintf("no clock skew: this host's clock agrees with AWS's within 2s (the Date header of AWS's last response said %s), so the source itself issued expired credentials (for instance stale instance-profile credentials)",
			fmtTime(e.ServerDate))
	}
	return what + "; " + skew
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func roundDur(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

// CheckLifetime returns a *LifetimeError if creds expire less than
// MinUsableLifetime after now (or have expired), and nil for credentials
// that do not expire or have time left. clock (may be nil) tells how far the
// local clock is from AWS's, for the message.
func CheckLifetime(creds awssdk.Credentials, now time.Time, clock *ServerClock) error {
	if !creds.CanExpire || creds.Expires.Sub(now) >= MinUsableLifetime {
		return nil
	}
	e := &LifetimeError{Source: creds.Source, Expires: creds.Expires, Now: now}
	e.Offset, e.ServerDate, e.HasServerDate = clock.Offset()
	return e
}

// RefreshGuard wraps a credentials provider (usually the SDK's
// aws.CredentialsCache) so that fetching credentials is never a hot loop:
//
//   - credentials with less than MinUsableLifetime left are an error
//     (CheckLifetime), not cached;
//   - after a failed fetch, callers get the same error at once, without a
//     new fetch, until the backoff (RefreshBackoff: 1s doubling to 1m) ends;
//   - two fetches are at least MinRefreshInterval apart.
//
// Every request signed with aws_sigv4 and every EC2 call of
// discovery.aws.ec2 retrieves credentials through it: without it, expired
// credentials from STS cost one STS call per request.
type RefreshGuard struct {
	inner awssdk.CredentialsProvider
	clock *ServerClock
	now   func() time.Time

	sem   chan struct{} // held while fetching
	state atomic.Pointer[guardState]
	// fetches counts calls to the inner provider (tests).
	fetches atomic.Int64
}

type guardState struct {
	creds    awssdk.Credentials
	have     bool
	err      error
	failures int
	// notBefore is the earliest time of the next fetch.
	notBefore time.Time
}

// NewRefreshGuard wraps inner. clock may be nil.
func NewRefreshGuard(inner awssdk.CredentialsProvider, clock *ServerClock) *RefreshGuard {
	g := &RefreshGuard{inner: inner, clock: clock, now: time.Now, sem: make(chan struct{}, 1)}
	g.state.Store(&guardState{})
	return g
}

// Fetches is how many times the inner provider was asked.
func (g *RefreshGuard) Fetches() int64 { return g.fetches.Load() }

// Retrieve returns usable credentials, fetching them when needed and
// allowed.
func (g *RefreshGuard) Retrieve(ctx context.Context) (awssdk.Credentials, error) {
	if c, err, ok := g.cached(); ok {
		return c, err
	}
	select {
	case g.sem <- struct{}{}:
	case <-ctx.Done():
		return awssdk.Credentials{}, ctx.Err()
	}
	defer func() { <-g.sem }()
	// Another caller may have fetched meanwhile.
	if c, err, ok := g.cached(); ok {
		return c, err
	}
	prev := g.state.Load()
	g.fetches.Add(1)
	creds, err := g.inner.Retrieve(ctx)
	now := g.now()
	if err == nil {
		err = CheckLifetime(creds, now, g.clock)
	}
	if err != nil && ctx.Err() != nil {
		// The caller gave up: not a failure of the source.
		return awssdk.Credentials{}, err
	}
	next := &guardState{notBefore: now.Add(MinRefreshInterval)}
	if err != nil {
		next.failures = prev.failures + 1
		next.notBefore = now.Add(RefreshBackoff(next.failures))
		next.err = err
		g.state.Store(next)
		return awssdk.Credentials{}, err
	}
	next.creds, next.have = creds, true
	g.state.Store(next)
	return creds, nil
}

// cached answers without fetching when the last credentials are still good,
// or when a fetch is not allowed yet (the last error then).
func (g *RefreshGuard) cached() (awssdk.Credentials, error, bool) {
	st := g.state.Load()
	now := g.now()
	if st.have && (!st.creds.CanExpire || now.Before(st.creds.Expires)) {
		return st.creds, nil, true
	}
	if now.Before(st.notBefore) && st.err != nil {
		return awssdk.Credentials{}, &guardError{err: st.err, retry: st.notBefore.Sub(now)}, true
	}
	if now.Before(st.notBefore) {
		// Good credentials fetched under MinRefreshInterval ago have
		// expired already: only possible with a clock jump. Wait.
		return awssdk.Credentials{}, &guardError{err: errors.New("the last credentials expired within a second of their fetch"), retry: st.notBefore.Sub(now)}, true
	}
	return awssdk.Credentials{}, nil, false
}

// Invalidate drops the credentials kept, so the next Retrieve fetches
// (still no sooner than the backoff or MinRefreshInterval allow). It
// invalidates the inner provider too when it is a cache.
func (g *RefreshGuard) Invalidate() {
	for {
		st := g.state.Load()
		next := *st
		next.have, next.creds = false, awssdk.Credentials{}
		if g.state.CompareAndSwap(st, &next) {
			break
		}
	}
	if inv, ok := g.inner.(interface{ Invalidate() }); ok {
		inv.Invalidate()
	}
}

// guardError is the last fetch's error, answered again during the backoff.
type guardError struct {
	err   error
	retry time.Duration
}

func (e *guardError) Error() string {
	return fmt.Sprintf("%v (next attempt to get credentials in %s)", e.err, roundDur(e.retry))
}

func (e *guardError) Unwrap() error { return e.err }
