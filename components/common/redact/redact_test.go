package redact

import (
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/syntax/value"
)

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://prom.example.com/api/v1/write":                           "https://prom.example.com/api/v1/write",
		"https://123456:glc_Zk9@prom.example.com/api/v1/push":             "https://123456:xxxxx@prom.example.com/api/v1/push",
		"https://prom.example.com/push?token=s3cr3t&tenant=a&token=other": "https://prom.example.com/push?tenant=xxxxx&token=xxxxx",
		"http://u:p%40ss@h:3100/p?x=%2Fa#frag-secret":                     "http://u:xxxxx@h:3100/p?x=xxxxx",
		"http://user@h/p": "http://user@h/p",
		"http://h/%zz":    "(invalid URL)",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScrubFindsEscapedAndNestedSecrets(t *testing.T) {
	var s Secrets
	s.AddURL(value.NewURL("http://u:p%40ss%2Fw0rd@h/push?k=tok%2Fen"))
	s.AddHTTPClient(httpclient.Config{BasicAuth: &httpclient.BasicAuth{Username: "x", Password: "p@ss/w0rd-longer"}})
	s.Add("abc") // too short to search for
	msg := s.Scrub("a p@ss/w0rd-longer b p@ss/w0rd c p%40ss%2Fw0rd d tok/en e tok%2Fen f abc")
	for _, leak := range []string{"w0rd", "tok/en", "tok%2Fen"} {
		if strings.Contains(msg, leak) {
			t.Errorf("scrubbed message %q still holds %q", msg, leak)
		}
	}
	if !strings.Contains(msg, " abc") {
		t.Errorf("a 3-character value was scrubbed: %q", msg)
	}
}

func TestSecretsOfEveryKind(t *testing.T) {
	var s Secrets
	s.AddHTTPClient(httpclient.Config{
		BearerToken:   "bearer-secret",
		Authorization: &httpclient.Authorization{Credentials: "authz-secret"},
		TLSConfig:     &httpclient.TLSConfig{Key: "tls-key-secret"},
	})
	s.AddSigV4(&aws.SigV4Config{SecretKey: "sk-secret", SecretAccessKey: "sak-secret",
		Credentials: &aws.StaticCredentials{SecretAccessKey: "cred-sak-secret", Token: value.Secret("session-token")}})
	s.AddSigV4(nil)
	all := "bearer-secret authz-secret tls-key-secret sk-secret sak-secret cred-sak-secret session-token"
	if got := s.Scrub(all); strings.Trim(strings.ReplaceAll(got, Replacement, ""), " ") != "" {
		t.Errorf("Scrub(%q) = %q", all, got)
	}
	var none *Secrets
	if got := none.Scrub("x"); got != "x" {
		t.Errorf("nil Secrets changed a message: %q", got)
	}
}
