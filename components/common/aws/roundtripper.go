package aws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/flow-telemetry/flow/components/common/httpclient"
)

// Option configures a RoundTripper.
type Option func(*rtOptions)

type rtOptions struct {
	logger        *slog.Logger
	now           func() time.Time
	httpClient    *http.Client
	contentSHA256 *bool
}

// WithLogger makes the RoundTripper log rejected requests (with the AWS
// error code and its usual cause) and the SDK's own messages.
func WithLogger(l *slog.Logger) Option { return func(o *rtOptions) { o.logger = l } }

// WithClock sets the signing clock (tests).
func WithClock(now func() time.Time) Option { return func(o *rtOptions) { o.now = now } }

// WithCredentialsHTTPClient sets the HTTP client for STS, IMDS and
// container-endpoint calls made to get credentials.
func WithCredentialsHTTPClient(c *http.Client) Option { return func(o *rtOptions) { o.httpClient = c } }

// WithContentSHA256Header forces (or suppresses) the X-Amz-Content-Sha256
// header. By default it is sent only to services that require it (s3,
// s3-object-lambda, s3express, glacier).
func WithContentSHA256Header(on bool) Option { return func(o *rtOptions) { o.contentSHA256 = &on } }

// RoundTripper signs every request with SigV4 before passing it to the
// next RoundTripper. It is the one request signer of flow: remote_write,
// loki.write and every other HTTP client with an aws_sigv4 block use it.
//
// Each request gets X-Amz-Date, X-Amz-Security-Token (temporary
// credentials), X-Amz-Content-Sha256 (services that want it) and
// Authorization, with the body's SHA-256 as payload hash; the body is
// buffered if needed so it can be re-sent (GetBody). Update swaps the
// configuration atomically: requests from then on use the new credentials,
// requests in flight finish with the old ones, and the client and its
// queues are untouched.
type RoundTripper struct {
	next   http.RoundTripper
	signer *v4.Signer
	opts   rtOptions
	state  atomic.Pointer[rtState]

	lastErr atomic.Pointer[errBox]
	logMu   sync.Mutex
	logged  map[string]time.Time
}

type errBox struct{ err error }

// rtState is one configuration, replaced as a whole by Update.
type rtState struct {
	service    string
	region     string // "" until inferred
	cfg        awssdk.Config
	creds      awssdk.CredentialsProvider
	contentSHA bool
	s3Path     bool

	imdsOnce   sync.Once
	imdsRegion string
	imdsErr    error
}

// NewRoundTripper returns a signing RoundTripper for cfg in front of next
// (http.DefaultTransport if nil). It fails if cfg is invalid (service_name
// missing, keys incomplete) or the shared AWS config cannot be read; it does
// not call AWS.
func NewRoundTripper(cfg SigV4Config, next http.RoundTripper, opts ...Option) (*RoundTripper, error) {
	if next == nil {
		next = http.DefaultTransport
	}
	rt := &RoundTripper{next: next, signer: v4.NewSigner(), logged: map[string]time.Time{}}
	for _, o := range opts {
		o(&rt.opts)
	}
	if rt.opts.now == nil {
		rt.opts.now = time.Now
	}
	if err := rt.Update(cfg); err != nil {
		return nil, err
	}
	return rt, nil
}

// Update applies a new configuration (usually new credentials from an
// aws.credentials component) from the next request on. On error the old
// configuration stays in force.
func (rt *RoundTripper) Update(cfg SigV4Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	args := cfg.CredentialsArgs()
	args.HTTPClient = rt.opts.httpClient
	args.Logger = rt.opts.logger
	awsCfg, err := LoadConfig(context.Background(), args)
	if err != nil {
		return fmt.Errorf("aws_sigv4: %w", err)
	}
	service := strings.TrimSpace(cfg.ServiceName)
	st := &rtState{
		service: service,
		region:  awsCfg.Region,
		cfg:     awsCfg,
		creds:   awsCfg.Credentials,
		s3Path:  isS3(service),
	}
	st.contentSHA = st.s3Path || service == "glacier"
	if rt.opts.contentSHA256 != nil {
		st.contentSHA = *rt.opts.contentSHA256
	}
	if st.creds == nil {
		st.creds = awssdk.AnonymousCredentials{}
	}
	rt.state.Store(st)
	return nil
}

func isS3(service string) bool {
	return service == "s3" || service == "s3-object-lambda" || service == "s3express"
}

// LastError is the last AWS authentication error a response carried
// (explained), or nil. Components show it in their health or debug info.
func (rt *RoundTripper) LastError() error {
	if b := rt.lastErr.Load(); b != nil {
		return b.err
	}
	return nil
}

// RoundTrip signs a copy of req and sends it.
func (rt *RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	st := rt.state.Load()
	ctx := req.Context()

	body, err := hashBody(req)
	if err != nil {
		closeBody(req)
		return nil, fmt.Errorf("aws_sigv4: reading the request body to sign it: %w", err)
	}
	creds, err := st.creds.Retrieve(ctx)
	if err != nil {
		closeBody(req)
		return nil, ExplainError("aws_sigv4: getting AWS credentials to sign the request", err)
	}
	region, err := st.regionFor(req.URL.Host)
	if err != nil {
		closeBody(req)
		return nil, err
	}

	out := req.Clone(ctx)
	out.Body, out.GetBody, out.ContentLength = body.body, body.getBody, body.length
	payloadHash := body.hash
	// Headers the signer must not see from a previous attempt.
	out.Header.Del("Authorization")
	out.Header.Del("X-Amz-Date")
	out.Header.Del("X-Amz-Security-Token")
	if st.contentSHA {
		out.Header.Set("X-Amz-Content-Sha256", payloadHash)
	}
	wirePath := out.URL.EscapedPath()
	if out.URL.Opaque != "" {
		wirePath = opaquePath(out.URL.Opaque)
	}
	err = signRequest(ctx, rt.signer, out, wirePath, signParams{
		creds:       creds,
		service:     st.service,
		region:      region,
		time:        rt.opts.now(),
		payloadHash: payloadHash,
		s3Path:      st.s3Path,
	})
	if err != nil {
		closeBody(out)
		return nil, fmt.Errorf("aws_sigv4: signing the request: %w", err)
	}

	resp, err := rt.next.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == 400 || resp.StatusCode == 401 || resp.StatusCode == 403 {
		rt.inspect(resp, creds)
	}
	return resp, nil
}

// signedBody is a request body ready to send and re-send, and its hash.
type signedBody struct {
	body    io.ReadCloser
	getBody func() (io.ReadCloser, error)
	length  int64
	hash    string
}

// hashBody hashes the request body and makes sure it can be sent again
// (GetBody), as signing requires reading it before sending. A body that
// can already be rewound (GetBody, as http.NewRequest sets for bytes and
// strings readers) is hashed from a fresh copy and sent untouched: no
// buffering. Other bodies are read into memory once.
func hashBody(req *http.Request) (signedBody, error) {
	if req.Body == nil || req.Body == http.NoBody || (req.ContentLength == 0 && req.GetBody != nil) {
		closeBody(req)
		return signedBody{body: http.NoBody, hash: emptyPayloadHash}, nil
	}
	if req.GetBody != nil && req.ContentLength > 0 {
		rc, err := req.GetBody()
		if err != nil {
			return signedBody{}, err
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return signedBody{}, err
		}
		if n != req.ContentLength {
			return signedBody{}, fmt.Errorf("body has %d bytes, Content-Length says %d", n, req.ContentLength)
		}
		return signedBody{body: req.Body, getBody: req.GetBody, length: n, hash: hex.EncodeToString(h.Sum(nil))}, nil
	}
	data, err := drainBody(req)
	if err != nil {
		return signedBody{}, err
	}
	if len(data) == 0 {
		return signedBody{body: http.NoBody, hash: emptyPayloadHash}, nil
	}
	sum := sha256.Sum256(data)
	return signedBody{
		body:    io.NopCloser(bytes.NewReader(data)),
		getBody: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		length:  int64(len(data)),
		hash:    hex.EncodeToString(sum[:]),
	}, nil
}

const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// drainBody reads and closes req.Body. With a known length it reads into a
// buffer of exactly that size: one allocation, one copy.
func drainBody(req *http.Request) ([]byte, error) {
	defer req.Body.Close()
	if n := req.ContentLength; n > 0 && n <= 256<<20 {
		buf := make([]byte, n)
		if _, err := io.ReadFull(req.Body, buf); err != nil {
			return nil, fmt.Errorf("body shorter than its Content-Length %d: %w", n, err)
		}
		// Anything beyond the declared length would go unsigned: refuse it.
		var one [1]byte
		if m, _ := req.Body.Read(one[:]); m > 0 {
			return nil, fmt.Errorf("body longer than its Content-Length %d", n)
		}
		return buf, nil
	}
	return io.ReadAll(req.Body)
}

// opaquePath extracts the path of an opaque URL ("//host/path").
func opaquePath(opaque string) string {
	if strings.HasPrefix(opaque, "//") {
		opaque = opaque[2:]
		if i := strings.IndexByte(opaque, '/'); i >= 0 {
			return opaque[i:]
		}
		return "/"
	}
	return opaque
}

// regionFor returns the signing region: configured, else inferred from an
// AWS host name (…​.us-west-2.amazonaws.com), else asked of IMDS once.
func (st *rtState) regionFor(host string) (string, error) {
	if st.region != "" {
		return st.region, nil
	}
	if r := RegionFromHost(host); r != "" {
		return r, nil
	}
	st.imdsOnce.Do(func() {
		st.imdsRegion, st.imdsErr = ResolveRegion(context.Background(), st.cfg, 3*time.Second)
	})
	if st.imdsErr != nil {
		return "", fmt.Errorf("aws_sigv4: set region: it is not configured, not in the endpoint's host name %q, and %w", host, st.imdsErr)
	}
	return st.imdsRegion, nil
}

var regionLabelRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`) })

// RegionFromHost returns the region named in an AWS endpoint host name
// (aps-workspaces.eu-west-1.amazonaws.com → eu-west-1), or "".
func RegionFromHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !strings.HasSuffix(host, ".amazonaws.com") && !strings.HasSuffix(host, ".amazonaws.com.cn") {
		return ""
	}
	for _, label := range strings.Split(host, ".") {
		if regionLabelRE().MatchString(label) {
			return label
		}
	}
	return ""
}

// inspect peeks at a 4xx response body; if it is an AWS authentication
// error it is explained, remembered (LastError) and logged (at most once a
// minute per code). The body is left intact for the caller.
func (rt *RoundTripper) inspect(resp *http.Response, creds awssdk.Credentials) {
	peek, err := httpclient.PeekBody(resp, 64<<10)
	if err != nil {
		return
	}
	e := explainResponse(resp, peek, creds.SecretAccessKey, creds.SessionToken)
	if e == nil {
		return
	}
	rt.lastErr.Store(&errBox{e})
	if rt.opts.logger == nil {
		return
	}
	code := e.(*AuthError).Code
	now := time.Now()
	rt.logMu.Lock()
	last, seen := rt.logged[code]
	if !seen || now.Sub(last) > time.Minute {
		rt.logged[code] = now
		rt.logMu.Unlock()
		rt.opts.logger.Warn("AWS rejected a signed request", "code", code, "err", e.Error())
		return
	}
	rt.logMu.Unlock()
}
