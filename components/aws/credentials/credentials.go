// Package credentials is the aws.credentials component: it obtains AWS
// credentials once (the SDK default chain, static keys, or an assumed
// role), exports them for other components (aws_sigv4 credentials blocks,
// discovery.aws.ec2), and refreshes them ahead of expiry so that every
// dependant is re-evaluated with the new ones.
//
// Alloy has no such component (every AWS-facing component there resolves
// its own credentials); flow adds it so short-lived credentials are fetched
// once, shown once, and rotate visibly in the graph.
package credentials

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	commonaws "github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

func init() {
	component.Register(component.Registration{
		Name:    "aws.credentials",
		Args:    Arguments{},
		Exports: Exports{},
		Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
			return New(opts, args.(Arguments))
		},
	})
}

// Arguments configure where credentials come from. All are optional.
type Arguments struct {
	Region               string        `river:"region,attr,optional"`
	Profile              string        `river:"profile,attr,optional"`
	RoleARN              string        `river:"role_arn,attr,optional"`
	ExternalID           string        `river:"external_id,attr,optional"`
	SessionName          string        `river:"session_name,attr,optional"`
	SessionDuration      time.Duration `river:"session_duration,attr,optional"`
	WebIdentityTokenFile string        `river:"web_identity_token_file,attr,optional"`
	AccessKeyID          string        `river:"access_key_id,attr,optional"`
	SecretAccessKey      value.Secret  `river:"secret_access_key,attr,optional"`
	STSEndpoint          string        `river:"sts_endpoint,attr,optional"`
	RefreshBefore        time.Duration `river:"refresh_before,attr,optional"`
}

// SetToDefault sets session_duration to 1h and refresh_before to 5m.
func (a *Arguments) SetToDefault() {
	*a = Arguments{SessionDuration: commonaws.DefaultSessionDuration, RefreshBefore: 5 * time.Minute}
}

// Validate checks the arguments without calling AWS.
func (a *Arguments) Validate() error {
	if a.RoleARN != "" && (a.SessionDuration < 15*time.Minute || a.SessionDuration > 12*time.Hour) {
		return fmt.Errorf("session_duration %s is outside what STS allows (15m to 12h, and at most the role's maximum session duration)", a.SessionDuration)
	}
	if a.RefreshBefore <= 0 {
		return errors.New("refresh_before must be positive")
	}
	ca := a.credentialsArgs()
	return ca.Validate()
}

func (a *Arguments) credentialsArgs() commonaws.CredentialsArgs {
	return commonaws.CredentialsArgs{
		Region:                   a.Region,
		Profile:                  a.Profile,
		RoleARN:                  a.RoleARN,
		ExternalID:               a.ExternalID,
		SessionName:              a.SessionName,
		SessionDuration:          a.SessionDuration,
		WebIdentityTokenFile:     a.WebIdentityTokenFile,
		AccessKeyID:              a.AccessKeyID,
		SecretAccessKey:          a.SecretAccessKey,
		STSEndpoint:              a.STSEndpoint,
		NoCredentialsCacheWindow: true,
	}
}

// Exports are the current credentials.
type Exports struct {
	AccessKeyID     string       `river:"access_key_id,attr"`
	SecretAccessKey value.Secret `river:"secret_access_key,attr"`
	// Token is the session token; empty for long-term keys.
	Token value.Secret `river:"token,attr"`
	// Expiration is RFC 3339, empty for credentials that do not expire.
	Expiration string `river:"expiration,attr"`
	Region     string `river:"region,attr"`
	// Source names the SDK provider that answered (EnvConfigCredentials,
	// SharedConfigCredentials: <file>, EC2RoleProvider, AssumeRoleProvider,
	// WebIdentityCredentials, CredentialsEndpointProvider, StaticCredentials).
	Source string `river:"source,attr"`
}

// DebugInfo is shown in the API and UI. It holds no secret.
type DebugInfo struct {
	Source              string `river:"source,attr"`
	AccessKeyID         string `river:"access_key_id,attr"`
	Expiration          string `river:"expiration,attr"`
	NextRefresh         string `river:"next_refresh,attr"`
	LastRefresh         string `river:"last_refresh,attr"`
	RefreshCount        int    `river:"refresh_count,attr"`
	ConsecutiveFailures int    `river:"consecutive_failures,attr"`
	LastError           string `river:"last_error,attr"`
}

const (
	// firstFetchTimeout bounds the synchronous fetch in Build.
	firstFetchTimeout = 15 * time.Second
	// fetchTimeout bounds each refresh.
	fetchTimeout = 30 * time.Second
	// maxBackoff caps the wait after failures: commonaws.RefreshBackoff
	// doubles from 1s to this.
	maxBackoff = commonaws.RefreshBackoffMax
)

// Component is a running aws.credentials.
type Component struct {
	opts component.Options
	kick chan struct{}
	// clock records the Date header of every AWS response, for the
	// clock-skew message of credentials that arrive expired.
	clock *commonaws.ServerClock
	// lastFetch is when the last refresh started (Run's goroutine only).
	lastFetch time.Time

	mu       sync.Mutex
	args     Arguments
	cfg      awssdk.Config
	gen      int // bumped by Update, so a refresh of an old config is discarded
	creds    awssdk.Credentials
	have     bool // creds holds the last good credentials
	region   string
	exports  Exports
	health   component.Health
	next     time.Time
	lastOK   time.Time
	count    int
	failures int
	lastErr  string
	now      func() time.Time
	// maxBackoff caps the retry delay (tests shorten it).
	maxBackoff time.Duration
}

var (
	_ component.HealthComponent = (*Component)(nil)
	_ component.DebugComponent  = (*Component)(nil)
)

// New builds the component and fetches the first credentials
// synchronously, so dependants start with them. If that fails the
// component is still built, exports empty credentials, reports unhealthy
// and keeps retrying.
func New(opts component.Options, args Arguments) (*Component, error) {
	c := &Component{opts: opts, kick: make(chan struct{}, 1), clock: &commonaws.ServerClock{}, now: time.Now, maxBackoff: maxBackoff}
	cfg, err := c.load(args)
	if err != nil {
		return nil, err
	}
	c.args, c.cfg = args, cfg
	c.region = firstNonEmpty(args.Region, cfg.Region)
	ctx, cancel := context.WithTimeout(context.Background(), firstFetchTimeout)
	defer cancel()
	c.lastFetch = time.Now()
	c.refresh(ctx)
	return c, nil
}

func (c *Component) load(args Arguments) (awssdk.Config, error) {
	ca := args.credentialsArgs()
	ca.Logger = c.opts.Logger
	// This component paces its own fetches and checks lifetimes itself.
	ca.NoRefreshGuard = true
	ca.Clock = c.clock
	if ca.SessionName == "" {
		ca.SessionName = sessionName(c.opts.ID)
	}
	cfg, err := commonaws.LoadConfig(context.Background(), ca)
	if err != nil {
		return awssdk.Config{}, fmt.Errorf("aws.credentials: %w", err)
	}
	return cfg, nil
}

// sessionName derives a stable role session name from the component ID,
// so CloudTrail shows which flow component assumed the role.
func sessionName(id string) string {
	var b strings.Builder
	b.WriteString("flow-")
	for _, r := range id {
		if r < 128 && (r == '_' || r == '-' || r == '.' || r == '@' || r == '=' || r == ',' || r == '+' ||
			('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	s := b.String()
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// Run refreshes the credentials ahead of expiry, and retries with backoff
// after failures, until ctx is cancelled. Two refreshes are never closer
// than commonaws.MinRefreshInterval (1s), whatever asked for them (a
// schedule, a failure, an Update).
func (c *Component) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.mu.Lock()
		next := c.next
		c.mu.Unlock()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		var tc <-chan time.Time // nil: nothing scheduled (credentials that never expire)
		if !next.IsZero() {
			timer.Reset(max(next.Sub(c.now()), 0))
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
		case <-tc:
		}
		if wait := time.Until(c.lastFetch.Add(commonaws.MinRefreshInterval)); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
		c.lastFetch = time.Now()
		fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		c.refresh(fctx)
		cancel()
	}
}

// Update applies new arguments: the next refresh happens at once with them.
func (c *Component) Update(args component.Arguments) error {
	a := args.(Arguments)
	cfg, err := c.load(a)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.args, c.cfg = a, cfg
	c.gen++
	c.region = firstNonEmpty(a.Region, cfg.Region)
	c.failures = 0
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

// refresh fetches new credentials and publishes them, or records the
// failure and schedules a retry.
func (c *Component) refresh(ctx context.Context) {
	c.mu.Lock()
	cfg, gen, args := c.cfg, c.gen, c.args
	prev := c.creds
	c.mu.Unlock()

	// Our own schedule decides when to refresh: drop what the SDK cached.
	if cache, ok := cfg.Credentials.(*awssdk.CredentialsCache); ok {
		cache.Invalidate()
	}
	var creds awssdk.Credentials
	err := errors.New("no credentials provider")
	if cfg.Credentials != nil {
		creds, err = cfg.Credentials.Retrieve(ctx)
	}
	if err == nil && !creds.HasKeys() {
		err = errors.New("the credentials provider returned empty credentials")
	}
	if err == nil {
		// Expired on arrival (a host clock ahead of AWS's) is a failure:
		// refreshing at once would return the same, forever.
		err = commonaws.CheckLifetime(creds, c.now(), c.clock)
	}

	region := ""
	if err == nil && firstNonEmpty(args.Region, cfg.Region) == "" && strings.HasPrefix(creds.Source, "EC2RoleProvider") {
		// On EC2 without a configured region, the instance's region is the useful default.
		if r, rerr := commonaws.ResolveRegion(ctx, cfg, 2*time.Second); rerr == nil {
			region = r
		}
	}

	// Exports are published after the lock is released: OnStateChange may
	// call back into the component (health, debug info).
	c.mu.Lock()
	var pub *Exports
	defer func() {
		c.mu.Unlock()
		if pub != nil && c.opts.OnStateChange != nil {
			c.opts.OnStateChange(*pub)
		}
	}()
	if gen != c.gen {
		return // arguments changed meanwhile; the kick fetches again
	}
	now := c.now()
	if err != nil {
		pub = c.failed(now, err, prev)
		return
	}
	if region != "" {
		c.region = region
	}
	c.creds, c.have = creds, true
	c.count++
	c.failures = 0
	c.lastOK = now
	c.lastErr = ""
	c.exports = exportsOf(creds, c.region)
	c.next = time.Time{}
	msg := "credentials from " + creds.Source
	if creds.CanExpire {
		c.next = creds.Expires.Add(-refreshBefore(args.RefreshBefore, creds.Expires.Sub(now)))
		msg += ", expiring " + creds.Expires.UTC().Format(time.RFC3339)
	}
	c.health = component.Health{Health: component.HealthHealthy, Message: msg, UpdateTime: now}
	if c.opts.Logger != nil {
		c.opts.Logger.Info("obtained AWS credentials", "source", creds.Source,
			"expiration", c.exports.Expiration, "next_refresh", formatTime(c.next))
	}
	e := c.exports
	pub = &e
	if ld := c.opts.Live(); ld.Active() {
		// Never the key, secret or token: when, from where, until when.
		source, expiration, next, region := creds.Source, c.exports.Expiration, formatTime(c.next), c.region
		ld.Publish("credentials", component.LiveFunc(func() string {
			return fmt.Sprintf("refreshed at %s from %s; expiration %s; next refresh %s; region %s",
				now.UTC().Format(time.RFC3339), source, orNone(expiration), orNone(next), orNone(region))
		}))
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// refreshBefore clamps the configured lead time to half the lifetime, so
// short-lived credentials (a few seconds in tests, 15 minutes at least in
// AWS) still rotate before they expire instead of being refreshed at once
// and forever.
func refreshBefore(configured, lifetime time.Duration) time.Duration {
	if half := lifetime / 2; configured > half {
		return half
	}
	return configured
}

// failed records a failed refresh (c.mu held): unhealthy with the AWS code
// and hint, the last credentials kept until they expire, a retry after a
// jittered exponential backoff. It returns the exports to publish if they
// changed.
func (c *Component) failed(now time.Time, err error, prev awssdk.Credentials) *Exports {
	op := "aws.credentials: getting credentials"
	if c.args.RoleARN != "" {
		op = "aws.credentials: assuming role " + c.args.RoleARN
	}
	var e error
	var lifetime *commonaws.LifetimeError
	if errors.As(err, &lifetime) {
		e = fmt.Errorf("%s: %w", op, lifetime)
	} else {
		e = commonaws.ExplainError(op, err, prev.SecretAccessKey, prev.SessionToken, string(c.args.SecretAccessKey))
	}
	c.failures++
	c.lastErr = e.Error()
	if ld := c.opts.Live(); ld.Active() {
		// The message is the health message, which names no secret.
		msg := e.Error()
		ld.Publish("credentials", component.LiveFunc(func() string { return "refresh failed at " + now.UTC().Format(time.RFC3339) + ": " + msg }))
	}
	backoff := backoffFor(c.failures, c.maxBackoff)
	c.next = now.Add(backoff)

	msg := e.Error()
	var pub *Exports
	if c.have && c.creds.CanExpire && now.Before(c.creds.Expires) {
		msg += "; serving the previous credentials until they expire at " + c.creds.Expires.UTC().Format(time.RFC3339)
		// Retry before they run out if the backoff would overshoot.
		if c.next.After(c.creds.Expires) {
			c.next = now.Add(c.creds.Expires.Sub(now) / 2)
		}
	} else if c.have && c.creds.CanExpire {
		// Expired: stop handing out credentials AWS will refuse.
		c.have = false
		c.exports = Exports{Region: c.region, Source: c.creds.Source}
		pub = &Exports{Region: c.region, Source: c.creds.Source}
		msg += "; the previous credentials have expired"
	} else if !c.have && c.exports != (Exports{Region: c.region, Source: c.exports.Source}) {
		// Publish only a change: each publication re-evaluates every
		// dependant.
		c.exports = Exports{Region: c.region, Source: c.exports.Source}
		e := c.exports
		pub = &e
	}
	c.health = component.Health{Health: component.HealthUnhealthy, Message: msg, UpdateTime: now}
	if c.opts.Logger != nil {
		c.opts.Logger.Warn("failed to refresh AWS credentials", "err", e.Error(), "retry_in", backoff.String())
	}
	return pub
}

// backoffFor is the delay before retry number failures (1, 2, …):
// commonaws.RefreshBackoff (1s doubling) up to limit, shortened by up to a
// fifth at random so that many agents do not retry in step, and never under
// commonaws.MinRefreshInterval.
func backoffFor(failures int, limit time.Duration) time.Duration {
	d := min(commonaws.RefreshBackoff(failures), limit)
	return max(d-rand.N(d/5+1), commonaws.MinRefreshInterval)
}

func exportsOf(creds awssdk.Credentials, region string) Exports {
	e := Exports{
		AccessKeyID:     creds.AccessKeyID,
		SecretAccessKey: value.Secret(creds.SecretAccessKey),
		Token:           value.Secret(creds.SessionToken),
		Region:          region,
		Source:          creds.Source,
	}
	if creds.CanExpire {
		e.Expiration = creds.Expires.UTC().Format(time.RFC3339)
	}
	return e
}

// CurrentHealth reports the last refresh's outcome.
func (c *Component) CurrentHealth() component.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health
}

// DebugInfo reports the refresh state (no secrets).
func (c *Component) DebugInfo() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return DebugInfo{
		Source:              c.exports.Source,
		AccessKeyID:         c.exports.AccessKeyID,
		Expiration:          c.exports.Expiration,
		NextRefresh:         formatTime(c.next),
		LastRefresh:         formatTime(c.lastOK),
		RefreshCount:        c.count,
		ConsecutiveFailures: c.failures,
		LastError:           c.lastErr,
	}
}

// Exports returns the current exports (tests and diagnostics).
func (c *Component) Exports() Exports {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exports
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
