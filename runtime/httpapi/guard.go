package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The control plane has no authentication: it answers whoever can connect,
// which by default is the local host only (127.0.0.1:12345). What it must
// stop is the operator's own browser being used against it: a web page from
// any origin can send requests to 127.0.0.1, and a DNS-rebinding page (a
// name of the attacker's that first resolves to the attacker and then to
// 127.0.0.1) can even read the answers. guard stops both, before any
// handler runs:
//
//   - The Host header must be an IP literal, localhost or *.localhost (which
//     browsers resolve to loopback themselves), the host of the listen
//     address, or a name the operator allowed (--server.http.allowed-hosts).
//     A rebinding page's requests carry the attacker's name and get 403.
//   - A request from another site (Fetch Metadata: Sec-Fetch-Site
//     cross-site or same-site, the latter including another port of the same
//     host) is refused unless it is a plain top-level navigation (a link to
//     the UI keeps working): no cross-site <img>, <script>, fetch or form
//     reaches any endpoint.
//   - A state-changing request (any method but GET, HEAD and OPTIONS) is
//     refused when Sec-Fetch-Site is anything but same-origin or none, or
//     when it carries an Origin other than the request's own host or an
//     allowed name. Browsers too old to send Sec-Fetch-Site still send
//     Origin on every cross-origin POST.
//
// On top of that, /-/reload applies a config from its body only with the
// header X-Flow-Reload (see reload): a browser cannot add a custom header to
// a cross-origin request without a CORS preflight, which flow never answers.
// Non-browser clients (curl, scripts, probes, Prometheus) send no Fetch
// Metadata or Origin and are unaffected by the last two rules.

// ReloadHeader must accompany a config posted in the body of /-/reload.
const ReloadHeader = "X-Flow-Reload"

// guard wraps every endpoint with the Host, Fetch Metadata and Origin checks
// and the response headers that keep flow's pages out of other sites' frames.
func (a *API) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if !a.hostAllowed(r.Host) {
			a.forbid(w, r, fmt.Sprintf("Host %q is not allowed: flow answers only requests addressed to an IP address, localhost, "+
				"its listen address or a name allowed with --server.http.allowed-hosts (this stops DNS-rebinding web pages); "+
				"to reach flow by this name, run it with --server.http.allowed-hosts=%s", r.Host, hostOnly(r.Host)))
			return
		}
		if msg := a.crossSite(r); msg != "" {
			a.forbid(w, r, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// crossSite returns why r, sent by a browser on behalf of another site, is
// refused; "" lets it through.
func (a *API) crossSite(r *http.Request) string {
	site := r.Header.Get("Sec-Fetch-Site")
	unsafe := r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
	switch site {
	case "", "same-origin", "none":
	default:
		if unsafe {
			return fmt.Sprintf("cross-site request refused: %s %s came from another site (Sec-Fetch-Site: %s); "+
				"only flow's own UI and clients that are not browsers (curl) may change flow's state", r.Method, r.URL.Path, site)
		}
		// A link from another page to flow's UI (a top-level navigation)
		// is fine; an <img>, <script>, iframe or fetch from another site is not.
		if r.Header.Get("Sec-Fetch-Mode") != "navigate" || r.Header.Get("Sec-Fetch-Dest") != "document" {
			return fmt.Sprintf("cross-site request refused: %s %s was made by a page of another site (Sec-Fetch-Site: %s, Sec-Fetch-Mode: %s, Sec-Fetch-Dest: %s); "+
				"open flow's UI directly instead", r.Method, r.URL.Path, site, r.Header.Get("Sec-Fetch-Mode"), r.Header.Get("Sec-Fetch-Dest"))
		}
	}
	if !unsafe {
		return ""
	}
	if origin := r.Header.Get("Origin"); origin != "" && !a.originAllowed(origin, r.Host) {
		return fmt.Sprintf("cross-origin request refused: %s %s came from a page at %q, not from flow's own UI at %q; "+
			"only flow's own UI and clients that are not browsers (curl) may change flow's state", r.Method, r.URL.Path, origin, r.Host)
	}
	return ""
}

// originAllowed reports whether an Origin header names flow itself: the
// request's own host, or a name the operator allowed (flow behind a proxy
// that rewrites Host).
func (a *API) originAllowed(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false // includes "null": sandboxed frames, file:// pages
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	return a.allowedName(u.Host)
}

// hostAllowed reports whether a Host header may reach flow. An empty Host
// (an HTTP/1.0 request) is not something a browser sends.
func (a *API) hostAllowed(hostport string) bool {
	if hostport == "" {
		return true
	}
	host := hostOnly(hostport)
	if _, err := netip.ParseAddr(host); err == nil { // IPv4, IPv6, IPv6 with a zone
		// A browser sends an IP literal only when the page's own origin
		// is that IP, so no other site's page can get its answers.
		return true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if lh := hostOnly(a.ListenAddr); lh != "" && host == lh {
		return true
	}
	return a.allowedName(hostport)
}

// allowedName reports whether hostport matches --server.http.allowed-hosts:
// an entry with a port matches that host and port, one without matches the
// host on any port.
func (a *API) allowedName(hostport string) bool {
	host := hostOnly(hostport)
	hp := strings.ToLower(strings.TrimSuffix(hostport, "."))
	for _, allowed := range a.AllowedHosts {
		if allowed == host || allowed == hp {
			return true
		}
	}
	return false
}

// hostOnly returns the lower-cased host of a host[:port], without IPv6
// brackets or a trailing dot (the fully qualified "localhost." is localhost).
func hostOnly(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ".")
	return strings.ToLower(host)
}

// ParseAllowedHosts parses --server.http.allowed-hosts: a comma-separated
// list of host names, each optionally with a port ("flow.example",
// "flow.example:8080"). IP addresses need no entry: they are always allowed.
func ParseAllowedHosts(list string) ([]string, error) {
	var out []string
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.ContainsAny(e, "/*@ ") {
			return nil, fmt.Errorf("--server.http.allowed-hosts: %q is not a host name: want a name such as flow.example or flow.example:12345 (no scheme, path or wildcard)", e)
		}
		host := e
		if h, port, err := net.SplitHostPort(e); err == nil {
			if port == "" {
				return nil, fmt.Errorf("--server.http.allowed-hosts: %q has an empty port", e)
			}
			host = h
		}
		if host == "" {
			return nil, fmt.Errorf("--server.http.allowed-hosts: %q has no host name", e)
		}
		out = append(out, strings.ToLower(strings.TrimSuffix(e, ".")))
	}
	return out, nil
}

// forbid answers 403 with msg, as JSON when the client asked for it, and
// logs the refusal.
func (a *API) forbid(w http.ResponseWriter, r *http.Request, msg string) {
	if n, ok := a.refusals.allow(time.Now()); ok {
		args := []any{"method", r.Method, "path", r.URL.Path, "host", r.Host, "remote", r.RemoteAddr, "reason", msg}
		if n > 0 {
			args = append(args, "suppressed_since_last", n)
		}
		a.Logger.Warn("refused a control-plane request", args...)
	}
	a.fail(w, r, http.StatusForbidden, msg, nil, nil)
}

// refusalLogInterval is the least time between two logged refusals: a
// hostile page looping over fetches must not flood the log.
const refusalLogInterval = 10 * time.Second

// refusalLog rate-limits the log of refused requests.
type refusalLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether a refusal at now is logged and, if so, how many
// were suppressed since the last one logged.
func (l *refusalLog) allow(now time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < refusalLogInterval {
		l.suppressed++
		return 0, false
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return n, true
}
