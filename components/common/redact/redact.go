// Package redact keeps the secrets of a component's HTTP endpoint out of
// everything it shows: logs, errors, health, debug info and metric labels.
// loki.write and prometheus.remote_write share it, so an endpoint's URL is
// masked the same way everywhere.
//
// Two mechanisms do it:
//
//   - An endpoint's URL is a value.URL, only ever shown through its String
//     (the same form the API's arguments and the UI's config view show):
//     the password of its user info and every query-string value are
//     replaced by Mask, since services and proxies put tokens in either, and
//     the fragment is cut; a URL given as a secret is "(secret)" whole.
//   - Every message that can carry text from elsewhere (a server's answer
//     body, a transport error, Go's url.Error quoting the whole URL) goes
//     through Secrets.Scrub, which replaces each secret the endpoint holds,
//     raw and URL-escaped, by "(secret)".
//
// Secrets shorter than MinLen are not searched for: replacing every "abc"
// in a message would make it unreadable, and such a secret is no protection
// anyway.
package redact

import (
	"net/url"
	"sort"
	"strings"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/syntax/value"
)

// Mask replaces a URL's password and query values.
const Mask = value.URLMask

// Replacement replaces a secret found in a message.
const Replacement = "(secret)"

// MinLen is the length below which a secret is not scrubbed from messages.
const MinLen = 4

// URL is raw with its password and every query value replaced by Mask and
// its fragment removed, or "(invalid URL)" if it does not parse (see
// value.MaskURL). Query keys are kept (sorted), so the URL stays
// recognisable.
func URL(raw string) string { return value.MaskURL(raw) }

// Secrets is the set of secret values an endpoint holds, longest first so
// that a secret containing another is replaced whole. The zero value is an
// empty set.
type Secrets struct {
	list []string
}

// Add adds values (and their URL-escaped forms) of at least MinLen bytes.
func (s *Secrets) Add(values ...string) {
	for _, v := range values {
		if len(v) < MinLen {
			continue
		}
		s.list = append(s.list, v)
		if q := url.QueryEscape(v); q != v {
			s.list = append(s.list, q)
		}
		if p := url.PathEscape(v); p != v {
			s.list = append(s.list, p)
		}
	}
	sort.SliceStable(s.list, func(i, j int) bool { return len(s.list[i]) > len(s.list[j]) })
}

// AddURL adds the password and every query value of a URL; for a URL given
// as a secret also the whole URL and its host, which a transport error
// ("lookup <host>: no such host") would otherwise show.
func (s *Secrets) AddURL(v value.URL) {
	raw := v.Raw()
	if v.IsSecret() {
		s.Add(raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return
	}
	if v.IsSecret() {
		s.Add(u.Host, u.Hostname())
	}
	if p, ok := u.User.Password(); ok {
		s.Add(p)
	}
	for _, vs := range u.Query() {
		s.Add(vs...)
	}
}

// AddHTTPClient adds every secret of an HTTP client block (httpclient's
// Secrets: tokens, passwords, keys, header values, OAuth2 client secrets)
// and the query values of its proxy URLs.
func (s *Secrets) AddHTTPClient(hc httpclient.Config) {
	s.AddURL(hc.ProxyURL)
	if hc.OAuth2 != nil {
		s.AddURL(hc.OAuth2.ProxyURL)
		s.AddURL(hc.OAuth2.TokenURL)
	}
	s.Add(hc.Secrets()...)
}

// AddSigV4 adds the secret keys and session token of a SigV4 block.
func (s *Secrets) AddSigV4(sv *aws.SigV4Config) {
	if sv == nil {
		return
	}
	s.Add(string(sv.SecretKey), string(sv.SecretAccessKey))
	if c := sv.Credentials; c != nil {
		s.Add(string(c.SecretAccessKey), string(c.Token))
	}
}

// List returns the secrets, longest first.
func (s *Secrets) List() []string { return s.list }

// Scrub replaces every secret in msg by Replacement.
func (s *Secrets) Scrub(msg string) string {
	if s == nil {
		return msg
	}
	for _, sec := range s.list {
		msg = strings.ReplaceAll(msg, sec, Replacement)
	}
	return msg
}
