// Package httpclient is the HTTP client surface shared by every component
// that talks HTTP to a configurable server (discovery.ec2, prometheus.scrape,
// prometheus.remote_write and loki.write endpoints): Alloy's whole set of
// client settings, `authorization`, `basic_auth`, `bearer_token(_file)`,
// `oauth2` (client credentials or JWT bearer grant, with its own proxy and
// `tls_config`), `tls_config`, `proxy_url`, `no_proxy`,
// `proxy_from_environment`, `proxy_connect_header`, `follow_redirects`,
// `enable_http2` and `http_headers`.
//
// It is a thin adapter onto github.com/prometheus/common/config's
// HTTPClientConfig, which builds the client, fetches and refreshes OAuth2
// tokens (golang.org/x/oauth2), re-reads token, password and certificate
// files, and is what Prometheus and Alloy use, so flow behaves exactly as
// they do with the same settings. This package only maps names, checks
// combinations with errors that name the field (never a value), and keeps
// every credential a value.Secret so it never shows in the UI, the API or
// logs.
//
// Components embed Config with `river:",squash"` so its fields sit directly in
// the component's block, as in Alloy.
package httpclient

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/prometheus/common/config"
	"golang.org/x/net/http/httpguts"

	"github.com/flow-telemetry/flow/syntax/value"
)

// Config is the HTTP client settings of a component.
type Config struct {
	BasicAuth       *BasicAuth     `river:"basic_auth,block,optional"`
	Authorization   *Authorization `river:"authorization,block,optional"`
	OAuth2          *OAuth2        `river:"oauth2,block,optional"`
	BearerToken     value.Secret   `river:"bearer_token,attr,optional"`
	BearerTokenFile string         `river:"bearer_token_file,attr,optional"`
	TLSConfig       *TLSConfig     `river:"tls_config,block,optional"`

	ProxyConfig `river:",squash"`

	FollowRedirects bool `river:"follow_redirects,attr,optional"`
	EnableHTTP2     bool `river:"enable_http2,attr,optional"`

	// HTTPHeaders are added to every request: header name → values. The
	// values are secrets (they often carry API keys).
	HTTPHeaders map[string][]value.Secret `river:"http_headers,attr,optional"`
}

// ProxyConfig is the proxy settings, squashed into Config and OAuth2.
//
// proxy_url is a value.URL: written as a string as in Alloy (or a secret),
// and shown everywhere (the API, the UI's config view, logs) with its
// password and query values masked, since a proxy URL often carries
// credentials; one given as a secret is shown as "(secret)".
type ProxyConfig struct {
	ProxyURL             value.URL `river:"proxy_url,attr,optional"`
	NoProxy              string    `river:"no_proxy,attr,optional"`
	ProxyFromEnvironment bool      `river:"proxy_from_environment,attr,optional"`
	// ProxyConnectHeader is sent to the proxy with CONNECT (https targets
	// through an http proxy), typically Proxy-Authorization.
	ProxyConnectHeader map[string][]value.Secret `river:"proxy_connect_header,attr,optional"`
}

// BasicAuth is the `basic_auth { username, password | password_file }` block.
type BasicAuth struct {
	Username     string       `river:"username,attr,optional"`
	Password     value.Secret `river:"password,attr,optional"`
	PasswordFile string       `river:"password_file,attr,optional"`
}

// Authorization is the `authorization { type, credentials | credentials_file }`
// block; type defaults to "Bearer".
type Authorization struct {
	Type            string       `river:"type,attr,optional"`
	Credentials     value.Secret `river:"credentials,attr,optional"`
	CredentialsFile string       `river:"credentials_file,attr,optional"`
}

// GrantJWTBearer is the RFC 7523 grant type of oauth2's grant_type.
const GrantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// GrantClientCredentials is oauth2's default grant type.
const GrantClientCredentials = "client_credentials"

// OAuth2 is the `oauth2 { … }` block: a token is fetched from token_url
// (client credentials, or a JWT signed with client_certificate_key for the
// JWT bearer grant), cached, refreshed before it expires and sent as
// "Authorization: Bearer …". Requests to token_url use the block's own proxy
// and tls_config.
type OAuth2 struct {
	ClientID         string            `river:"client_id,attr,optional"`
	ClientSecret     value.Secret      `river:"client_secret,attr,optional"`
	ClientSecretFile string            `river:"client_secret_file,attr,optional"`
	Scopes           []string          `river:"scopes,attr,optional"`
	TokenURL         value.URL         `river:"token_url,attr,optional"`
	EndpointParams   map[string]string `river:"endpoint_params,attr,optional"`

	// GrantType is "client_credentials" (default) or GrantJWTBearer.
	GrantType                string         `river:"grant_type,attr,optional"`
	ClientCertificateKey     value.Secret   `river:"client_certificate_key,attr,optional"`
	ClientCertificateKeyFile string         `river:"client_certificate_key_file,attr,optional"`
	ClientCertificateKeyID   string         `river:"client_certificate_key_id,attr,optional"`
	SignatureAlgorithm       string         `river:"signature_algorithm,attr,optional"`
	Iss                      string         `river:"iss,attr,optional"`
	Audience                 string         `river:"audience,attr,optional"`
	Claims                   map[string]any `river:"claims,attr,optional"`

	ProxyConfig `river:",squash"`
	TLSConfig   *TLSConfig `river:"tls_config,block,optional"`
}

// TLSConfig is the `tls_config { … }` block. PEM text and file paths are
// alternatives for each of the CA, certificate and key; files are re-read
// when they change, so rotated certificates are picked up without a reload.
type TLSConfig struct {
	CA                 string       `river:"ca_pem,attr,optional"`
	CAFile             string       `river:"ca_file,attr,optional"`
	Cert               string       `river:"cert_pem,attr,optional"`
	CertFile           string       `river:"cert_file,attr,optional"`
	Key                value.Secret `river:"key_pem,attr,optional"`
	KeyFile            string       `river:"key_file,attr,optional"`
	ServerName         string       `river:"server_name,attr,optional"`
	InsecureSkipVerify bool         `river:"insecure_skip_verify,attr,optional"`
	// MinVersion is "TLS10", "TLS11", "TLS12" or "TLS13"; empty means Go's default (TLS 1.2).
	MinVersion string `river:"min_version,attr,optional"`
}

// Default returns Alloy's and Prometheus' defaults: follow redirects and
// allow HTTP/2.
func Default() Config {
	return Config{FollowRedirects: true, EnableHTTP2: true}
}

// SetToDefault gives c Prometheus' defaults. Components embedding Config call
// it from their own SetToDefault.
func (c *Config) SetToDefault() { *c = Default() }

// Validate checks that at most one authentication method is set and that
// every field parses. Its errors name the field and never include a value.
func (c *Config) Validate() error {
	_, err := c.Convert()
	return err
}

// HasAuth reports whether an authentication method (basic_auth,
// authorization, oauth2, bearer_token or bearer_token_file) is set.
func (c *Config) HasAuth() bool {
	return c.BasicAuth != nil || c.Authorization != nil || c.OAuth2 != nil || c.BearerToken != "" || c.BearerTokenFile != ""
}

// AuthNames lists the authentication settings that are set, by their
// config names.
func (c *Config) AuthNames() []string {
	var out []string
	if c.BasicAuth != nil {
		out = append(out, "basic_auth")
	}
	if c.Authorization != nil {
		out = append(out, "authorization")
	}
	if c.OAuth2 != nil {
		out = append(out, "oauth2")
	}
	if c.BearerToken != "" {
		out = append(out, "bearer_token")
	}
	if c.BearerTokenFile != "" {
		out = append(out, "bearer_token_file")
	}
	return out
}

// AuthSettings are Config's authentication settings, by their config names,
// in the order AuthNames lists them.
var AuthSettings = []string{"basic_auth", "authorization", "oauth2", "bearer_token", "bearer_token_file"}

// OneAuthorization is the rule of every HTTP client with several ways to
// authenticate (Config alone, loki.write with aws_sigv4,
// prometheus.remote_write with aws_sigv4, azuread and google_iam): each of
// them sets the Authorization header, so a second one would overwrite the
// first (an oauth2 token would replace a SigV4 signature), and at most one
// may be set. accepted names every setting the component takes, for the
// message; set names those that are set, in accepted's order. The message
// tells the user to keep the first and remove the others.
func OneAuthorization(accepted, set []string) error {
	if len(set) <= 1 {
		return nil
	}
	list := strings.Join(accepted[:len(accepted)-1], ", ") + " & " + accepted[len(accepted)-1]
	return fmt.Errorf("at most one of %s must be configured, since each sets the Authorization header; found %s: keep %s and remove %s",
		list, strings.Join(set, ", "), set[0], strings.Join(set[1:], ", "))
}

// WithoutAuth returns c with every authentication setting removed (TLS,
// proxy, headers and the rest kept).
func (c Config) WithoutAuth() Config {
	c.BasicAuth, c.Authorization, c.OAuth2 = nil, nil, nil
	c.BearerToken, c.BearerTokenFile = "", ""
	return c
}

// Convert returns the Prometheus HTTPClientConfig for c, validated.
func (c Config) Convert() (config.HTTPClientConfig, error) {
	out := config.HTTPClientConfig{
		BearerToken:     config.Secret(c.BearerToken),
		BearerTokenFile: c.BearerTokenFile,
		FollowRedirects: c.FollowRedirects,
		EnableHTTP2:     c.EnableHTTP2,
	}
	if err := OneAuthorization(AuthSettings, c.AuthNames()); err != nil {
		return out, err
	}
	if b := c.BasicAuth; b != nil {
		if b.Password != "" && b.PasswordFile != "" {
			return out, errors.New("basic_auth: set password or password_file, not both")
		}
		out.BasicAuth = &config.BasicAuth{
			Username:     b.Username,
			Password:     config.Secret(b.Password),
			PasswordFile: b.PasswordFile,
		}
	}
	if a := c.Authorization; a != nil {
		if a.Credentials != "" && a.CredentialsFile != "" {
			return out, errors.New("authorization: set credentials or credentials_file, not both")
		}
		if strings.EqualFold(strings.TrimSpace(a.Type), "basic") {
			return out, errors.New(`authorization: type cannot be "Basic"; use the basic_auth block`)
		}
		out.Authorization = &config.Authorization{
			Type:            a.Type,
			Credentials:     config.Secret(a.Credentials),
			CredentialsFile: a.CredentialsFile,
		}
	}
	if o := c.OAuth2; o != nil {
		po, err := o.convert()
		if err != nil {
			return out, fmt.Errorf("oauth2: %w", err)
		}
		out.OAuth2 = po
	}
	if c.TLSConfig != nil {
		tc, err := c.TLSConfig.convert()
		if err != nil {
			return out, fmt.Errorf("tls_config: %w", err)
		}
		out.TLSConfig = tc
	}
	pc, err := c.ProxyConfig.convert()
	if err != nil {
		return out, err
	}
	out.ProxyConfig = pc
	if len(c.HTTPHeaders) > 0 {
		h, err := convertHeaders("http_headers", c.HTTPHeaders, true)
		if err != nil {
			return out, err
		}
		hs := &config.Headers{Headers: make(map[string]config.Header, len(h))}
		for name, vs := range h {
			hs.Headers[name] = config.Header{Secrets: vs}
		}
		out.HTTPHeaders = hs
	}
	// Validate also moves bearer_token(_file) into Authorization, as the
	// client builder expects. Every case it rejects was checked above with
	// flow's names; this is the backstop.
	if err := out.Validate(); err != nil {
		return out, err
	}
	return out, nil
}

func (o *OAuth2) convert() (*config.OAuth2, error) {
	if o.ClientID == "" {
		return nil, errors.New("client_id is required")
	}
	if o.TokenURL.IsZero() {
		return nil, errors.New("token_url is required")
	}
	if u, err := url.Parse(o.TokenURL.Raw()); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("token_url must be an http:// or https:// URL")
	}
	out := &config.OAuth2{
		ClientID:       o.ClientID,
		Scopes:         o.Scopes,
		TokenURL:       o.TokenURL.Raw(),
		EndpointParams: o.EndpointParams,
		GrantType:      o.GrantType,
	}
	switch o.GrantType {
	case "", GrantClientCredentials:
		out.GrantType = ""
		if o.ClientSecret != "" && o.ClientSecretFile != "" {
			return nil, errors.New("set client_secret or client_secret_file, not both")
		}
		if o.ClientCertificateKey != "" || o.ClientCertificateKeyFile != "" {
			return nil, fmt.Errorf("client_certificate_key is only used with grant_type = %q", GrantJWTBearer)
		}
		out.ClientSecret = config.Secret(o.ClientSecret)
		out.ClientSecretFile = o.ClientSecretFile
	case GrantJWTBearer:
		if o.ClientCertificateKey != "" && o.ClientCertificateKeyFile != "" {
			return nil, errors.New("set client_certificate_key or client_certificate_key_file, not both")
		}
		if o.ClientCertificateKey == "" && o.ClientCertificateKeyFile == "" {
			return nil, fmt.Errorf("grant_type %q needs client_certificate_key or client_certificate_key_file", GrantJWTBearer)
		}
		switch o.SignatureAlgorithm {
		case "", "RS256", "RS384", "RS512":
		default:
			return nil, fmt.Errorf("signature_algorithm %q is not RS256, RS384 or RS512", o.SignatureAlgorithm)
		}
		out.ClientCertificateKey = config.Secret(o.ClientCertificateKey)
		out.ClientCertificateKeyFile = o.ClientCertificateKeyFile
		out.ClientCertificateKeyID = o.ClientCertificateKeyID
		out.SignatureAlgorithm = o.SignatureAlgorithm
		out.Iss = o.Iss
		out.Audience = o.Audience
		out.Claims = plainClaims(o.Claims)
	default:
		return nil, fmt.Errorf("grant_type %q is not %q or %q", o.GrantType, GrantClientCredentials, GrantJWTBearer)
	}
	if o.TLSConfig != nil {
		tc, err := o.TLSConfig.convert()
		if err != nil {
			return nil, fmt.Errorf("tls_config: %w", err)
		}
		out.TLSConfig = tc
	}
	pc, err := o.ProxyConfig.convert()
	if err != nil {
		return nil, err
	}
	out.ProxyConfig = pc
	return out, nil
}

// plainClaims turns secrets inside JWT claims into their strings: the
// claims are signed into the token, not shown.
func plainClaims(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = plainClaim(v)
	}
	return out
}

func plainClaim(v any) any {
	switch v := v.(type) {
	case value.Secret:
		return string(v)
	case map[string]any:
		return plainClaims(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = plainClaim(e)
		}
		return out
	}
	return v
}

func (t *TLSConfig) convert() (config.TLSConfig, error) {
	switch {
	case t.CA != "" && t.CAFile != "":
		return config.TLSConfig{}, errors.New("set ca_pem or ca_file, not both")
	case t.Cert != "" && t.CertFile != "":
		return config.TLSConfig{}, errors.New("set cert_pem or cert_file, not both")
	case t.Key != "" && t.KeyFile != "":
		return config.TLSConfig{}, errors.New("set key_pem or key_file, not both")
	case (t.Cert != "" || t.CertFile != "") && t.Key == "" && t.KeyFile == "":
		return config.TLSConfig{}, errors.New("a client certificate (cert_pem or cert_file) needs its key (key_pem or key_file)")
	case (t.Key != "" || t.KeyFile != "") && t.Cert == "" && t.CertFile == "":
		return config.TLSConfig{}, errors.New("a client key (key_pem or key_file) needs its certificate (cert_pem or cert_file)")
	}
	out := config.TLSConfig{
		CA:                 t.CA,
		CAFile:             t.CAFile,
		Cert:               t.Cert,
		CertFile:           t.CertFile,
		Key:                config.Secret(t.Key),
		KeyFile:            t.KeyFile,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify,
	}
	if t.MinVersion != "" {
		v, ok := config.TLSVersions[strings.ToUpper(t.MinVersion)]
		if !ok {
			return out, fmt.Errorf("unknown min_version %q; use TLS10, TLS11, TLS12 or TLS13", t.MinVersion)
		}
		out.MinVersion = v
	}
	return out, nil
}

func (p *ProxyConfig) convert() (config.ProxyConfig, error) {
	var out config.ProxyConfig
	if !p.ProxyURL.IsZero() {
		u, err := url.Parse(p.ProxyURL.Raw())
		if err != nil || u.Host == "" {
			// url.Parse's error quotes the URL, which may hold a password.
			return out, errors.New("proxy_url: not a valid URL (expected a form such as http://proxy.example.com:3128)")
		}
		switch u.Scheme {
		case "http", "https", "socks5":
		default:
			return out, errors.New("proxy_url: the scheme must be http, https or socks5")
		}
		if p.ProxyFromEnvironment {
			return out, errors.New("set proxy_url or proxy_from_environment, not both")
		}
		out.ProxyURL = config.URL{URL: u}
	}
	if p.NoProxy != "" {
		if p.ProxyFromEnvironment {
			return out, errors.New("no_proxy cannot be used with proxy_from_environment (set NO_PROXY in the environment instead)")
		}
		if p.ProxyURL.IsZero() {
			return out, errors.New("no_proxy requires proxy_url")
		}
	}
	out.NoProxy = p.NoProxy
	out.ProxyFromEnvironment = p.ProxyFromEnvironment
	if len(p.ProxyConnectHeader) > 0 {
		if p.ProxyURL.IsZero() && !p.ProxyFromEnvironment {
			return out, errors.New("proxy_connect_header requires proxy_url or proxy_from_environment")
		}
		h, err := convertHeaders("proxy_connect_header", p.ProxyConnectHeader, false)
		if err != nil {
			return out, err
		}
		out.ProxyConnectHeader = h
	}
	return out, nil
}

// convertHeaders checks header names and values (without quoting a value)
// and, for request headers, refuses those Prometheus reserves (Authorization,
// Host, Content-Type, …: the protocol or an auth setting owns them).
func convertHeaders(field string, in map[string][]value.Secret, reserved bool) (config.ProxyHeader, error) {
	names := slices.Sorted(maps.Keys(in))
	out := make(config.ProxyHeader, len(in))
	for _, n := range names {
		if !httpguts.ValidHeaderFieldName(n) {
			return nil, fmt.Errorf("%s: %q is not a valid header name", field, n)
		}
		canon := http.CanonicalHeaderKey(n)
		if _, bad := config.ReservedHeaders[canon]; reserved && bad {
			return nil, fmt.Errorf("%s: setting header %q is not allowed (the protocol or an authentication setting owns it)", field, canon)
		}
		vs := make([]config.Secret, 0, len(in[n]))
		for i, v := range in[n] {
			if !httpguts.ValidHeaderFieldValue(string(v)) {
				return nil, fmt.Errorf("%s: value %d of header %q has a control character or newline", field, i+1, canon)
			}
			vs = append(vs, config.Secret(v))
		}
		out[canon] = append(out[canon], vs...)
	}
	return out, nil
}

// Secrets returns every secret value c holds (passwords, tokens, keys, header
// values, proxy_url and its password), for callers that scrub messages coming
// from elsewhere (a server's error body) before logging them.
func (c *Config) Secrets() []string {
	var s []string
	add := func(v value.Secret) {
		if v != "" {
			s = append(s, string(v))
		}
	}
	add(c.BearerToken)
	if c.BasicAuth != nil {
		add(c.BasicAuth.Password)
	}
	if c.Authorization != nil {
		add(c.Authorization.Credentials)
	}
	if c.TLSConfig != nil {
		add(c.TLSConfig.Key)
	}
	for _, vs := range c.HTTPHeaders {
		for _, v := range vs {
			add(v)
		}
	}
	s = append(s, c.ProxyConfig.secrets()...)
	if o := c.OAuth2; o != nil {
		add(o.ClientSecret)
		add(o.ClientCertificateKey)
		if o.TLSConfig != nil {
			add(o.TLSConfig.Key)
		}
		s = append(s, o.ProxyConfig.secrets()...)
	}
	return s
}

func (p *ProxyConfig) secrets() []string {
	var s []string
	if !p.ProxyURL.IsZero() {
		s = append(s, p.ProxyURL.Raw())
		if u, err := url.Parse(p.ProxyURL.Raw()); err == nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				s = append(s, pw)
			}
		}
	}
	for _, vs := range p.ProxyConnectHeader {
		for _, v := range vs {
			if v != "" {
				s = append(s, string(v))
			}
		}
	}
	return s
}

// Build returns an *http.Client configured by c. name appears in the
// client's connection tracking, as in Prometheus.
func (c Config) Build(name string, opts ...config.HTTPClientOption) (*http.Client, error) {
	pc, err := c.Convert()
	if err != nil {
		return nil, err
	}
	return config.NewClientFromConfig(pc, name, append(ClientOptions(), opts...)...)
}

// RoundTripper returns the round tripper of the client Build would return,
// for callers that wrap it (signing, observing responses).
func (c Config) RoundTripper(name string, opts ...config.HTTPClientOption) (http.RoundTripper, error) {
	pc, err := c.Convert()
	if err != nil {
		return nil, err
	}
	return config.NewRoundTripperFromConfig(pc, name, append(ClientOptions(), opts...)...)
}
