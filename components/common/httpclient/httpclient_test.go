package httpclient

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/httpfixture"
	"github.com/flow-telemetry/flow/internal/rivertest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/syntax/value"
)

// echoAuth answers with the Authorization header it received.
func echoAuth(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, r.Header.Get("Authorization"))
}

func get(t *testing.T, c Config, url string) (*http.Response, string) {
	t.Helper()
	resp, body, err := tryGet(c, url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, body
}

func tryGet(c Config, url string) (*http.Response, string, error) {
	client, err := c.Build("test")
	if err != nil {
		return nil, "", err
	}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body), nil
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuthMethods(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(echoAuth))
	defer srv.Close()

	dir := t.TempDir()
	tokenFile, passwordFile := filepath.Join(dir, "token"), filepath.Join(dir, "password")
	writeFile(t, tokenFile, "from-file\n")
	writeFile(t, passwordFile, "p\n")

	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"none", func(*Config) {}, ""},
		{"basic", func(c *Config) { c.BasicAuth = &BasicAuth{Username: "u", Password: "p"} }, "Basic dTpw"},
		{"basic password_file", func(c *Config) { c.BasicAuth = &BasicAuth{Username: "u", PasswordFile: passwordFile} }, "Basic dTpw"},
		{"bearer", func(c *Config) { c.BearerToken = "tok" }, "Bearer tok"},
		{"bearer file", func(c *Config) { c.BearerTokenFile = tokenFile }, "Bearer from-file"},
		{"authorization", func(c *Config) { c.Authorization = &Authorization{Type: "Custom", Credentials: "xyz"} }, "Custom xyz"},
		{"authorization default type", func(c *Config) { c.Authorization = &Authorization{Credentials: "xyz"} }, "Bearer xyz"},
		{"authorization file", func(c *Config) { c.Authorization = &Authorization{Type: "Token", CredentialsFile: tokenFile} }, "Token from-file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mod(&c)
			_, got := get(t, c, srv.URL)
			if got != tc.want {
				t.Errorf("Authorization = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBearerTokenFileRotation: a rewritten token file is used from the next
// request on, with the same client (no reload).
func TestBearerTokenFileRotation(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(echoAuth))
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "first")
	c := Default()
	c.BearerTokenFile = tokenFile
	client, err := c.Build("test")
	if err != nil {
		t.Fatal(err)
	}
	read := func() string {
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := read(); got != "Bearer first" {
		t.Fatalf("before rotation: %q", got)
	}
	writeFile(t, tokenFile, "second\n")
	if got := read(); got != "Bearer second" {
		t.Fatalf("after rotation: %q", got)
	}
}

func TestTLS(t *testing.T) {
	ca := httpfixture.NewCA(t)
	var (
		mu      sync.Mutex
		sawCN   string
		sawSNI  string
		sawProt int
	)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sawCN, sawSNI, sawProt = httpfixture.PeerCN(r), r.TLS.ServerName, r.ProtoMajor
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	})
	plain := ca.StartTLS(t, handler, false)
	mtls := ca.StartTLS(t, handler, true)
	certPEM, keyPEM := ca.Issue(t, "flow-client", true)
	caFile, certFile, keyFile := ca.Files(t, t.TempDir())

	tls12 := httptest.NewUnstartedServer(handler)
	tls12.TLS = ca.ServerConfig(t, false)
	tls12.TLS.MaxVersion = tls.VersionTLS12
	tls12.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tls12.StartTLS()
	defer tls12.Close()

	h2 := httptest.NewUnstartedServer(handler)
	h2.TLS = ca.ServerConfig(t, false)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	defer h2.Close()

	cases := []struct {
		name    string
		url     string
		tls     *TLSConfig
		mod     func(*Config)
		wantErr string
		check   func(t *testing.T)
	}{
		{name: "unknown CA", url: plain.URL, tls: nil, wantErr: "certificate"},
		{name: "ca_pem", url: plain.URL, tls: &TLSConfig{CA: ca.PEM()}},
		{name: "ca_file", url: plain.URL, tls: &TLSConfig{CAFile: caFile}},
		{name: "insecure_skip_verify", url: plain.URL, tls: &TLSConfig{InsecureSkipVerify: true}},
		{name: "server_name", url: plain.URL, tls: &TLSConfig{CA: ca.PEM(), ServerName: "localhost"}, check: func(t *testing.T) {
			if sawSNI != "localhost" {
				t.Errorf("SNI %q, want localhost", sawSNI)
			}
		}},
		{name: "server_name not in certificate", url: plain.URL, tls: &TLSConfig{CA: ca.PEM(), ServerName: "other.example"}, wantErr: "other.example"},
		{name: "mTLS without client certificate", url: mtls.URL, tls: &TLSConfig{CA: ca.PEM()}, wantErr: "certificate"},
		{name: "mTLS cert_pem key_pem", url: mtls.URL, tls: &TLSConfig{CA: ca.PEM(), Cert: certPEM, Key: value.Secret(keyPEM)}, check: func(t *testing.T) {
			if sawCN != "flow-client" {
				t.Errorf("server saw client certificate %q", sawCN)
			}
		}},
		{name: "mTLS cert_file key_file", url: mtls.URL, tls: &TLSConfig{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}, check: func(t *testing.T) {
			if sawCN != "client" {
				t.Errorf("server saw client certificate %q", sawCN)
			}
		}},
		{name: "min_version TLS13 against a TLS 1.2 server", url: tls12.URL, tls: &TLSConfig{CA: ca.PEM(), MinVersion: "TLS13"}, wantErr: "version"},
		{name: "min_version TLS12", url: tls12.URL, tls: &TLSConfig{CA: ca.PEM(), MinVersion: "TLS12"}},
		{name: "enable_http2", url: h2.URL, tls: &TLSConfig{CA: ca.PEM()}, check: func(t *testing.T) {
			if sawProt != 2 {
				t.Errorf("HTTP/%d, want HTTP/2", sawProt)
			}
		}},
		{name: "enable_http2 false", url: h2.URL, tls: &TLSConfig{CA: ca.PEM()}, mod: func(c *Config) { c.EnableHTTP2 = false }, check: func(t *testing.T) {
			if sawProt != 1 {
				t.Errorf("HTTP/%d, want HTTP/1.1", sawProt)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.TLSConfig = tc.tls
			if tc.mod != nil {
				tc.mod(&c)
			}
			resp, body, err := tryGet(c, tc.url)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			if tc.check != nil {
				mu.Lock()
				defer mu.Unlock()
				tc.check(t)
			}
		})
	}
}

// TestOAuth2ClientCredentials: the token is fetched from token_url with the
// client's id, secret, scopes and endpoint_params, sent to the server,
// reused while valid and fetched again when it expires.
func TestOAuth2ClientCredentials(t *testing.T) {
	ts := httpfixture.StartTokenServer(t, "flow", "s3cr3t-client", 3600, nil)
	var mu sync.Mutex
	var seen []string
	api := httptest.NewServer(ts.RequireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	})))
	defer api.Close()

	c := Default()
	c.OAuth2 = &OAuth2{
		ClientID: "flow", ClientSecret: "s3cr3t-client", TokenURL: value.NewURL(ts.TokenURL()),
		Scopes: []string{"metrics:write", "logs:write"}, EndpointParams: map[string]string{"audience": "mimir"},
	}
	client, err := c.Build("test")
	if err != nil {
		t.Fatal(err)
	}
	do := func() {
		t.Helper()
		resp, err := client.Get(api.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	do()
	do()
	if got := ts.Issued(); len(got) != 1 {
		t.Fatalf("%d tokens fetched for two requests, want 1 (cached)", len(got))
	}
	form := ts.Forms()[0]
	if form.Get("scope") != "metrics:write logs:write" || form.Get("audience") != "mimir" {
		t.Fatalf("token request form %v", form)
	}
	mu.Lock()
	if len(seen) != 2 || seen[0] != "Bearer token-1" || seen[1] != "Bearer token-1" {
		t.Fatalf("server saw %q", seen)
	}
	mu.Unlock()

	// A token that expires: x/oauth2 renews 10 s before expiry, so a
	// 12-second token is good for about 2 seconds.
	ts.SetExpiresIn(12)
	c2 := c
	c2.OAuth2 = &OAuth2{ClientID: "flow", ClientSecret: "s3cr3t-client", TokenURL: value.NewURL(ts.TokenURL())}
	client, err = c2.Build("test")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	do()
	first := ts.Issued()
	testwait.Eventually(t, 30*time.Second, func() bool {
		do()
		return len(ts.Issued()) != len(first)
	}, "the expired token was never renewed")
	if el := time.Since(start); el < 2*time.Second {
		t.Fatalf("renewed after %s, before the token expired", el)
	}
	mu.Lock()
	last := seen[len(seen)-1]
	mu.Unlock()
	if want := "Bearer " + ts.Issued()[len(ts.Issued())-1]; last != want {
		t.Fatalf("after renewal the server saw %q, want %q", last, want)
	}

	// Wrong secret: no token, the request fails naming the token endpoint's answer.
	bad := c
	bad.OAuth2 = &OAuth2{ClientID: "flow", ClientSecret: "wrong-s3cr3t", TokenURL: value.NewURL(ts.TokenURL())}
	_, _, err = tryGet(bad, api.URL)
	if err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("wrong secret: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-s3cr3t") {
		t.Fatalf("error leaks the secret: %v", err)
	}
}

// TestOAuth2OwnTLSAndProxy: the token endpoint is reached over TLS with the
// oauth2 block's own tls_config (a CA the API server does not use), through
// the oauth2 block's own proxy, with the secret read from a file.
func TestOAuth2OwnTLSAndProxy(t *testing.T) {
	tokenCA := httpfixture.NewCA(t)
	ts := httpfixture.StartTokenServer(t, "flow", "from-file-secret", 3600, tokenCA)
	api := httptest.NewServer(ts.RequireToken(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })))
	defer api.Close()
	proxy := httpfixture.StartProxy(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	writeFile(t, secretFile, "from-file-secret\n")

	c := Default()
	c.OAuth2 = &OAuth2{ClientID: "flow", ClientSecretFile: secretFile, TokenURL: value.NewURL(ts.TokenURL())}
	if _, _, err := tryGet(c, api.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the token endpoint's CA: %v", err)
	}
	c.OAuth2.TLSConfig = &TLSConfig{CA: tokenCA.PEM()}
	c.OAuth2.ProxyURL = value.NewURL(proxy.URL)
	c.OAuth2.ProxyConnectHeader = map[string][]value.Secret{"Proxy-Authorization": {"Basic cHJveHk6cHc="}}
	proxy.RequireAuth("Basic cHJveHk6cHc=")
	resp, body := get(t, c, api.URL)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	connects, to := proxy.Connects()
	if len(connects) != 1 || to[0] != strings.TrimPrefix(ts.URL, "https://") || len(proxy.Forwarded()) != 0 {
		t.Fatalf("proxy saw CONNECTs %v and forwards %v; only the token request goes through it", to, proxy.Forwarded())
	}
}

// TestProxy: an https target through a CONNECT proxy that requires
// proxy_connect_header; an http target as an absolute-form request; no_proxy
// bypasses it; proxy_from_environment reads HTTPS_PROXY.
func TestProxy(t *testing.T) {
	ca := httpfixture.NewCA(t)
	target := ca.StartTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "secure") }), false)
	const auth = "Basic dXNlcjpwcm94eS1zM2NyM3Q="

	proxy := httpfixture.StartProxy(t)
	proxy.RequireAuth(auth)

	c := Default()
	c.TLSConfig = &TLSConfig{CA: ca.PEM()}
	c.ProxyURL = value.NewURL(proxy.URL)
	if _, _, err := tryGet(c, target.URL); err == nil {
		t.Fatal("CONNECT without Proxy-Authorization succeeded")
	}
	if proxy.Refused() != 1 {
		t.Fatalf("proxy refused %d", proxy.Refused())
	}
	c.ProxyConnectHeader = map[string][]value.Secret{"Proxy-Authorization": {auth}, "X-Trace": {"a", "b"}}
	if _, body := get(t, c, target.URL); body != "secure" {
		t.Fatalf("body %q", body)
	}
	connects, to := proxy.Connects()
	if len(connects) != 1 || to[0] != strings.TrimPrefix(target.URL, "https://") {
		t.Fatalf("CONNECTs to %v", to)
	}
	if got := connects[0].Values("X-Trace"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("CONNECT headers %v", connects[0])
	}

	// no_proxy: the target is reached directly.
	c.NoProxy = "127.0.0.1"
	if _, body := get(t, c, target.URL); body != "secure" || proxy.Total() != 1 {
		t.Fatalf("no_proxy: body %q, proxy total %d", body, proxy.Total())
	}

	// An http target: the proxy gets the absolute URL and forwards it.
	open := httpfixture.StartProxy(t)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "plain") }))
	defer plain.Close()
	open.Route("target.invalid:9100", strings.TrimPrefix(plain.URL, "http://"))
	c2 := Default()
	c2.ProxyURL = value.NewURL(open.URL)
	if _, body := get(t, c2, "http://target.invalid:9100/metrics"); body != "plain" {
		t.Fatalf("via proxy: %q", body)
	}
	if f := open.Forwarded(); len(f) != 1 || f[0] != "http://target.invalid:9100/metrics" {
		t.Fatalf("forwarded %v", f)
	}

	// proxy_from_environment. Go never proxies loopback addresses taken from
	// the environment, so the target has a name the proxy routes.
	env := httpfixture.StartProxy(t)
	env.Route("flow.test:443", strings.TrimPrefix(target.URL, "https://"))
	t.Setenv("HTTPS_PROXY", env.URL)
	t.Setenv("NO_PROXY", "")
	c3 := Default()
	c3.TLSConfig = &TLSConfig{CA: ca.PEM(), ServerName: "localhost"}
	c3.ProxyFromEnvironment = true
	c3.ProxyConnectHeader = map[string][]value.Secret{"X-From": {"env"}}
	if _, body := get(t, c3, "https://flow.test/"); body != "secure" {
		t.Fatalf("from environment: %q", body)
	}
	connects, _ = env.Connects()
	if len(connects) != 1 || connects[0].Get("X-From") != "env" {
		t.Fatalf("environment proxy saw %v", connects)
	}
}

func TestHTTPHeaders(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	c := Default()
	c.HTTPHeaders = map[string][]value.Secret{"x-scope-orgid": {"tenant-1"}, "X-Api-Key": {"k1", "k2"}}
	get(t, c, srv.URL)
	if got.Get("X-Scope-OrgID") != "tenant-1" || len(got.Values("X-Api-Key")) != 2 || got.Values("X-Api-Key")[1] != "k2" {
		t.Fatalf("server saw %v", got)
	}
}

func TestFollowRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/from", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/to", http.StatusFound) })
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "arrived") })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c := Default()
	if _, body := get(t, c, srv.URL+"/from"); body != "arrived" {
		t.Errorf("with follow_redirects: body %q", body)
	}
	c.FollowRedirects = false
	if resp, _ := get(t, c, srv.URL+"/from"); resp.StatusCode != http.StatusFound {
		t.Errorf("without follow_redirects: status %d, want 302", resp.StatusCode)
	}
}

func TestValidateErrors(t *testing.T) {
	const s = "s3cr3t-token"
	oauth := func(mod func(*OAuth2)) *OAuth2 {
		o := &OAuth2{ClientID: "id", ClientSecret: s, TokenURL: value.NewURL("https://auth.example/token")}
		mod(o)
		return o
	}
	cases := []struct {
		name string
		c    Config
		want string
	}{
		{"two auth", Config{BasicAuth: &BasicAuth{Username: "u"}, BearerToken: s}, "at most one of basic_auth, authorization, oauth2, bearer_token & bearer_token_file must be configured, since each sets the Authorization header; found basic_auth, bearer_token: keep basic_auth and remove bearer_token"},
		{"oauth2 and bearer", Config{OAuth2: oauth(func(*OAuth2) {}), BearerToken: s}, "at most one"},
		{"token and file", Config{BearerToken: s, BearerTokenFile: "/x"}, "at most one"},
		{"password twice", Config{BasicAuth: &BasicAuth{Password: s, PasswordFile: "/x"}}, "password or password_file"},
		{"credentials twice", Config{Authorization: &Authorization{Credentials: s, CredentialsFile: "/x"}}, "credentials or credentials_file"},
		{"authorization basic", Config{Authorization: &Authorization{Type: "Basic", Credentials: s}}, "basic_auth block"},
		{"bad tls version", Config{TLSConfig: &TLSConfig{MinVersion: "SSL3"}}, "tls_config: unknown min_version"},
		{"ca twice", Config{TLSConfig: &TLSConfig{CA: "x", CAFile: "/x"}}, "tls_config: set ca_pem or ca_file"},
		{"key twice", Config{TLSConfig: &TLSConfig{Cert: "c", Key: s, KeyFile: "/x"}}, "tls_config: set key_pem or key_file"},
		{"cert without key", Config{TLSConfig: &TLSConfig{CertFile: "/c"}}, "needs its key"},
		{"key without cert", Config{TLSConfig: &TLSConfig{Key: s}}, "needs its certificate"},
		{"bad proxy", Config{ProxyConfig: ProxyConfig{ProxyURL: value.NewURL("http://user:" + s + "@[::1")}}, "proxy_url"},
		{"proxy scheme", Config{ProxyConfig: ProxyConfig{ProxyURL: value.NewURL("ftp://user:" + s + "@proxy")}}, "proxy_url: the scheme"},
		{"no_proxy alone", Config{ProxyConfig: ProxyConfig{NoProxy: "localhost"}}, "no_proxy requires proxy_url"},
		{"proxy twice", Config{ProxyConfig: ProxyConfig{ProxyURL: value.NewURL("http://p:3128"), ProxyFromEnvironment: true}}, "not both"},
		{"no_proxy with env", Config{ProxyConfig: ProxyConfig{NoProxy: "x", ProxyFromEnvironment: true}}, "no_proxy cannot be used with proxy_from_environment"},
		{"connect header alone", Config{ProxyConfig: ProxyConfig{ProxyConnectHeader: map[string][]value.Secret{"Proxy-Authorization": {s}}}}, "proxy_connect_header requires"},
		{"reserved header", Config{HTTPHeaders: map[string][]value.Secret{"authorization": {s}}}, `http_headers: setting header "Authorization" is not allowed`},
		{"bad header name", Config{HTTPHeaders: map[string][]value.Secret{"bad name": {s}}}, `"bad name" is not a valid header name`},
		{"bad header value", Config{HTTPHeaders: map[string][]value.Secret{"X-Key": {s + "\r\nX-Evil: 1"}}}, `value 1 of header "X-Key"`},
		{"oauth2 no client_id", Config{OAuth2: oauth(func(o *OAuth2) { o.ClientID = "" })}, "oauth2: client_id is required"},
		{"oauth2 no token_url", Config{OAuth2: oauth(func(o *OAuth2) { o.TokenURL = value.URL{} })}, "oauth2: token_url is required"},
		{"oauth2 bad token_url", Config{OAuth2: oauth(func(o *OAuth2) { o.TokenURL = value.NewURL("auth.example") })}, "oauth2: token_url must be"},
		{"oauth2 secret twice", Config{OAuth2: oauth(func(o *OAuth2) { o.ClientSecretFile = "/x" })}, "oauth2: set client_secret or client_secret_file"},
		{"oauth2 grant", Config{OAuth2: oauth(func(o *OAuth2) { o.GrantType = "password" })}, `oauth2: grant_type "password"`},
		{"oauth2 jwt without key", Config{OAuth2: oauth(func(o *OAuth2) { o.GrantType = GrantJWTBearer })}, "needs client_certificate_key"},
		{"oauth2 jwt alg", Config{OAuth2: oauth(func(o *OAuth2) {
			o.GrantType, o.ClientCertificateKey, o.SignatureAlgorithm = GrantJWTBearer, s, "HS256"
		})}, `signature_algorithm "HS256"`},
		{"oauth2 key with client_credentials", Config{OAuth2: oauth(func(o *OAuth2) { o.ClientCertificateKey = s })}, "only used with grant_type"},
		{"oauth2 tls", Config{OAuth2: oauth(func(o *OAuth2) { o.TLSConfig = &TLSConfig{Key: s} })}, "oauth2: tls_config: a client key"},
		{"oauth2 proxy", Config{OAuth2: oauth(func(o *OAuth2) { o.NoProxy = "x" })}, "oauth2: no_proxy requires proxy_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), s) {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

// TestDecodeEveryField decodes a River body using every field of the
// surface (squashed proxy settings at both levels included) and checks the
// conversion carries each to Prometheus' config.
func TestDecodeEveryField(t *testing.T) {
	src := `
bearer_token_file      = "/var/run/token"
follow_redirects       = false
enable_http2           = false
proxy_url              = "http://user:pw@proxy.example:3128"
no_proxy               = "10.0.0.0/8,.internal"
proxy_connect_header   = { "Proxy-Authorization" = ["Basic eDp5"] }
http_headers           = { "X-Scope-OrgID" = ["a", "b"] }
tls_config {
  ca_pem               = "CA"
  cert_file            = "/c"
  key_file             = "/k"
  server_name          = "api.example"
  insecure_skip_verify = true
  min_version          = "TLS13"
}
`
	var c Config
	decodeRiver(t, src, &c)
	pc, err := c.Convert()
	if err != nil {
		t.Fatal(err)
	}
	if pc.Authorization == nil || pc.Authorization.CredentialsFile != "/var/run/token" || pc.FollowRedirects || pc.EnableHTTP2 ||
		pc.ProxyURL.Host != "proxy.example:3128" || pc.NoProxy != "10.0.0.0/8,.internal" ||
		string(pc.ProxyConnectHeader["Proxy-Authorization"][0]) != "Basic eDp5" ||
		len(pc.HTTPHeaders.Headers["X-Scope-Orgid"].Secrets) != 2 ||
		pc.TLSConfig.CA != "CA" || pc.TLSConfig.ServerName != "api.example" || !pc.TLSConfig.InsecureSkipVerify || pc.TLSConfig.MinVersion != tls.VersionTLS13 {
		t.Fatalf("converted %+v", pc)
	}

	var o Config
	decodeRiver(t, `
oauth2 {
  client_id                   = "id"
  client_secret_file          = "/s"
  scopes                      = ["a", "b"]
  token_url                   = "https://auth.example/token"
  endpoint_params             = { "audience" = "x" }
  proxy_from_environment      = true
  proxy_connect_header        = { "X-A" = ["1"] }
  tls_config {
    ca_file = "/ca"
  }
}
`, &o)
	o.BasicAuth = &BasicAuth{Username: "u"}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "at most one") {
		t.Fatalf("oauth2 with basic_auth: %v", err)
	}
	o.BasicAuth = nil
	pc, err = o.Convert()
	if err != nil {
		t.Fatal(err)
	}
	po := pc.OAuth2
	if po.ClientID != "id" || po.ClientSecretFile != "/s" || len(po.Scopes) != 2 || po.EndpointParams["audience"] != "x" ||
		!po.ProxyFromEnvironment || po.ProxyConnectHeader["X-A"][0] != "1" || po.TLSConfig.CAFile != "/ca" {
		t.Fatalf("oauth2 converted %+v", po)
	}

	var j Config
	decodeRiver(t, `
oauth2 {
  client_id                   = "id"
  token_url                   = "https://auth.example/token"
  grant_type                  = "urn:ietf:params:oauth:grant-type:jwt-bearer"
  client_certificate_key      = "KEY"
  client_certificate_key_id   = "kid"
  signature_algorithm         = "RS512"
  iss                         = "issuer"
  audience                    = "aud"
  claims                      = { "tenant" = "t1", "n" = 3, "nested" = { "k" = "v" } }
}
`, &j)
	pc, err = j.Convert()
	if err != nil {
		t.Fatal(err)
	}
	po = pc.OAuth2
	if po.GrantType != GrantJWTBearer || string(po.ClientCertificateKey) != "KEY" || po.ClientCertificateKeyID != "kid" ||
		po.SignatureAlgorithm != "RS512" || po.Iss != "issuer" || po.Audience != "aud" || po.Claims["tenant"] != "t1" || po.Claims["n"] != 3 {
		t.Fatalf("jwt converted %+v", po)
	}
	// Secrets stay secrets in Go: printing the config shows none.
	for _, cfg := range []Config{c, o, j} {
		for _, s := range []string{"Basic eDp5", "pw@proxy", "KEY"} {
			if strings.Contains(strings.ReplaceAll(fmtAll(cfg), "(secret)", ""), s) {
				t.Errorf("%q printed: %s", s, fmtAll(cfg))
			}
		}
	}
	if js := fmtAll(c); !strings.Contains(js, `"http://user:xxxxx@proxy.example:3128"`) {
		t.Errorf("proxy_url is not shown masked: %s", js)
	}
	if got := c.Secrets(); !slices.Contains(got, "pw") || !slices.Contains(got, "Basic eDp5") || !slices.Contains(got, "a") {
		t.Errorf("Secrets() = %q", got)
	}
}

// fmtAll is c as the API would serialise it.
func fmtAll(c Config) string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func decodeRiver(t *testing.T, src string, target *Config) {
	t.Helper()
	*target = Default()
	rivertest.Decode(t, src, target)
}

// TestOAuth2TokenEndpointStall: a token endpoint that accepts the
// connection and never answers fails the request after TokenStall instead
// of blocking it forever (x/oauth2 fetches tokens without a deadline).
func TestOAuth2TokenEndpointStall(t *testing.T) {
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer silent.Close()
	defer close(release)
	api := httptest.NewServer(http.HandlerFunc(echoAuth))
	defer api.Close()

	old := TokenStall
	TokenStall = 300 * time.Millisecond
	defer func() { TokenStall = old }()

	c := Default()
	c.OAuth2 = &OAuth2{ClientID: "id", ClientSecret: "s", TokenURL: value.NewURL(silent.URL + "/token")}
	done := make(chan error, 1)
	go func() {
		_, _, err := tryGet(c, api.URL)
		done <- err
	}()
	if err := testwait.Receive(t, 30*time.Second, done, "the request is still blocked on a silent token endpoint"); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("err = %v, want a timeout", err)
	}
}
