package aws

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
	"github.com/aws/smithy-go/logging"
)

// signParams are the inputs of one signature besides the request.
type signParams struct {
	creds       awssdk.Credentials
	service     string
	region      string
	time        time.Time
	payloadHash string
	// s3Path applies S3's path rules: the path is not normalized and is
	// encoded once, from its decoded form. Every other service normalizes
	// the path and encodes its wire form again ("double encoding").
	s3Path bool
	// omitSessionToken adds X-Amz-Security-Token after signing instead of
	// signing it (a few services want that; the suite has a case).
	omitSessionToken bool
	// logger, when set, receives the SDK's canonical request and string to
	// sign (tests only: the canonical request holds the session token).
	logger logging.Logger
}

// signRequest signs req in place with the SDK's v4 signer: it sets
// X-Amz-Date, X-Amz-Security-Token (when there is a token) and
// Authorization on req.Header, and rewrites req.URL.RawQuery and req.Host to
// the exact form that was signed, so what goes on the wire is what was signed.
//
// wirePath is the path as it will appear on the request line (escaped). The
// SDK signer does not normalize paths and derives the canonical path from
// req.URL itself; the adapter computes the canonical path by AWS's rules and
// hands it to the signer through URL.Opaque with URI escaping disabled, so
// the rest of the canonical request (query, headers, scope, HMACs) is the
// SDK's own.
func signRequest(ctx context.Context, s *v4.Signer, req *http.Request, wirePath string, p signParams) error {
	var canonicalPath string
	if p.s3Path {
		decoded, err := url.PathUnescape(wirePath)
		if err != nil {
			decoded = wirePath
		}
		canonicalPath = httpbinding.EscapePath(decoded, false)
	} else {
		canonicalPath = httpbinding.EscapePath(normalizePath(wirePath), false)
	}
	if canonicalPath == "" {
		canonicalPath = "/"
	}

	// Sign a shallow copy whose URL carries the canonical path; the header
	// map is shared, so the signature lands on req.
	signURL := *req.URL
	signURL.Opaque = "//signing" + canonicalPath
	signURL.RawPath = ""
	sreq := *req
	sreq.URL = &signURL

	err := s.SignHTTP(ctx, p.creds, &sreq, p.payloadHash, p.service, p.region, p.time, func(o *v4.SignerOptions) {
		o.DisableURIPathEscaping = true
		o.DisableSessionToken = p.omitSessionToken
		if p.logger != nil {
			o.Logger = p.logger
			o.LogSigning = true
		}
	})
	if err != nil {
		return err
	}
	if p.omitSessionToken && p.creds.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", p.creds.SessionToken)
	}
	req.URL.RawQuery = signURL.RawQuery
	req.Host = sreq.Host
	return nil
}

// normalizePath removes "." and ".." segments and empty segments (RFC 3986
// §5.2.4 plus AWS's merging of repeated slashes), keeping a trailing slash
// when the path ends in a directory.
func normalizePath(p string) string {
	if p == "" {
		return "/"
	}
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p // the common case: nothing to do, no allocation
	}
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for _, s := range segs {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	res := "/" + strings.Join(out, "/")
	last := segs[len(segs)-1]
	if len(out) > 0 && (last == "" || last == "." || last == "..") {
		res += "/"
	}
	return res
}
