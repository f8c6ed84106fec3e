package remotewrite

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
		"basic_auth":        func(c *httpclient.Config) { c.BasicAuth = &httpclient.BasicAuth{Username: "u"} },
		"bearer_token_file": func(c *httpclient.Config) { c.BearerTokenFile = "/t" },
	} {
		var e EndpointOptions
		e.SetToDefault()
		e.URL = value.NewURL("https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write")
		e.SigV4 = &aws.SigV4Config{Region: "us-east-1", ServiceName: "aps"}
		set(&e.HTTPClient)
		err := e.Validate()
		if err == nil || !strings.Contains(err.Error(), "remove "+name) {
			t.Errorf("aws_sigv4 with %s: %v", name, err)
		}
	}
}
