package fakeaws

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Key is one set of credentials the fake knows: long-term keys added with
// AddUser, or temporary ones it issued (STS, IMDS, container endpoint).
type Key struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string    // empty for long-term keys
	Expires         time.Time // zero for long-term keys
	// Principal is the ARN the key acts as.
	Principal string
	// Account is the 12-digit account ID.
	Account string
	// Deny lists actions ("ec2:DescribeInstances") this key may not call.
	Deny []string

	issued time.Time
	// lineage groups the credentials that replace each other (one role
	// session, one instance profile); a newer issue supersedes older ones.
	lineage      string
	supersededAt atomic.Int64 // unix nanos, 0 while current
}

// Superseded reports whether a newer set of the same lineage was issued.
func (k *Key) Superseded() bool { return k.supersededAt.Load() != 0 }

func (k *Key) denies(action string) bool {
	for _, d := range k.Deny {
		if strings.EqualFold(d, action) || d == "*" {
			return true
		}
	}
	return false
}

// Stats counts what the fake saw. All requests that needed a signature are
// counted once, as accepted or rejected; Stale counts accepted requests
// signed with credentials that a newer issued set had replaced more than
// Options.StaleGrace earlier.
type Stats struct {
	Accepted int64
	Rejected int64
	Stale    int64
	// RejectedByCode counts rejections by AWS error code.
	RejectedByCode map[string]int64
	// ByAction counts accepted requests by action ("sts:AssumeRole",
	// "ec2:DescribeInstances", "imds:credentials", "aps:request").
	ByAction map[string]int64
	// Issued counts credential sets issued.
	Issued int64
	// LastRejection describes the last rejected request (code: message).
	LastRejection string
}

// store holds keys and counters, shared by every server of one fake.
type store struct {
	now        func() time.Time
	staleGrace time.Duration
	maxSkew    time.Duration

	mu     sync.Mutex
	keys   map[string]*Key
	latest map[string]*Key
	stats  Stats
}

func newStore(now func() time.Time, staleGrace, maxSkew time.Duration) *store {
	return &store{
		now:        now,
		staleGrace: staleGrace,
		maxSkew:    maxSkew,
		keys:       map[string]*Key{},
		latest:     map[string]*Key{},
		stats:      Stats{RejectedByCode: map[string]int64{}, ByAction: map[string]int64{}},
	}
}

func (s *store) add(k *Key) *Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	k.issued = s.now()
	s.keys[k.AccessKeyID] = k
	if k.lineage != "" {
		if prev := s.latest[k.lineage]; prev != nil {
			prev.supersededAt.Store(k.issued.UnixNano())
		}
		s.latest[k.lineage] = k
	}
	if k.SessionToken != "" {
		s.stats.Issued++
	}
	return k
}

// issue creates temporary credentials for principal, valid for lifetime.
func (s *store) issue(principal, account, lineage string, lifetime time.Duration, deny []string) *Key {
	k := &Key{
		AccessKeyID:     "ASIA" + randomID(16),
		SecretAccessKey: randomSecret(40),
		SessionToken:    randomSecret(120),
		Expires:         s.now().Add(lifetime),
		Principal:       principal,
		Account:         account,
		Deny:            deny,
		lineage:         lineage,
	}
	return s.add(k)
}

func (s *store) lookup(id string) *Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[id]
}

func (s *store) accept(action string, k *Key) (stale bool) {
	if at := k.supersededAt.Load(); at != 0 && s.now().Sub(time.Unix(0, at)) > s.staleGrace {
		stale = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Accepted++
	s.stats.ByAction[action]++
	if stale {
		s.stats.Stale++
	}
	return stale
}

func (s *store) reject(e *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Rejected++
	s.stats.RejectedByCode[e.Code]++
	s.stats.LastRejection = e.Code + ": " + e.Message
}

func (s *store) snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.RejectedByCode = make(map[string]int64, len(s.stats.RejectedByCode))
	for k, v := range s.stats.RejectedByCode {
		out.RejectedByCode[k] = v
	}
	out.ByAction = make(map[string]int64, len(s.stats.ByAction))
	for k, v := range s.stats.ByAction {
		out.ByAction[k] = v
	}
	return out
}

// verified is a request whose signature checked out.
type verified struct {
	key  *Key
	auth Authorization
	body []byte
}

// verify reads the whole body and checks the request's SigV4 signature for
// service (and region, unless empty); s3Path selects S3's path rules
// (no normalization, single encoding). It returns the key and the body, or an
// AWS error to send back. It does not count: callers accept or reject after
// their own checks.
func (s *store) verify(r *http.Request, service, region string, s3Path bool) (*verified, *Error) {
	body, err := readBody(r)
	if err != nil {
		return nil, &Error{Status: 400, Code: "IncompleteBody", Message: "could not read the request body: " + err.Error()}
	}

	authz := r.Header.Get("Authorization")
	if authz == "" {
		return nil, &Error{Status: 403, Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token"}
	}
	a, perr := ParseAuthorization(authz)
	if perr != nil {
		return nil, &Error{Status: 403, Code: "IncompleteSignature", Message: perr.Error()}
	}
	k := s.lookup(a.AccessKeyID)
	if k == nil {
		return nil, &Error{Status: 403, Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
	}
	if k.SessionToken != "" {
		tok := r.Header.Get("X-Amz-Security-Token")
		if subtle.ConstantTimeCompare([]byte(tok), []byte(k.SessionToken)) != 1 {
			return nil, &Error{Status: 403, Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
		}
	}
	now := s.now()
	if !k.Expires.IsZero() && !now.Before(k.Expires) {
		return nil, &Error{Status: 403, Code: "ExpiredToken", Message: "The security token included in the request is expired"}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, derr := ParseAmzDate(amzDate)
	if derr != nil {
		return nil, &Error{Status: 403, Code: "IncompleteSignature", Message: "X-Amz-Date header is missing or not in ISO 8601 basic format"}
	}
	if d := now.Sub(t); d > s.maxSkew || d < -s.maxSkew {
		return nil, &Error{Status: 403, Code: "RequestTimeTooSkewed", Message: fmt.Sprintf(
			"Signature not yet current or expired: request time %s, server time %s (more than %s apart)",
			amzDate, FormatAmzDate(now), s.maxSkew)}
	}
	if a.Date != amzDate[:8] {
		return nil, &Error{Status: 403, Code: "SignatureDoesNotMatch", Message: fmt.Sprintf(
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'", a.Date, amzDate[:8])}
	}
	if a.Service != service {
		return nil, &Error{Status: 403, Code: "SignatureDoesNotMatch", Message: fmt.Sprintf(
			"Credential should be scoped to correct service: '%s'.", service)}
	}
	if region != "" && a.Region != region {
		return nil, &Error{Status: 403, Code: "SignatureDoesNotMatch", Message: fmt.Sprintf(
			"Credential should be scoped to a valid region, not '%s'. ", a.Region)}
	}
	for _, h := range []string{"host", "x-amz-date"} {
		if !slices.Contains(a.SignedHeaders, h) {
			return nil, &Error{Status: 403, Code: "SignatureDoesNotMatch", Message: "'" + h + "' must be a signed header"}
		}
	}

	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if declared := r.Header.Get("X-Amz-Content-Sha256"); declared != "" {
		if declared != payloadHash && declared != "UNSIGNED-PAYLOAD" {
			return nil, &Error{Status: 400, Code: "XAmzContentSHA256Mismatch", Message: "The provided 'x-amz-content-sha256' header does not match what was computed."}
		}
		payloadHash = declared
	}

	rawPath, rawQuery := splitRequestURI(r)
	in := CanonicalInput{
		Method:        r.Method,
		RawPath:       rawPath,
		RawQuery:      rawQuery,
		SignedHeaders: a.SignedHeaders,
		PayloadHash:   payloadHash,
		S3Path:        s3Path,
		Header: func(name string) []string {
			switch name {
			case "host":
				return []string{r.Host}
			case "content-length":
				if v := r.Header.Values("Content-Length"); len(v) > 0 {
					return v
				}
				return []string{itoa(int(r.ContentLength))}
			}
			return r.Header.Values(name)
		},
	}
	creq := CanonicalRequest(in)
	sts := StringToSign(amzDate, a.Scope(), creq)
	want := Signature(k.SecretAccessKey, a.Date, a.Region, a.Service, sts)
	if subtle.ConstantTimeCompare([]byte(want), []byte(a.Signature)) != 1 {
		// Real AWS includes the canonical request and string to sign so the
		// client can compare with its own; so does the fake.
		return nil, &Error{Status: 403, Code: "SignatureDoesNotMatch", Message: "The request signature we calculated does not match the signature you provided. " +
			"Check your AWS Secret Access Key and signing method.\n\nThe Canonical String for this request should have been\n'" + creq +
			"'\n\nThe String-to-Sign should have been\n'" + sts + "'\n"}
	}
	return &verified{key: k, auth: a, body: body}, nil
}

// splitRequestURI returns the path and query exactly as on the request line.
func splitRequestURI(r *http.Request) (string, string) {
	uri := r.RequestURI
	if uri == "" || uri == "*" || !strings.HasPrefix(uri, "/") {
		// Absolute-form (through a proxy) or a synthesized request.
		return r.URL.EscapedPath(), r.URL.RawQuery
	}
	p, q, _ := strings.Cut(uri, "?")
	return p, q
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails since Go 1.24
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}

func randomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return base64.RawStdEncoding.EncodeToString(b)[:n]
}

// readBody reads the whole body and puts an identical one back.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}
