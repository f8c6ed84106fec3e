package redact

import (
	"testing"

	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/syntax/value"
)

// TestAddHTTPClientWholeSurface: the secrets of every part of the HTTP
// client surface are scrubbed, not only the classic auth settings.
func TestAddHTTPClientWholeSurface(t *testing.T) {
	hc := httpclient.Default()
	hc.OAuth2 = &httpclient.OAuth2{ClientID: "id", ClientSecret: "oauth-client-s3cret", TokenURL: value.NewURL("https://a/token?tok=oauth-token-q"),
		ProxyConfig: httpclient.ProxyConfig{ProxyURL: value.NewURL("http://u:oauth-proxy-pw@p:3128/?tok=oauth-proxy-q")}}
	hc.HTTPHeaders = map[string][]value.Secret{"X-Api-Key": {"header-api-key"}}
	hc.ProxyURL = value.NewURL("http://u:main-proxy-pw@p:3128")
	hc.ProxyConnectHeader = map[string][]value.Secret{"Proxy-Authorization": {"Basic connect-cred"}}
	var s Secrets
	s.AddHTTPClient(hc)
	for _, secret := range []string{"oauth-client-s3cret", "oauth-proxy-pw", "oauth-proxy-q", "header-api-key", "main-proxy-pw", "Basic connect-cred", "oauth-token-q"} {
		if got := s.Scrub("error: " + secret + " rejected"); got != "error: (secret) rejected" {
			t.Errorf("%q not scrubbed: %q", secret, got)
		}
	}
}
