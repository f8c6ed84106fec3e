package httpclient_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/internal/build"
	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/internal/httpfixture"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/flowtest"

	_ "github.com/flow-telemetry/flow/components/loki/source/file"
	_ "github.com/flow-telemetry/flow/components/loki/write"
	_ "github.com/flow-telemetry/flow/components/prometheus/remote_write"
	_ "github.com/flow-telemetry/flow/components/prometheus/scrape"
)

// e2eServer is one of the three servers flow talks to (scrape target,
// remote-write receiver, Loki), behind TLS from the test CA and a request
// check that the case under test sets.
type e2eServer struct {
	name    string
	srv     *httptest.Server
	check   atomic.Pointer[func(*http.Request) error]
	mu      sync.Mutex
	ok      int
	refused []string // why each refused request was refused
}

func (s *e2eServer) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := s.check.Load(); c != nil {
			if err := (*c)(r); err != nil {
				s.mu.Lock()
				s.refused = append(s.refused, err.Error())
				s.mu.Unlock()
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
		}
		s.mu.Lock()
		s.ok++
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (s *e2eServer) setCheck(c func(*http.Request) error) { s.check.Store(&c) }

func (s *e2eServer) accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ok
}

func (s *e2eServer) lastRefusal() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.refused) == 0 {
		return "none"
	}
	return s.refused[len(s.refused)-1]
}

func (s *e2eServer) addr() string { return strings.TrimPrefix(s.srv.URL, "https://") }

// rwReceiver decodes remote-write 1.0 requests and remembers metric names.
type rwReceiver struct {
	mu    sync.Mutex
	names map[string]int
}

func (rw *rwReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req prompb.WriteRequest
	if err := httpfixture.ReadSnappyProto(r, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rw.mu.Lock()
	for _, ts := range req.Timeseries {
		for _, l := range ts.Labels {
			if l.Name == "__name__" {
				rw.names[l.Value] += len(ts.Samples)
			}
		}
	}
	rw.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rw *rwReceiver) samples(name string) int {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.names[name]
}

// e2eCase is one HTTP client setting, checked through every component
// that makes HTTP requests.
type e2eCase struct {
	name string
	// client is the River text of the client settings, placed in the
	// scrape block and in both endpoint blocks. %[1]s is the directory of
	// the case's files.
	client string
	// check is what each server requires of a request.
	check func(*http.Request) error
	// mTLS makes the servers demand a client certificate.
	mTLS bool
	// then runs after the first round of deliveries; it may change what
	// the servers require, after which a second round must arrive.
	then func(t *testing.T, fx *e2eFixture, servers []*e2eServer)
	// refused marks the control case: every server must refuse every
	// request, which shows the checks of the other cases are live.
	refused bool
}

type e2eFixture struct {
	ca      *httpfixture.CA
	dir     string
	tokens  *httpfixture.TokenServer
	tokenCA *httpfixture.CA
	proxy   *httpfixture.Proxy
	certPEM string
	keyPEM  string
}

func requireHeader(name, want string) func(*http.Request) error {
	return func(r *http.Request) error {
		if got := r.Header.Get(name); got != want {
			return fmt.Errorf("%s header is %q", name, got)
		}
		return nil
	}
}

func e2eCases(fx *e2eFixture) []e2eCase {
	riverString := func(s string) string { return fmt.Sprintf("%q", s) }
	caPEM := riverString(fx.ca.PEM())
	tlsPEM := fmt.Sprintf("tls_config {\n  ca_pem = %s\n}\n", caPEM)
	return []e2eCase{
		{
			name:   "tls_config pem mTLS",
			client: fmt.Sprintf("tls_config {\n  ca_pem = %s\n  cert_pem = %s\n  key_pem = %s\n  min_version = \"TLS12\"\n}\n", caPEM, riverString(fx.certPEM), riverString(fx.keyPEM)),
			mTLS:   true,
			check: func(r *http.Request) error {
				if cn := httpfixture.PeerCN(r); cn != "flow-e2e" {
					return fmt.Errorf("client certificate %q", cn)
				}
				return nil
			},
		},
		{
			name:   "tls_config files mTLS",
			client: "tls_config {\n  ca_file = \"%[1]s/ca.pem\"\n  cert_file = \"%[1]s/client.pem\"\n  key_file = \"%[1]s/client.key\"\n}\n",
			mTLS:   true,
			check: func(r *http.Request) error {
				if cn := httpfixture.PeerCN(r); cn != "client" {
					return fmt.Errorf("client certificate %q", cn)
				}
				return nil
			},
		},
		{
			name:   "basic_auth",
			client: tlsPEM + "basic_auth {\n  username = \"flow\"\n  password = \"e2e-pass\"\n}\n",
			check: func(r *http.Request) error {
				if u, p, ok := r.BasicAuth(); !ok || u != "flow" || p != "e2e-pass" {
					return fmt.Errorf("basic auth %q", u)
				}
				return nil
			},
		},
		{
			name:   "bearer_token",
			client: tlsPEM + "bearer_token = \"e2e-token\"\n",
			check:  requireHeader("Authorization", "Bearer e2e-token"),
		},
		{
			name:   "authorization",
			client: tlsPEM + "authorization {\n  type = \"Token\"\n  credentials = \"e2e-cred\"\n}\n",
			check:  requireHeader("Authorization", "Token e2e-cred"),
		},
		{
			name:   "bearer_token_file rotation",
			client: tlsPEM + "bearer_token_file = \"%[1]s/token\"\n",
			check:  requireHeader("Authorization", "Bearer first-token"),
			then: func(t *testing.T, fx *e2eFixture, servers []*e2eServer) {
				if err := os.WriteFile(filepath.Join(fx.dir, "token"), []byte("rotated-token\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				for _, s := range servers {
					s.setCheck(requireHeader("Authorization", "Bearer rotated-token"))
				}
			},
		},
		{
			name: "oauth2",
			client: tlsPEM + fmt.Sprintf("oauth2 {\n  client_id = \"flow\"\n  client_secret = \"e2e-client-secret\"\n  token_url = %s\n  scopes = [\"write\"]\n  tls_config {\n    ca_pem = %s\n  }\n}\n",
				riverString(fx.tokens.TokenURL()), riverString(fx.tokenCA.PEM())),
			check: func(r *http.Request) error {
				tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				if !fx.tokens.Valid(tok) {
					return fmt.Errorf("token %q was not issued", tok)
				}
				return nil
			},
		},
		{
			name: "proxy_url proxy_connect_header",
			client: tlsPEM + fmt.Sprintf("proxy_url = %s\nproxy_connect_header = { \"Proxy-Authorization\" = [\"Basic ZmxvdzplMmU=\"] }\n",
				riverString(fx.proxy.URL)),
			then: func(t *testing.T, fx *e2eFixture, servers []*e2eServer) {
				_, to := fx.proxy.Connects()
				for _, s := range servers {
					found := false
					for _, h := range to {
						found = found || h == s.addr()
					}
					if !found {
						t.Errorf("%s was reached without the proxy (CONNECTs to %v)", s.name, to)
					}
				}
			},
		},
		{
			name:    "control: the check refuses a client without the setting",
			client:  tlsPEM,
			check:   requireHeader("X-Flow-E2E", "h1"),
			refused: true,
		},
		{
			// No setting: every client sends flow's User-Agent, the version
			// `flow version` prints.
			name:   "User-Agent",
			client: tlsPEM,
			check:  requireHeader("User-Agent", build.UserAgent()),
		},
		{
			name:   "http_headers",
			client: tlsPEM + "http_headers = { \"X-Flow-E2E\" = [\"h1\"] }\n",
			check:  requireHeader("X-Flow-E2E", "h1"),
		},
	}
}

// TestEveryComponentEveryClientSetting runs prometheus.scrape (an https
// target), prometheus.remote_write and loki.write (https receivers: a
// remote-write decoder and internal/fakeloki) through the real runtime,
// once per HTTP client setting, each configured in River as an Alloy user
// would; every server checks the setting's effect on each request.
func TestEveryComponentEveryClientSetting(t *testing.T) {
	fx := &e2eFixture{ca: httpfixture.NewCA(t), tokenCA: httpfixture.NewCA(t)}
	fx.certPEM, fx.keyPEM = fx.ca.Issue(t, "flow-e2e", true)
	fx.tokens = httpfixture.StartTokenServer(t, "flow", "e2e-client-secret", 3600, fx.tokenCA)
	fx.proxy = httpfixture.StartProxy(t)
	fx.proxy.RequireAuth("Basic ZmxvdzplMmU=")

	for _, tc := range e2eCases(fx) {
		t.Run(tc.name, func(t *testing.T) {
			cfx := *fx
			cfx.dir = t.TempDir()
			fx.ca.Files(t, cfx.dir)
			if err := os.WriteFile(filepath.Join(cfx.dir, "token"), []byte("first-token\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			runE2ECase(t, &cfx, tc)
		})
	}
}

func runE2ECase(t *testing.T, fx *e2eFixture, tc e2eCase) {
	target := &e2eServer{name: "scrape target"}
	target.srv = fx.ca.StartTLS(t, target.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = io.WriteString(w, "# TYPE flow_e2e_metric gauge\nflow_e2e_metric 1\n")
	})), tc.mTLS)

	rw := &rwReceiver{names: map[string]int{}}
	rwSrv := &e2eServer{name: "remote-write receiver"}
	rwSrv.srv = fx.ca.StartTLS(t, rwSrv.wrap(rw), tc.mTLS)

	loki, err := fakeloki.Start(fakeloki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(loki.Close)
	lokiURL := &url.URL{Scheme: "http", Host: loki.Addr()}
	lokiSrv := &e2eServer{name: "Loki"}
	lokiSrv.srv = fx.ca.StartTLS(t, lokiSrv.wrap(httputil.NewSingleHostReverseProxy(lokiURL)), tc.mTLS)

	servers := []*e2eServer{target, rwSrv, lokiSrv}
	if tc.check != nil {
		for _, s := range servers {
			s.setCheck(tc.check)
		}
	}

	logFile := filepath.Join(fx.dir, "app.log")
	if err := os.WriteFile(logFile, []byte("line 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	client := strings.ReplaceAll(tc.client, "%[1]s", fx.dir)
	src := fmt.Sprintf(`
prometheus.scrape "s" {
  targets         = [{ "__address__" = %q }]
  scheme          = "https"
  scrape_interval = "500ms"
  scrape_timeout  = "400ms"
  forward_to      = [prometheus.remote_write.rw.receiver]
%s
}

prometheus.remote_write "rw" {
  endpoint {
    url = "%s/api/v1/write"
%s
    queue_config {
      batch_send_deadline = "100ms"
    }
  }
}

loki.source.file "f" {
  targets    = [{ "__path__" = %q }]
  forward_to = [loki.write.lw.receiver]
}

loki.write "lw" {
  endpoint {
    url        = "%s/loki/api/v1/push"
    batch_wait = "100ms"
%s
  }
}
`, target.addr(), client, rwSrv.srv.URL, client, logFile, lokiSrv.srv.URL, client)
	flowtest.Start(t, src)

	if tc.refused {
		for _, s := range servers {
			testwait.Eventually(t, 60*time.Second, func() bool { return s.lastRefusal() != "none" }, "%s refused nothing", s.name)
			if s.accepted() != 0 {
				t.Fatalf("%s accepted %d requests without the setting", s.name, s.accepted())
			}
		}
		return
	}
	lines := 1
	round := func(what string) {
		t.Helper()
		startTarget, startRW, startLoki := target.accepted(), rw.samples("flow_e2e_metric"), len(loki.Entries())
		if _, ok := testwait.Poll(60*time.Second, func() bool {
			return target.accepted() != startTarget && rw.samples("flow_e2e_metric") != startRW && len(loki.Entries()) != startLoki
		}); !ok {
			t.Fatalf("%s: scrapes accepted %d (last refusal: %s), samples received %d (last refusal: %s), log entries %d (last refusal: %s)",
				what, target.accepted()-startTarget, target.lastRefusal(), rw.samples("flow_e2e_metric")-startRW, rwSrv.lastRefusal(),
				len(loki.Entries())-startLoki, lokiSrv.lastRefusal())
		}
	}
	round("first delivery")
	if tc.then != nil {
		tc.then(t, fx, servers)
		lines++
		f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "line %d\n", lines)
		f.Close()
		round("after the change")
	}
}

// TestScrapeOAuth2TokenStall: a scrape whose OAuth2 token endpoint accepts
// connections and never answers fails (up = 0 reaches remote write) instead
// of hanging the scrape loop: the scrape manager gets httpclient's dial
// options.
func TestScrapeOAuth2TokenStall(t *testing.T) {
	old := httpclient.TokenStall
	httpclient.TokenStall = 300 * time.Millisecond
	t.Cleanup(func() { httpclient.TokenStall = old })

	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(silent.Close)
	t.Cleanup(func() { close(release) })
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "flow_e2e_metric 1\n")
	}))
	t.Cleanup(target.Close)
	rw := &rwReceiver{names: map[string]int{}}
	rwSrv := httptest.NewServer(rw)
	t.Cleanup(rwSrv.Close)

	flowtest.Start(t, fmt.Sprintf(`
prometheus.scrape "s" {
  targets         = [{ "__address__" = %q }]
  scrape_interval = "1s"
  scrape_timeout  = "900ms"
  forward_to      = [prometheus.remote_write.rw.receiver]
  oauth2 {
    client_id     = "id"
    client_secret = "s"
    token_url     = "%s/token"
  }
}

prometheus.remote_write "rw" {
  endpoint {
    url = "%s/api/v1/write"
    queue_config {
      batch_send_deadline = "100ms"
    }
  }
}
`, strings.TrimPrefix(target.URL, "http://"), silent.URL, rwSrv.URL))
	if _, ok := testwait.Poll(60*time.Second, func() bool { return rw.samples("up") >= 2 }); !ok {
		t.Fatalf("no up samples: the scrape loop is blocked on the silent token endpoint")
	}
	if n := rw.samples("flow_e2e_metric"); n != 0 {
		t.Fatalf("%d samples scraped without a token", n)
	}
}
