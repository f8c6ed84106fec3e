package fakeaws

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

const suiteDir = "../../testdata/aws-sigv4-suite"

// TestSuiteCanonicalization checks the fake's own SigV4 implementation
// against every case of AWS's suite: from the expected signed request (as a
// server receives it) it must rebuild the expected canonical request, string
// to sign and signature.
func TestSuiteCanonicalization(t *testing.T) {
	cases, err := LoadSuite(suiteDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 35 {
		t.Fatalf("only %d suite cases found in %s", len(cases), suiteDir)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			sr := c.SignedRequest
			authz := sr.Values("Authorization")
			if len(authz) != 1 {
				t.Fatalf("signed request has %d Authorization headers", len(authz))
			}
			a, err := ParseAuthorization(authz[0])
			if err != nil {
				t.Fatal(err)
			}
			payload := payloadHash(sr)
			got := CanonicalRequest(CanonicalInput{
				Method:        sr.Method,
				RawPath:       sr.RawPath,
				RawQuery:      sr.RawQuery,
				Header:        sr.Values,
				SignedHeaders: a.SignedHeaders,
				PayloadHash:   payload,
				S3Path:        !c.Context.Normalize,
			})
			if got != c.CanonicalRequest {
				t.Fatalf("canonical request:\n%s\nwant:\n%s", got, c.CanonicalRequest)
			}
			amzDate := sr.Values("X-Amz-Date")[0]
			sts := StringToSign(amzDate, a.Scope(), got)
			if sts != c.StringToSign {
				t.Fatalf("string to sign:\n%s\nwant:\n%s", sts, c.StringToSign)
			}
			sig := Signature(c.Context.Credentials.SecretAccessKey, a.Date, a.Region, a.Service, sts)
			if sig != c.Signature || sig != a.Signature {
				t.Fatalf("signature %s, want %s (Authorization has %s)", sig, c.Signature, a.Signature)
			}
		})
	}
}

// TestSuiteVerify runs each expected signed request through the fake's
// request verification (as an http.Request at the suite's time) and checks
// that it is accepted, and that a tampered copy is not.
func TestSuiteVerify(t *testing.T) {
	cases, err := LoadSuite(suiteDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			st := newStore(func() time.Time { return c.Context.Timestamp }, time.Second, 5*time.Minute)
			st.add(&Key{
				AccessKeyID:     c.Context.Credentials.AccessKeyID,
				SecretAccessKey: c.Context.Credentials.SecretAccessKey,
				SessionToken:    c.Context.Credentials.Token,
			})
			r := suiteHTTPRequest(t, c.SignedRequest)
			if _, e := st.verify(r, c.Context.Service, c.Context.Region, !c.Context.Normalize); e != nil {
				t.Fatalf("expected signed request rejected: %v", e)
			}
			// The verifier must have put the body back for the handler.
			if b, _ := io.ReadAll(r.Body); string(b) != string(c.SignedRequest.Body) {
				t.Fatalf("body after verify = %q", b)
			}

			tampered := suiteHTTPRequest(t, c.SignedRequest)
			tampered.Header.Set("X-Amz-Date", FormatAmzDate(c.Context.Timestamp.Add(time.Second)))
			if _, e := st.verify(tampered, c.Context.Service, c.Context.Region, !c.Context.Normalize); e == nil || e.Code != "SignatureDoesNotMatch" {
				t.Fatalf("tampered date: got %v, want SignatureDoesNotMatch", e)
			}
		})
	}
}

func payloadHash(r SuiteRequest) string {
	if v := r.Values("X-Amz-Content-Sha256"); len(v) > 0 {
		return v[0]
	}
	sum := sha256.Sum256(r.Body)
	return hex.EncodeToString(sum[:])
}

// suiteHTTPRequest builds a server-side request as net/http would hand it to
// a handler: Host promoted out of the header map, RequestURI raw.
func suiteHTTPRequest(t *testing.T, sr SuiteRequest) *http.Request {
	t.Helper()
	r := &http.Request{
		Method:     sr.Method,
		RequestURI: sr.RawPath,
		URL:        &url.URL{Path: sr.RawPath, RawQuery: sr.RawQuery},
		Header:     http.Header{},
		Body:       io.NopCloser(strings.NewReader(string(sr.Body))),
	}
	if sr.RawQuery != "" {
		r.RequestURI += "?" + sr.RawQuery
	}
	for _, h := range sr.Headers {
		if strings.EqualFold(h.Name, "Host") {
			r.Host = h.Value
			continue
		}
		r.Header.Add(h.Name, h.Value)
	}
	if cl := r.Header.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		r.ContentLength = n
	}
	return r
}
