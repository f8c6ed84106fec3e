package write

import (
	"github.com/flow-telemetry/flow/components/common/redact"
)

// Secrets never leave an endpoint in clear: not in logs, errors, health,
// debug info or metric labels (see package components/common/redact, which
// prometheus.remote_write shares). The endpoint's URL is only ever shown
// through value.URL's String (redactedURL); its default name (a metric label) is host and path
// only; every message that can carry text from elsewhere (Loki's answer
// body, a transport error) is scrubbed of every secret the endpoint holds
// (URL password and query values, bearer token, basic_auth password,
// authorization credentials, header values, TLS key, SigV4 keys).

// secretsOf lists the secret values an endpoint's configuration holds.
func secretsOf(ea EndpointArgs) *redact.Secrets {
	var s redact.Secrets
	s.AddURL(ea.URL)
	for _, v := range ea.Headers {
		s.Add(v)
	}
	s.AddHTTPClient(ea.HTTPClient)
	s.AddSigV4(ea.sigV4())
	return &s
}

// scrub replaces every secret in msg by "(secret)".
func scrub(msg string, secrets *redact.Secrets) string { return secrets.Scrub(msg) }
