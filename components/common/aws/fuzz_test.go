package aws

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzExplainResponse feeds arbitrary error answers (an x-amzn-ErrorType
// header, an XML or JSON body) through the parser that turns AWS's 4xx
// answers into explained errors: it must never panic, the message it keeps
// is one bounded line, and a secret in the body never reaches the error.
//
//	go test -fuzz FuzzExplainResponse ./components/common/aws/
func FuzzExplainResponse(f *testing.F) {
	for _, seed := range []struct{ errType, body string }{
		{"", `<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error></ErrorResponse>`},
		{"", `<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors></Response>`},
		{"", `{"__type":"com.amazonaws.sts#ExpiredTokenException","message":"token expired"}`},
		{"AccessDeniedException:http://internal.amazon.com/coral/", `{"Message":"User: arn:aws:sts::1:assumed-role/x is not authorized"}`},
		{"", `{"code":"SignatureDoesNotMatch","errorMessage":"The request signature we calculated does not match"}`},
		{"", `<Error><Code>InvalidClientTokenId</Code>`},
		{"", `<<<>>>`}, {"", `{`}, {"#", ""},
	} {
		f.Add(seed.errType, seed.body, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	}
	u, _ := url.Parse("https://sts.amazonaws.com/?X-Amz-Signature=abc")
	f.Fuzz(func(t *testing.T, errType, body, secret string) {
		secret = strings.Map(func(r rune) rune {
			if ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') || r == '/' || r == '+' {
				return r
			}
			return -1
		}, secret)
		resp := &http.Response{StatusCode: 403, Header: http.Header{}, Request: &http.Request{URL: u}}
		if errType != "" {
			resp.Header.Set("X-Amzn-ErrorType", errType)
		}
		err := explainResponse(resp, []byte(body), secret)
		if err == nil {
			return
		}
		ae, ok := err.(*AuthError)
		if !ok {
			t.Fatalf("%T, want *AuthError", err)
		}
		if strings.Contains(ae.Message, "\n") || len(ae.Message) > 420 {
			t.Fatalf("message is not one bounded line (%d bytes): %q", len(ae.Message), ae.Message)
		}
		if len(secret) >= 8 && strings.Contains(ae.Message, secret) {
			t.Fatalf("the secret reached the error: %q", ae.Message)
		}
		if strings.Contains(ae.Error(), "X-Amz-Signature") {
			t.Fatalf("the query string reached the error: %q", ae.Error())
		}
	})
}
