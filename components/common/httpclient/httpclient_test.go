package httpclient

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// echoAuth answers with the Authorization header it received.
func echoAuth(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, r.Header.Get("Authorization"))
}

func get(t *testing.T, c Config, url string) (*http.Response, string) {
	t.Helper()
	client, err := c.Build("test")
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestAuthMethods(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(echoAuth))
	defer srv.Close()

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"none", func(*Config) {}, ""},
		{"basic", func(c *Config) { c.BasicAuth = &BasicAuth{Username: "u", Password: "p"} }, "Basic dTpw"},
		{"bearer", func(c *Config) { c.BearerToken = "tok" }, "Bearer tok"},
		{"bearer file", func(c *Config) { c.BearerTokenFile = tokenFile }, "Bearer from-file"},
		{"authorization", func(c *Config) { c.Authorization = &Authorization{Type: "Custom", Credentials: "xyz"} }, "Custom xyz"},
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

func TestTLSWithCAPEM(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(echoAuth))
	defer srv.Close()
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))

	// Without the CA the handshake must fail: this proves the CA is what
	// makes the next request succeed.
	c := Default()
	client, err := c.Build("test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get(srv.URL); err == nil {
		t.Fatal("GET succeeded without trusting the server's certificate")
	}

	c.TLSConfig = &TLSConfig{CA: caPEM, MinVersion: "TLS12"}
	resp, _ := get(t, c, srv.URL)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
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

func TestProxyURL(t *testing.T) {
	// A proxy receives absolute-form request URIs; this one answers itself.
	var sawURI string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawURI = r.RequestURI
		_, _ = io.WriteString(w, "via proxy")
	}))
	defer proxy.Close()

	c := Default()
	c.ProxyURL = proxy.URL
	_, body := get(t, c, "http://target.invalid:9100/metrics")
	if body != "via proxy" || sawURI != "http://target.invalid:9100/metrics" {
		t.Errorf("body %q, proxy saw %q", body, sawURI)
	}
}

func TestValidateErrors(t *testing.T) {
	cases := []struct {
		name string
		c    Config
		want string
	}{
		{"two auth", Config{BasicAuth: &BasicAuth{Username: "u"}, BearerToken: "s3cr3t-token"}, "at most one"},
		{"token and file", Config{BearerToken: "s3cr3t-token", BearerTokenFile: "/x"}, "at most one"},
		{"password twice", Config{BasicAuth: &BasicAuth{Password: "s3cr3t-token", PasswordFile: "/x"}}, "password or password_file"},
		{"bad tls version", Config{TLSConfig: &TLSConfig{MinVersion: "SSL3"}}, "unknown min_version"},
		{"bad proxy", Config{ProxyURL: "http://user:s3cr3t-token@[::1"}, "proxy_url"},
		{"no_proxy alone", Config{NoProxy: "localhost"}, "no_proxy requires proxy_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3t-token") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}
