package write

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/syntax/value"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://logs.example.com/loki/api/v1/push":                       "https://logs.example.com/loki/api/v1/push",
		"https://123456:glc_Zk9@logs.example.com/loki/api/v1/push":        "https://123456:xxxxx@logs.example.com/loki/api/v1/push",
		"https://logs.example.com/push?token=s3cr3t&tenant=a&token=other": "https://logs.example.com/push?tenant=xxxxx&token=xxxxx",
		"http://u:p%40ss@h:3100/p?x=%2Fa#frag-secret":                     "http://u:xxxxx@h:3100/p?x=xxxxx",
		"http://h/%zz": "(invalid URL)",
	} {
		if got := (&EndpointArgs{URL: value.NewURL(in)}).redactedURL(); got != want {
			t.Errorf("redactedURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScrubFindsEscapedAndNestedSecrets(t *testing.T) {
	ea := endpointArgs("", func(e *EndpointArgs) {
		e.URL = value.NewURL("http://u:p%40ss%2Fw0rd@h/push?k=tok%2Fen")
		e.HTTPClient.BasicAuth = &httpclient.BasicAuth{Username: "x", Password: "p@ss/w0rd-longer"}
		e.Headers = map[string]string{"Accept": "abc"} // too short to search for
	})
	sec := secretsOf(ea)
	msg := scrub("a p@ss/w0rd-longer b p@ss/w0rd c p%40ss%2Fw0rd d tok/en e tok%2Fen f abc", sec)
	for _, leak := range []string{"w0rd", "tok/en", "tok%2Fen"} {
		if strings.Contains(msg, leak) {
			t.Errorf("scrubbed message %q still holds %q", msg, leak)
		}
	}
	if !strings.Contains(msg, " abc") {
		t.Errorf("a 3-character header value was scrubbed: %q", msg)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":     0,
		"0":    0,
		"-5":   0,
		"7":    7 * time.Second,
		" 3 ":  3 * time.Second,
		"soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
		"99999999999999999999":                            0, // does not parse as int64
		"9223372036854775807":                             (1 << 31) * time.Second,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestPermanentStatuses(t *testing.T) {
	retryAll := &endpoint{args: endpointArgs("http://h/p", nil)}
	dropOpts := &endpoint{args: endpointArgs("http://h/p", func(e *EndpointArgs) { e.RetryOnHTTP429 = false; e.RetryOnHTTPAuthError = false })}
	for _, tc := range []struct {
		status        int
		retry, optOff bool // retried with defaults; retried with both options off
	}{
		{0, true, true}, {500, true, true}, {502, true, true}, {503, true, true},
		{429, true, false}, {401, true, false}, {403, true, false},
		{400, false, false}, {404, false, false}, {413, false, false},
	} {
		if got := retryAll.permanent(tc.status) == ""; got != tc.retry {
			t.Errorf("status %d with defaults: retried = %v", tc.status, got)
		}
		if got := dropOpts.permanent(tc.status) == ""; got != tc.optOff {
			t.Errorf("status %d with the options off: retried = %v", tc.status, got)
		}
	}
	if why := dropOpts.permanent(403); !strings.Contains(why, "retry_on_http_auth_error") {
		t.Errorf("drop reason %q does not name the option", why)
	}
}
