// Package httpclient is the HTTP client block shared by every component that
// talks HTTP to a configurable server (prometheus.scrape, prometheus.remote_write,
// loki.write): basic_auth, authorization, bearer_token(_file), tls_config,
// proxy_url, follow_redirects, enable_http2. It is a thin adapter onto
// github.com/prometheus/common/config.HTTPClientConfig, which builds the
// client, reloads token and certificate files, and is what Prometheus itself
// uses, so flow behaves exactly as a Prometheus scrape or remote-write config
// with the same settings.
//
// Components embed Config with `river:",squash"` so its fields sit directly in
// the component's block, as in Alloy.
package httpclient

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/flow-telemetry/flow/syntax/value"
	"github.com/prometheus/common/config"
)

// Config is the HTTP client settings of a component.
type Config struct {
	BasicAuth       *BasicAuth     `river:"basic_auth,block,optional"`
	Authorization   *Authorization `river:"authorization,block,optional"`
	BearerToken     value.Secret   `river:"bearer_token,attr,optional"`
	BearerTokenFile string         `river:"bearer_token_file,attr,optional"`
	TLSConfig       *TLSConfig     `river:"tls_config,block,optional"`

	ProxyURL             string `river:"proxy_url,attr,optional"`
	NoProxy              string `river:"no_proxy,attr,optional"`
	ProxyFromEnvironment bool   `river:"proxy_from_environment,attr,optional"`

	FollowRedirects bool `river:"follow_redirects,attr,optional"`
	EnableHTTP2     bool `river:"enable_http2,attr,optional"`
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

// TLSConfig is the `tls_config { … }` block. PEM text and file paths are
// alternatives for each of the CA, certificate and key.
type TLSConfig struct {
	CA                 string       `river:"ca_pem,attr,optional"`
	CAFile             string       `river:"ca_file,attr,optional"`
	Cert               string       `river:"cert_pem,attr,optional"`
	CertFile           string       `river:"cert_file,attr,optional"`
	Key                value.Secret `river:"key_pem,attr,optional"`
	KeyFile            string       `river:"key_file,attr,optional"`
	ServerName         string       `river:"server_name,attr,optional"`
	InsecureSkipVerify bool         `river:"insecure_skip_verify,attr,optional"`
	// MinVersion is "TLS10", "TLS11", "TLS12" or "TLS13"; empty means Go's default.
	MinVersion string `river:"min_version,attr,optional"`
}

// Default returns Prometheus' defaults: follow redirects and allow HTTP/2.
func Default() Config {
	return Config{FollowRedirects: true, EnableHTTP2: true}
}

// SetToDefault gives c Prometheus' defaults. Components embedding Config call
// it from their own SetToDefault.
func (c *Config) SetToDefault() { *c = Default() }

// Validate checks that at most one authentication method is set and that
// every field parses. It never includes secret values in its error.
func (c *Config) Validate() error {
	_, err := c.Convert()
	return err
}

// Convert returns the Prometheus HTTPClientConfig for c, validated.
func (c Config) Convert() (config.HTTPClientConfig, error) {
	out := config.HTTPClientConfig{
		BearerToken:     config.Secret(c.BearerToken),
		BearerTokenFile: c.BearerTokenFile,
		FollowRedirects: c.FollowRedirects,
		EnableHTTP2:     c.EnableHTTP2,
	}
	if c.BasicAuth != nil {
		if c.BasicAuth.Password != "" && c.BasicAuth.PasswordFile != "" {
			return out, errors.New("basic_auth: set password or password_file, not both")
		}
		out.BasicAuth = &config.BasicAuth{
			Username:     c.BasicAuth.Username,
			Password:     config.Secret(c.BasicAuth.Password),
			PasswordFile: c.BasicAuth.PasswordFile,
		}
	}
	if c.Authorization != nil {
		out.Authorization = &config.Authorization{
			Type:            c.Authorization.Type,
			Credentials:     config.Secret(c.Authorization.Credentials),
			CredentialsFile: c.Authorization.CredentialsFile,
		}
	}
	if t := c.TLSConfig; t != nil {
		if t.CA != "" && t.CAFile != "" {
			return out, errors.New("tls_config: set ca_pem or ca_file, not both")
		}
		if t.Cert != "" && t.CertFile != "" {
			return out, errors.New("tls_config: set cert_pem or cert_file, not both")
		}
		if t.Key != "" && t.KeyFile != "" {
			return out, errors.New("tls_config: set key_pem or key_file, not both")
		}
		out.TLSConfig = config.TLSConfig{
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
				return out, fmt.Errorf("tls_config: unknown min_version %q; use TLS10, TLS11, TLS12 or TLS13", t.MinVersion)
			}
			out.TLSConfig.MinVersion = v
		}
	}
	if c.ProxyURL != "" {
		u, err := url.Parse(c.ProxyURL)
		if err != nil {
			// url.Parse's error quotes the URL, which may hold a password.
			return out, errors.New("proxy_url: not a valid URL")
		}
		if c.ProxyFromEnvironment {
			return out, errors.New("set proxy_url or proxy_from_environment, not both")
		}
		out.ProxyURL = config.URL{URL: u}
	}
	out.NoProxy = c.NoProxy
	out.ProxyFromEnvironment = c.ProxyFromEnvironment
	if c.NoProxy != "" && c.ProxyURL == "" {
		return out, errors.New("no_proxy requires proxy_url")
	}
	// Validate also moves bearer_token(_file) into Authorization, as the
	// client builder expects.
	if err := out.Validate(); err != nil {
		return out, err
	}
	return out, nil
}

// Build returns an *http.Client configured by c. name appears in the
// client's user-visible metrics and connection tracking, as in Prometheus.
func (c Config) Build(name string, opts ...config.HTTPClientOption) (*http.Client, error) {
	pc, err := c.Convert()
	if err != nil {
		return nil, err
	}
	return config.NewClientFromConfig(pc, name, opts...)
}

// RoundTripper returns the round tripper of the client Build would return,
// for callers that wrap it (signing, observing responses).
func (c Config) RoundTripper(name string, opts ...config.HTTPClientOption) (http.RoundTripper, error) {
	pc, err := c.Convert()
	if err != nil {
		return nil, err
	}
	return config.NewRoundTripperFromConfig(pc, name, opts...)
}
