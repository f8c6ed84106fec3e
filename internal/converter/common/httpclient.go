package common

import (
	"fmt"

	promconfig "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/flow-telemetry/flow/internal/converter/diag"
	"github.com/flow-telemetry/flow/internal/converter/river"
)

// HTTPClient writes the HTTP client settings flow's components share
// (components/common/httpclient) into b, leaving out values equal to the
// component's defaults (follow_redirects and enable_http2 as given), and
// reports the settings flow does not have at their key in parent, the YAML
// mapping that holds them inline.
func (c *Context) HTTPClient(b *river.Body, h promconfig.HTTPClientConfig, parent *yaml.Node, followRedirects, enableHTTP2 bool) {
	unsupported := func(key, hint string) {
		k, _ := Key(parent, key)
		c.Reportf(k, diag.Error, hint, "%s is not converted: flow's HTTP client has no %s setting", key, key)
	}
	if ba := h.BasicAuth; ba != nil {
		bb := b.Block("basic_auth", "")
		bb.OptString("username", ba.Username)
		bb.OptString("password", string(ba.Password))
		bb.OptString("password_file", ba.PasswordFile)
		if ba.UsernameFile != "" || ba.UsernameRef != "" || ba.PasswordRef != "" {
			k, _ := Key(Value(parent, "basic_auth"), "username_file")
			if k == nil {
				k, _ = Key(parent, "basic_auth")
			}
			c.Report(k, diag.Error, "basic_auth: username_file and *_ref are not converted", "put the username in the config, or read it with local.file")
		}
	}
	if a := h.Authorization; a != nil {
		ab := b.Block("authorization", "")
		if a.Type != "" && a.Type != "Bearer" {
			ab.Attr("type", river.String(a.Type))
		}
		ab.OptString("credentials", string(a.Credentials))
		ab.OptString("credentials_file", a.CredentialsFile)
	}
	b.OptString("bearer_token", string(h.BearerToken))
	b.OptString("bearer_token_file", h.BearerTokenFile)
	if h.OAuth2 != nil {
		unsupported("oauth2", "use basic_auth, authorization or bearer_token, or put an OAuth2 proxy in front")
	}
	if h.HTTPHeaders != nil && len(h.HTTPHeaders.Headers) > 0 {
		unsupported("http_headers", "set the headers on the receiving side, or use the component's headers attribute where it has one")
	}
	if len(h.ProxyConnectHeader) > 0 {
		unsupported("proxy_connect_header", "configure the proxy to accept the connection without extra CONNECT headers")
	}
	t := h.TLSConfig
	if t != (promconfig.TLSConfig{}) {
		tb := b.Block("tls_config", "")
		str := func(name, v string) {
			if v != "" {
				tb.Attr(name, river.String(v))
			}
		}
		str("ca_pem", t.CA)
		str("ca_file", t.CAFile)
		str("cert_pem", t.Cert)
		str("cert_file", t.CertFile)
		str("key_pem", string(t.Key))
		str("key_file", t.KeyFile)
		str("server_name", t.ServerName)
		if t.InsecureSkipVerify {
			tb.Attr("insecure_skip_verify", river.Bool(true))
		}
		if t.MinVersion != 0 {
			str("min_version", t.MinVersion.String())
		}
		if t.MaxVersion != 0 || t.CARef != "" || t.CertRef != "" || t.KeyRef != "" {
			k, _ := Key(parent, "tls_config")
			c.Report(k, diag.Error, "tls_config: max_version and *_ref are not converted", "remove them; flow negotiates up to TLS 1.3 and reads PEM from files or the config")
		}
	}
	if u := h.ProxyURL; u.URL != nil && u.String() != "" {
		b.Attr("proxy_url", river.String(u.String()))
	}
	b.OptString("no_proxy", h.NoProxy)
	if h.ProxyFromEnvironment {
		b.Attr("proxy_from_environment", river.Bool(true))
	}
	if h.FollowRedirects != followRedirects {
		b.Attr("follow_redirects", river.Bool(h.FollowRedirects))
	}
	if h.EnableHTTP2 != enableHTTP2 {
		b.Attr("enable_http2", river.Bool(h.EnableHTTP2))
	}
}

// Unhandled reports every key of mapping m that handled does not name,
// as not converted (an Error), so nothing is dropped silently. what names
// the section ("scrape config", "remote_write") for the message.
func (c *Context) Unhandled(m *yaml.Node, what string, handled map[string]bool, hint string) {
	Pairs(m, func(k, _ *yaml.Node) {
		if !handled[k.Value] && !c.Src.Stripped(k) {
			c.Report(k, diag.Error, fmt.Sprintf("%s: %s is not converted: flow has no equivalent", what, k.Value), hint)
		}
	})
}

// HTTPClientKeys are the HTTP client settings HTTPClient handles or reports.
var HTTPClientKeys = []string{
	"basic_auth", "authorization", "oauth2", "bearer_token", "bearer_token_file", "tls_config",
	"proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header",
	"follow_redirects", "enable_http2", "http_headers",
}

// Keys builds a set for Unhandled.
func Keys(lists ...[]string) map[string]bool {
	m := map[string]bool{}
	for _, l := range lists {
		for _, k := range l {
			m[k] = true
		}
	}
	return m
}
