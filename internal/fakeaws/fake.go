package fakeaws

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a fake AWS. The zero value is usable.
type Options struct {
	// Region is the region the fake serves and checks signatures for
	// (default us-east-1).
	Region string
	// Account is the 12-digit account ID (default 123456789012).
	Account string
	// CredentialLifetime is how long issued temporary credentials (STS,
	// IMDS, container endpoint) last, whatever the client asked for
	// (default 1h). Tests set it to seconds to see many rotations.
	CredentialLifetime time.Duration
	// StaleGrace is how long after a newer set was issued the superseded
	// set may still be used before a request counts as stale (default 1s):
	// it covers the time a new set takes to reach every user.
	StaleGrace time.Duration
	// MaxSkew is the largest accepted difference between X-Amz-Date and
	// the fake's clock (default 5m, as STS).
	MaxSkew time.Duration
	// EC2PageSize is how many instances DescribeInstances returns per page
	// when the request has no MaxResults (default 3). Real EC2 returns all
	// of them; the fake paginates so that NextToken handling is exercised.
	EC2PageSize int
	// Now is the fake's clock (default time.Now).
	Now func() time.Time
	// ExpirationSkew sets AWS's clock this far behind Now: a host clock
	// ahead of AWS's. Everything the fake does follows its own clock, as
	// AWS would: issued credentials (STS, IMDS, container endpoint) expire
	// ExpirationSkew earlier than the host expects, signatures are checked
	// against it (the SDK corrects its signing time from the Date header
	// after one RequestTimeTooSkewed, as against real AWS), and every
	// response's Date header says it. Set above the credential lifetime to
	// issue credentials that have already expired by the host's clock.
	// SetExpirationSkew changes it at run time.
	ExpirationSkew time.Duration
}

func (o *Options) setDefaults() {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Account == "" {
		o.Account = "123456789012"
	}
	if o.CredentialLifetime <= 0 {
		o.CredentialLifetime = time.Hour
	}
	if o.StaleGrace <= 0 {
		o.StaleGrace = time.Second
	}
	if o.MaxSkew <= 0 {
		o.MaxSkew = 5 * time.Minute
	}
	if o.EC2PageSize <= 0 {
		o.EC2PageSize = 3
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Role is an IAM role that STS lets callers assume.
type Role struct {
	ARN string
	// ExternalID, when set, must be given in AssumeRole.
	ExternalID string
	// TrustedPrincipals, when set, lists the caller ARNs allowed to assume
	// the role (the trust policy); empty trusts every known caller.
	TrustedPrincipals []string
	// Deny lists actions the role's sessions may not call
	// ("ec2:DescribeInstances", or "*").
	Deny []string
	// Lifetime overrides Options.CredentialLifetime for this role.
	Lifetime time.Duration
}

// AWS is a fake AWS: STS, EC2, IMDSv2 and an ECS container credentials
// endpoint on loopback httptest servers, sharing one key store.
type AWS struct {
	opts  Options
	store *store

	STS  *httptest.Server
	EC2  *httptest.Server
	IMDS *httptest.Server
	ECS  *httptest.Server

	reqID atomic.Int64
	skew  atomic.Int64 // ExpirationSkew, in nanoseconds

	mu         sync.Mutex
	roles      map[string]*Role
	webTokens  map[string]string // token → role ARN
	instances  []Instance
	zones      []AvailabilityZone
	imdsRole   string
	imdsKey    *Key
	imdsTokens map[string]time.Time
	imdsRegion string
	ecsToken   string
	ecsKey     *Key
	ecsRole    string
	failures   map[string][]*Error // action → errors to return next
	users      map[string]*Key     // user name → key
	ec2Calls   []EC2Call
	userAgents map[string][]string // server → User-Agent of each request
}

// Start starts a fake AWS, each server on a random loopback port. Call
// Close when done.
func Start(opts Options) *AWS {
	f, _ := StartOn(opts, nil) // without listen, nothing can fail
	return f
}

// StartOn is Start with chosen listeners: listen returns the listener of
// each server ("sts", "ec2", "imds", "ecs"), as the standalone process
// does for fixed ports. A nil listen uses random loopback ports.
func StartOn(opts Options, listen func(server string) (net.Listener, error)) (*AWS, error) {
	opts.setDefaults()
	f := &AWS{
		opts:       opts,
		roles:      map[string]*Role{},
		webTokens:  map[string]string{},
		imdsTokens: map[string]time.Time{},
		imdsRegion: opts.Region,
		failures:   map[string][]*Error{},
		users:      map[string]*Key{},
		ecsToken:   "fake-ecs-token-" + randomID(8),
		userAgents: map[string][]string{},
	}
	f.skew.Store(int64(opts.ExpirationSkew))
	f.store = newStore(f.now, opts.StaleGrace, opts.MaxSkew)
	f.zones = defaultZones(opts.Region)
	servers := []struct {
		name string
		dst  **httptest.Server
		h    http.HandlerFunc
	}{{"sts", &f.STS, f.serveSTS}, {"ec2", &f.EC2, f.serveEC2}, {"imds", &f.IMDS, f.serveIMDS}, {"ecs", &f.ECS, f.serveECS}}
	for i, s := range servers {
		srv := httptest.NewUnstartedServer(f.recordUserAgent(s.name, f.withDate(s.h)))
		if listen != nil {
			l, err := listen(s.name)
			if err != nil {
				for _, started := range servers[:i] {
					(*started.dst).Close()
				}
				return nil, fmt.Errorf("fakeaws: listening for %s: %w", s.name, err)
			}
			srv.Listener.Close()
			srv.Listener = l
		}
		srv.Start()
		*s.dst = srv
	}
	return f, nil
}

// now is AWS's clock: Options.Now less the ExpirationSkew.
func (f *AWS) now() time.Time {
	return f.opts.Now().Add(-time.Duration(f.skew.Load()))
}

// SetExpirationSkew changes Options.ExpirationSkew from the next request on.
func (f *AWS) SetExpirationSkew(d time.Duration) { f.skew.Store(int64(d)) }

// withDate makes a skewed fake's Date header follow its clock (an unskewed
// one leaves the header to net/http).
func (f *AWS) withDate(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if f.skew.Load() != 0 {
			w.Header().Set("Date", f.now().UTC().Format(http.TimeFormat))
		}
		h(w, r)
	}
}

// maxUserAgents bounds the User-Agents kept per server.
const maxUserAgents = 1000

// recordUserAgent keeps the User-Agent of each request to server.
func (f *AWS) recordUserAgent(server string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		if len(f.userAgents[server]) < maxUserAgents {
			f.userAgents[server] = append(f.userAgents[server], r.Header.Get("User-Agent"))
		}
		f.mu.Unlock()
		h(w, r)
	}
}

// UserAgents returns the User-Agent header of every request server ("sts",
// "ec2", "imds", "ecs") received, in order (the first 1000).
func (f *AWS) UserAgents(server string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.userAgents[server]...)
}

// Close stops every server.
func (f *AWS) Close() {
	f.STS.Close()
	f.EC2.Close()
	f.IMDS.Close()
	f.ECS.Close()
}

// Region is the region the fake serves.
func (f *AWS) Region() string { return f.opts.Region }

// Account is the fake's account ID.
func (f *AWS) Account() string { return f.opts.Account }

// Stats returns a snapshot of the counters.
func (f *AWS) Stats() Stats { return f.store.snapshot() }

// AddUser creates an IAM user with long-term keys (AKIA…) and returns them.
// deny lists actions the user may not call.
func (f *AWS) AddUser(name string, deny ...string) *Key {
	k := &Key{
		AccessKeyID:     "AKIA" + randomID(16),
		SecretAccessKey: randomSecret(40),
		Principal:       "arn:aws:iam::" + f.opts.Account + ":user/" + name,
		Account:         f.opts.Account,
		Deny:            deny,
	}
	f.store.add(k)
	f.mu.Lock()
	f.users[name] = k
	f.mu.Unlock()
	return k
}

// AddKey registers a long-term key with chosen values (for the standalone
// process, whose users pick their own, and for tests of unknown keys).
func (f *AWS) AddKey(accessKeyID, secret, principal string) *Key {
	return f.store.add(&Key{
		AccessKeyID:     accessKeyID,
		SecretAccessKey: secret,
		Principal:       principal,
		Account:         f.opts.Account,
	})
}

// Issue creates temporary credentials for principal directly (as if from
// STS), lasting lifetime (or Options.CredentialLifetime when zero).
func (f *AWS) Issue(principal string, lifetime time.Duration) *Key {
	if lifetime <= 0 {
		lifetime = f.opts.CredentialLifetime
	}
	return f.store.issue(principal, f.opts.Account, "", lifetime, nil)
}

// AddRole lets STS callers assume r.
func (f *AWS) AddRole(r Role) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rc := r
	f.roles[r.ARN] = &rc
}

// RoleARN builds a role ARN in the fake's account.
func (f *AWS) RoleARN(name string) string {
	return "arn:aws:iam::" + f.opts.Account + ":role/" + name
}

// AddWebIdentityToken makes token valid for AssumeRoleWithWebIdentity on roleARN.
func (f *AWS) AddWebIdentityToken(token, roleARN string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.webTokens[token] = roleARN
}

// SetInstanceProfile attaches a role (by name) to the fake instance, served
// by IMDS; "" detaches it (IMDS then answers 404, as on an instance
// without a role).
func (f *AWS) SetInstanceProfile(roleName string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imdsRole = roleName
	f.imdsKey = nil
}

// SetIMDSRegion changes the region IMDS reports ("" makes the region
// documents fail with 404).
func (f *AWS) SetIMDSRegion(region string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imdsRegion = region
}

// SetContainerRole makes the ECS container endpoint serve credentials for
// roleName ("" makes it fail).
func (f *AWS) SetContainerRole(roleName string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ecsRole = roleName
	f.ecsKey = nil
}

// FailNext makes the next n calls of action ("sts:AssumeRole",
// "ec2:DescribeInstances", …) fail with e after their signature is checked.
func (f *AWS) FailNext(action string, n int, e Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i < n; i++ {
		ec := e
		f.failures[action] = append(f.failures[action], &ec)
	}
}

// ClearFailures drops every failure queued by FailNext.
func (f *AWS) ClearFailures() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = map[string][]*Error{}
}

func (f *AWS) injectedFailure(action string) *Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.failures[action]
	if len(q) == 0 {
		return nil
	}
	f.failures[action] = q[1:]
	return q[0]
}

func (f *AWS) nextRequestID() string {
	return fmt.Sprintf("fake-%08d-%s", f.reqID.Add(1), strings.ToLower(randomID(8)))
}

// Env returns the environment variables that point the AWS SDK (and
// anything using it) at this fake: service endpoints, IMDS, region. It
// holds no credentials; add AWS_ACCESS_KEY_ID etc. as needed.
func (f *AWS) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_STS":              f.STS.URL,
		"AWS_ENDPOINT_URL_EC2":              f.EC2.URL,
		"AWS_EC2_METADATA_SERVICE_ENDPOINT": f.IMDS.URL,
		"AWS_REGION":                        f.opts.Region,
	}
}

// ContainerEnv returns the variables that make the SDK fetch credentials
// from the fake ECS container endpoint.
func (f *AWS) ContainerEnv() map[string]string {
	return map[string]string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": f.ECS.URL + "/v2/credentials",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN":  f.ecsToken,
	}
}

// EnvList renders Env (plus extra) as sorted "KEY=value" lines.
func EnvList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// requestForm merges the query string and a form-encoded body.
func requestForm(r *http.Request, body []byte) (url.Values, error) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		bv, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		for k, v := range bv {
			vals[k] = append(vals[k], v...)
		}
	}
	return vals, nil
}

// queryRequest does what EC2 and STS (both Query APIs) check before an
// action: the SigV4 signature for service, the form (query string and
// body), a failure queued for "service:Action", and the key's denials, for
// which denied builds the service's own error. It returns false once fail
// has answered.
func (f *AWS) queryRequest(r *http.Request, service string, fail func(*Error), denied func(k *Key, action string) *Error) (*verified, url.Values, string, bool) {
	ver, e := f.store.verify(r, service, f.opts.Region, false)
	if e != nil {
		fail(e)
		return nil, nil, "", false
	}
	form, err := requestForm(r, ver.body)
	if err != nil {
		fail(&Error{Status: 400, Code: "MalformedQueryString", Message: err.Error()})
		return nil, nil, "", false
	}
	action := form.Get("Action")
	if inj := f.injectedFailure(service + ":" + action); inj != nil {
		fail(inj)
		return nil, nil, "", false
	}
	if ver.key.denies(service + ":" + action) {
		fail(denied(ver.key, action))
		return nil, nil, "", false
	}
	return ver, form, action, true
}

func iso8601(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
