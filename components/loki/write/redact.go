package write

import (
	"net/url"
	"sort"
	"strings"
)

// Secrets never leave an endpoint in clear: not in logs, errors, health,
// debug info or metric labels. Two mechanisms do it:
//
//   - The endpoint's URL is only ever shown redacted (redactURL): the
//     password of its user info and every query-string value are replaced,
//     since services such as Grafana Cloud or a proxy put tokens there. The
//     endpoint's default name (a metric label) is host and path only.
//   - Every message that can carry text from elsewhere (Loki's answer body,
//     a transport error) goes through scrub, which replaces each secret the
//     endpoint holds (URL password and query values, bearer token, basic_auth
//     password, authorization credentials, header values, TLS key, SigV4
//     keys) in raw and URL-escaped form. Loki or a proxy echoing a request
//     back, or Go's url.Error quoting the whole URL, cannot leak them.
//
// Secrets shorter than minScrubLen are not searched for: replacing every
// "abc" in a message would make it unreadable, and such a secret is no
// protection anyway.
const minScrubLen = 4

const redacted = "xxxxx"

// redactURL is raw with its password and query values replaced, as shown in
// logs, errors and debug info.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	if u.RawQuery != "" {
		q := u.Query()
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for i, k := range keys {
			if i > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteString("=" + redacted)
		}
		u.RawQuery = b.String()
	}
	u.Fragment, u.RawFragment = "", ""
	return u.Redacted()
}

// secretsOf lists the secret values an endpoint's configuration holds.
func secretsOf(ea EndpointArgs) []string {
	var s []string
	add := func(v string) {
		if len(v) < minScrubLen {
			return
		}
		s = append(s, v)
		if q := url.QueryEscape(v); q != v {
			s = append(s, q)
		}
		if p := url.PathEscape(v); p != v {
			s = append(s, p)
		}
	}
	if u, err := url.Parse(ea.URL); err == nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v)
			}
		}
	}
	for _, v := range ea.Headers {
		add(v)
	}
	for _, v := range ea.HTTPClient.Secrets() {
		add(v)
	}
	if sv := ea.sigV4(); sv != nil {
		add(string(sv.SecretKey))
		add(string(sv.SecretAccessKey))
		if c := sv.Credentials; c != nil {
			add(string(c.SecretAccessKey))
			add(string(c.Token))
		}
	}
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	return s
}

// scrub replaces every secret in msg by "(secret)".
func scrub(msg string, secrets []string) string {
	for _, sec := range secrets {
		msg = strings.ReplaceAll(msg, sec, "(secret)")
	}
	return msg
}
