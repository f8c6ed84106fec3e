// Package httpclienttest holds the checks shared by the tests of components
// that embed httpclient.Config next to authentication settings of their own
// (loki.write's and prometheus.remote_write's aws_sigv4).
package httpclienttest

import (
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/syntax/value"
)

// SetAuth sets each of httpclient.Config's authentication settings, keyed by
// its config name (httpclient.AuthSettings).
var SetAuth = map[string]func(*httpclient.Config){
	"basic_auth":    func(c *httpclient.Config) { c.BasicAuth = &httpclient.BasicAuth{Username: "u"} },
	"authorization": func(c *httpclient.Config) { c.Authorization = &httpclient.Authorization{Credentials: "c"} },
	"oauth2": func(c *httpclient.Config) {
		c.OAuth2 = &httpclient.OAuth2{ClientID: "i", ClientSecret: "s", TokenURL: value.NewURL("https://a/t")}
	},
	"bearer_token":      func(c *httpclient.Config) { c.BearerToken = "t" },
	"bearer_token_file": func(c *httpclient.Config) { c.BearerTokenFile = "/t" },
}

// RefusesSecondAuth checks endpoints that authenticate with settings of
// their component's own (aws_sigv4, Alloy's sigv4, ...): for each of them,
// validate[first] builds such an endpoint, adds an HTTP authentication
// setting with set and validates it. Each must be refused, telling the user
// to keep first and remove the other (httpclient.OneAuthorization's rule):
// an oauth2 token, for one, would overwrite a SigV4 signature.
func RefusesSecondAuth(t *testing.T, validate map[string]func(set func(*httpclient.Config)) error) {
	t.Helper()
	for first, v := range validate {
		for _, name := range httpclient.AuthSettings {
			err := v(SetAuth[name])
			want := "keep " + first + " and remove " + name
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s with %s: %v, want an error containing %q", first, name, err, want)
			}
		}
	}
}
