package value

import (
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// URL is a URL that may carry credentials: a password in its user info
// (https://user:pass@host/) or tokens in its query string (?api_token=…),
// as remote-write, Loki and proxy URLs often do. The component gets the URL
// as written (Raw); everything that shows it (String, JSON, text, logs, the
// API's arguments, the config source the UI shows) shows MaskURL's form,
// which keeps the scheme, user, host and path an operator needs to see.
//
// A URL given as a secret (url = local.file.endpoint.content, with
// is_secret) is shown as "(secret)" whole: its writer decided the host is
// secret too.
//
// The zero URL is empty (an optional URL that is not set).
type URL struct {
	raw    string
	secret bool
}

// NewURL returns raw as a URL shown with its credentials masked.
func NewURL(raw string) URL { return URL{raw: raw} }

// NewSecretURL returns raw as a URL shown as "(secret)".
func NewSecretURL(raw string) URL { return URL{raw: raw, secret: true} }

// Raw returns the URL as written, credentials included: for sending requests
// only, never for a message.
func (u URL) Raw() string { return u.raw }

// IsZero reports whether the URL is empty.
func (u URL) IsZero() bool { return u.raw == "" }

// IsSecret reports whether the URL was given as a secret.
func (u URL) IsSecret() bool { return u.secret }

// String is the URL as it may be shown: MaskURL's form, or "(secret)".
func (u URL) String() string {
	if u.secret {
		return Redacted
	}
	return MaskURL(u.raw)
}

func (u URL) GoString() string             { return u.String() }
func (u URL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }
func (u URL) LogValue() slog.Value         { return slog.StringValue(u.String()) }

// URLMask replaces a URL's password and query values where it is shown.
const URLMask = "xxxxx"

// invalidURL is shown for a URL that does not parse: its parts cannot be
// told apart, so none is shown.
const invalidURL = "(invalid URL)"

type urlMark struct{}

// URLMark is the cty value mark of a string encoded from a URL: the string
// is the real URL (so a changed password is a changed value), and ToJSON
// shows it through MaskURL.
var URLMark = urlMark{}

// URLVal returns raw as a cty string marked URLMark.
func URLVal(raw string) cty.Value { return cty.StringVal(raw).Mark(URLMark) }

// URLHides reports whether showing raw as written would show a credential:
// it has a password, a query string or a fragment, or it does not parse (so
// what it holds cannot be told). MaskURL(raw) is raw itself when this is
// false.
func URLHides(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return true
	}
	_, pw := u.User.Password()
	return pw || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != ""
}

// MaskURL returns raw with the password of its user info and every query
// value replaced by URLMask and its fragment cut, the way Prometheus and
// loki.write show endpoint URLs: services and proxies put tokens in either.
// Query keys are kept (sorted, each once), so the URL stays recognisable. A
// URL that does not parse is "(invalid URL)"; one with nothing to hide is
// returned as written.
func MaskURL(raw string) string {
	if !URLHides(raw) {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalidURL
	}
	if u.RawQuery != "" {
		q, _ := url.ParseQuery(u.RawQuery)
		keys := slices.Sorted(maps.Keys(q))
		var b strings.Builder
		for i, k := range keys {
			if i > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteString("=" + URLMask)
		}
		u.RawQuery = b.String()
	}
	u.ForceQuery = false
	u.Fragment, u.RawFragment = "", ""
	return u.Redacted()
}
