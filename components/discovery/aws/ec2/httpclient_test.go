package ec2

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/httpfixture"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// recorder wraps a fake AWS handler and remembers what reached it.
type recorder struct {
	next http.Handler

	mu      sync.Mutex
	protos  []int
	cns     []string
	headers []http.Header
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.protos = append(r.protos, req.ProtoMajor)
	r.cns = append(r.cns, httpfixture.PeerCN(req))
	r.headers = append(r.headers, req.Header.Clone())
	r.mu.Unlock()
	r.next.ServeHTTP(w, req)
}

func (r *recorder) snapshot() (protos []int, cns []string, headers []http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.protos...), append([]string(nil), r.cns...), append([]http.Header(nil), r.headers...)
}

func refreshOnce(t *testing.T, args Arguments) (*harness, component.Health) {
	t.Helper()
	h := mustHarness(t, args)
	h.c.refresh(context.Background())
	return h, h.c.CurrentHealth()
}

// TestTLSAndHeaders: the EC2 API behind mTLS (a CA made in the test, a
// client certificate required), with HTTP/2 and extra headers. SigV4 is
// still verified by the fake on every request.
func TestTLSAndHeaders(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	f.SetInstances(fleet())
	ca := httpfixture.NewCA(t)
	rec := &recorder{next: f.EC2.Config.Handler}
	srv := httptest.NewUnstartedServer(rec)
	srv.TLS = ca.ServerConfig(t, true)
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	defer srv.Close()
	certPEM, keyPEM := ca.Issue(t, "discovery-client", true)

	args := userArgs(f, f.AddUser("u"))
	args.Endpoint = srv.URL

	// The test CA is unknown to the default client.
	if _, hl := refreshOnce(t, args); hl.Health != component.HealthUnhealthy || !strings.Contains(hl.Message, "certificate") {
		t.Fatalf("without tls_config: %+v", hl)
	}
	// Known CA, no client certificate: the server refuses the handshake.
	args.HTTPClient.TLSConfig = &httpclient.TLSConfig{CA: ca.PEM()}
	if _, hl := refreshOnce(t, args); hl.Health != component.HealthUnhealthy {
		t.Fatalf("without a client certificate: %+v", hl)
	}

	args.HTTPClient.TLSConfig = &httpclient.TLSConfig{CA: ca.PEM(), Cert: certPEM, Key: value.Secret(keyPEM), MinVersion: "TLS12"}
	args.HTTPClient.HTTPHeaders = map[string][]value.Secret{"X-Gateway-Key": {"gw-123"}}
	h, hl := refreshOnce(t, args)
	if hl.Health != component.HealthHealthy {
		t.Fatalf("with mTLS: %+v", hl)
	}
	if pubs := h.published(); len(pubs[len(pubs)-1].Targets) != 6 {
		t.Fatalf("targets %v", pubs[len(pubs)-1].Targets)
	}
	protos, cns, headers := rec.snapshot()
	last := len(protos) - 1
	if protos[last] != 2 || cns[last] != "discovery-client" || headers[last].Get("X-Gateway-Key") != "gw-123" {
		t.Fatalf("last request: HTTP/%d, client certificate %q, headers %v", protos[last], cns[last], headers[last])
	}
	if !strings.HasPrefix(headers[last].Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		t.Fatalf("request not signed: %v", headers[last])
	}
	if s := f.Stats(); s.Rejected != 0 {
		t.Fatalf("fake rejected %d requests: %v", s.Rejected, s.RejectedByCode)
	}

	args.HTTPClient.EnableHTTP2 = false
	if _, hl := refreshOnce(t, args); hl.Health != component.HealthHealthy {
		t.Fatalf("HTTP/1.1: %+v", hl)
	}
	protos, _, _ = rec.snapshot()
	if protos[len(protos)-1] != 1 {
		t.Fatalf("enable_http2 = false sent HTTP/%d", protos[len(protos)-1])
	}
}

// TestProxy: EC2 and STS calls (role_arn) go through proxy_url; the region
// comes from IMDS, which is asked directly, never through the proxy. Then
// an https endpoint through a proxy that demands proxy_connect_header.
func TestProxy(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{Region: "eu-west-1"})
	f.SetInstances(fleet())
	awstest.SetKeys(t, f.AddUser("base"))
	role := f.RoleARN("discovery")
	f.AddRole(fakeaws.Role{ARN: role})
	proxy := httpfixture.StartProxy(t)

	args := defaults()
	args.RoleARN = role
	args.HTTPClient.ProxyURL = value.NewURL(proxy.URL)
	if _, hl := refreshOnce(t, args); hl.Health != component.HealthHealthy {
		t.Fatalf("through the proxy: %+v", hl)
	}
	hosts := map[string]int{}
	for _, u := range proxy.Forwarded() {
		hosts[strings.SplitN(strings.TrimPrefix(u, "http://"), "/", 2)[0]]++
	}
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	if hosts[host(f.STS)] != 1 || hosts[host(f.EC2)] < 1 || hosts[host(f.IMDS)] != 0 {
		t.Fatalf("proxy forwarded %v; want STS once, EC2, and never IMDS (%s)", proxy.Forwarded(), host(f.IMDS))
	}
	if s := f.Stats(); s.Rejected != 0 || s.ByAction["sts:AssumeRole"] != 1 {
		t.Fatalf("fake stats %+v", s)
	}

	// no_proxy: direct.
	args.HTTPClient.NoProxy = "127.0.0.1"
	before := proxy.Total()
	if _, hl := refreshOnce(t, args); hl.Health != component.HealthHealthy || proxy.Total() != before {
		t.Fatalf("no_proxy: %+v, proxy saw %d more", hl, proxy.Total()-before)
	}

	// An https endpoint: CONNECT with the proxy's credentials.
	ca := httpfixture.NewCA(t)
	tlsEC2 := ca.StartTLS(t, f.EC2.Config.Handler, false)
	secure := httpfixture.StartProxy(t)
	const proxyAuth = "Basic ZGlzY292ZXJ5OnByb3h5LXB3"
	secure.RequireAuth(proxyAuth)
	args = userArgs(f, f.AddUser("u"))
	args.Endpoint = tlsEC2.URL
	args.HTTPClient.TLSConfig = &httpclient.TLSConfig{CA: ca.PEM()}
	args.HTTPClient.ProxyURL = value.NewURL(secure.URL)
	h, hl := refreshOnce(t, args)
	if hl.Health != component.HealthUnhealthy || secure.Refused() == 0 {
		t.Fatalf("without proxy_connect_header: %+v, refused %d", hl, secure.Refused())
	}
	if strings.Contains(h.logs.String(), "prox"+"y-pw") {
		t.Fatal("proxy password in logs")
	}
	args.HTTPClient.ProxyConnectHeader = map[string][]value.Secret{"Proxy-Authorization": {proxyAuth}}
	if _, hl := refreshOnce(t, args); hl.Health != component.HealthHealthy {
		t.Fatalf("with proxy_connect_header: %+v", hl)
	}
	connects, to := secure.Connects()
	if len(connects) == 0 || to[len(to)-1] != strings.TrimPrefix(tlsEC2.URL, "https://") {
		t.Fatalf("CONNECTs to %v", to)
	}
}

// TestAuthSettingsWarnOnce: the HTTP authentication settings cannot apply
// (SigV4 is the Authorization header): discovery keeps working with the
// signature intact, no OAuth2 token is ever fetched, and each setting is
// named in one warning for the component's lifetime.
func TestAuthSettingsWarnOnce(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	f.SetInstances(fleet())
	ts := httpfixture.StartTokenServer(t, "id", "oauth-s3cret", 3600, nil)
	args := userArgs(f, f.AddUser("u"))
	args.HTTPClient.OAuth2 = &httpclient.OAuth2{ClientID: "id", ClientSecret: "oauth-s3cret", TokenURL: value.NewURL(ts.TokenURL())}
	h, hl := refreshOnce(t, args)
	if hl.Health != component.HealthHealthy {
		t.Fatalf("with oauth2: %+v", hl)
	}
	if len(ts.Issued()) != 0 {
		t.Fatalf("%d OAuth2 tokens fetched", len(ts.Issued()))
	}
	args.HTTPClient.OAuth2 = nil
	args.HTTPClient.BearerToken = "bearer-s3cret"
	if err := h.c.Update(args); err != nil {
		t.Fatal(err)
	}
	if err := h.c.Update(args); err != nil {
		t.Fatal(err)
	}
	h.c.refresh(context.Background())
	if hl := h.c.CurrentHealth(); hl.Health != component.HealthHealthy {
		t.Fatalf("with bearer_token: %+v", hl)
	}
	if s := f.Stats(); s.Rejected != 0 {
		t.Fatalf("signatures rejected: %+v", s)
	}
	logs := h.logs.String()
	for _, name := range []string{"oauth2", "bearer_token"} {
		if n := strings.Count(logs, "argument="+name+" "); n != 1 {
			t.Errorf("%d warnings naming %s, want 1:\n%s", n, name, logs)
		}
	}
	if !strings.Contains(logs, "SigV4") || strings.Contains(logs, "s3cret") {
		t.Fatalf("warning: %s", logs)
	}
}

// TestFollowRedirects: a redirecting endpoint is followed by default and
// not with follow_redirects = false. (Go follows a 302 of a POST as a GET;
// the SDK's POST bodies cannot be replayed for a 307.)
func TestFollowRedirects(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	var mu sync.Mutex
	arrived := 0
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		mu.Unlock()
		http.Error(w, "gone", http.StatusGone)
	}))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/moved", http.StatusFound)
	}))
	defer redirector.Close()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return arrived
	}
	args := userArgs(f, f.AddUser("u"))
	args.Endpoint = redirector.URL
	args.HTTPClient.FollowRedirects = false
	if _, hl := refreshOnce(t, args); hl.Health != component.HealthUnhealthy || !strings.Contains(hl.Message, "302") {
		t.Fatalf("not following: %+v", hl)
	}
	if count() != 0 {
		t.Fatalf("the redirect target saw %d requests though redirects are off", count())
	}
	args.HTTPClient.FollowRedirects = true
	if _, hl := refreshOnce(t, args); count() == 0 || !strings.Contains(hl.Message, "410") {
		t.Fatalf("the redirect was not followed: %d requests, health %+v", count(), hl)
	}
}
