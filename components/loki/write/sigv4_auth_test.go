package write

import (
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/syntax/value"
)

// TestSigV4RefusesEveryHTTPAuth: aws_sigv4 is the Authorization header, so
// every HTTP authentication setting is refused with it, oauth2 included
// (its token would overwrite the signature).
func TestSigV4RefusesEveryHTTPAuth(t *testing.T) {
	for name, set := range map[string]func(*httpclient.Config){
		"oauth2": func(c *httpclient.Config) {
			c.OAuth2 = &httpclient.OAuth2{ClientID: "i", ClientSecret: "s", TokenURL: value.NewURL("https://a/t")}
		},
		"authorization":     func(c *httpclient.Config) { c.Authorization = &httpclient.Authorization{Credentials: "c"} },
		"bearer_token_file": func(c *httpclient.Config) { c.BearerTokenFile = "/t" },
	} {
		var e EndpointArgs
		e.SetToDefault()
		e.URL = value.NewURL("https://logs.example/loki/api/v1/push")
		e.AWSSigV4 = &aws.SigV4Config{Region: "us-east-1", ServiceName: "execute-api"}
		set(&e.HTTPClient)
		err := e.validate()
		if err == nil || !strings.Contains(err.Error(), "combined with "+name) {
			t.Errorf("aws_sigv4 with %s: %v", name, err)
		}
	}
}
