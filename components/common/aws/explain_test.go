package aws

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestExplainResponse reads the error code from every shape AWS answers
// with and names the usual cause.
func TestExplainResponse(t *testing.T) {
	req := &http.Request{URL: &url.URL{Scheme: "https", Host: "aps-workspaces.us-east-1.amazonaws.com",
		Path: "/workspaces/ws-1/api/v1/remote_write", RawQuery: "X-Amz-Signature=presigned-secret"}}
	cases := []struct {
		name, body string
		header     http.Header
		status     int
		code, hint string
	}{
		{"STS XML", `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error><RequestId>1</RequestId></ErrorResponse>`,
			nil, 403, "ExpiredToken", "clock"},
		{"EC2 XML", `<?xml version="1.0"?><Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>x</RequestID></Response>`,
			nil, 401, "AuthFailure", "rotated"},
		{"S3 XML", `<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message><StringToSign>AWS4-HMAC-SHA256...</StringToSign></Error>`,
			nil, 403, "SignatureDoesNotMatch", "region or service_name"},
		{"JSON qualified type", `{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"The security token included in the request is invalid."}`,
			nil, 400, "UnrecognizedClientException", "rotated"},
		{"JSON message only, type in header", `{"message":"User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: aps:RemoteWrite"}`,
			http.Header{"X-Amzn-Errortype": {"AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/"}}, 403, "AccessDeniedException", "IAM policy"},
		{"API Gateway", `{"message":"Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z"}`,
			http.Header{"X-Amzn-Errortype": {"InvalidSignatureException"}}, 403, "InvalidSignatureException", "clock"},
		{"skew", `<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>`,
			nil, 403, "RequestTimeTooSkewed", "NTP"},
		{"missing token", `{"message":"Missing Authentication Token"}`, http.Header{"X-Amzn-Errortype": {"MissingAuthenticationTokenException"}}, 403, "MissingAuthenticationTokenException", "not signed"},
		{"AccessDenied", `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`, nil, 403, "AccessDenied", "IAM policy"},
		{"not AWS", `forbidden`, nil, 403, "", ""},
		{"unknown code", `{"__type":"ThrottlingException","message":"slow down"}`, nil, 400, "", ""},
		{"success", `<Code>AccessDenied</Code>`, nil, 200, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.header
			if h == nil {
				h = http.Header{}
			}
			err := ExplainResponse(&http.Response{StatusCode: c.status, Header: h, Request: req}, []byte(c.body))
			if c.code == "" {
				if err != nil {
					t.Fatalf("explained a response that is not an AWS auth error: %v", err)
				}
				return
			}
			var ae *AuthError
			if !errors.As(err, &ae) || ae.Code != c.code || ae.Status != c.status {
				t.Fatalf("got %v, want code %s", err, c.code)
			}
			if !strings.Contains(err.Error(), c.hint) {
				t.Fatalf("%v lacks the hint %q", err, c.hint)
			}
			if strings.Contains(err.Error(), "presigned-secret") {
				t.Fatalf("the query string leaked: %v", err)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	secret := "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	msg := "key AKIAIOSFODNN7EXAMPLE secret " + secret + " role arn:aws:iam::123456789012:role/r token short"
	got := Scrub(msg, "short-is-ignored", "token short")
	if strings.Contains(got, secret) || strings.Contains(got, "token short") || !strings.Contains(got, "AKIAIOSFODNN7EXAMPLE") ||
		!strings.Contains(got, "arn:aws:iam::123456789012:role/r") {
		t.Fatalf("Scrub = %q", got)
	}
}
