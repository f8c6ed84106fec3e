package remotewrite

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/components/prometheus/internal/rwtest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/decode"
	"github.com/flow-telemetry/flow/syntax/value"
)

// deliverWithToken runs an endpoint configured by auth against a receiver
// that requires "Authorization: Bearer <token>", and fails t unless samples
// are delivered and every request carried the token.
func deliverWithToken(t *testing.T, token string, auth func(*EndpointOptions)) (*Component, *rwtest.Receiver) {
	t.Helper()
	r := rwtest.Start(t)
	check := &bearerCheck{token: token}
	r.Wrap(check.wrap)
	c, recv, _ := start(t, testArgs(r.URL(), auth))
	g := newGenerator(recv, 5)
	g.warmUp(t, r)
	g.tick(t)
	waitAll(t, g, r, 20*time.Second)
	if check.ok.Load() == 0 || check.missing.Load() != 0 || check.bad.Load() != 0 {
		t.Fatalf("requests with the token %d, without %d, with another %d", check.ok.Load(), check.missing.Load(), check.bad.Load())
	}
	return c, r
}

// requireBearer puts a check in front of the receiver: requests without
// "Authorization: Bearer <token>" get 401 and are counted.
type bearerCheck struct {
	token            string
	ok, bad, missing atomic.Int64
}

func (b *bearerCheck) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch got := r.Header.Get("Authorization"); {
		case got == "":
			b.missing.Add(1)
		case got != "Bearer "+b.token:
			b.bad.Add(1)
		default:
			b.ok.Add(1)
			next.ServeHTTP(w, r)
			return
		}
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	})
}

// azuread { managed_identity { client_id } }: the token comes from the
// machine's managed identity endpoint (here App Service's, whose address
// the IDENTITY_ENDPOINT and IDENTITY_HEADER variables give, served by a
// local server) for Azure Monitor's audience, and every request carries it.
func TestAzureADManagedIdentity(t *testing.T) {
	const clientID = "00000000-0000-4000-8000-000000000001"
	var tokenRequests atomic.Int64
	var mu sync.Mutex
	var lastQuery string
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-IDENTITY-HEADER") != "identity-secret" {
			http.Error(w, "missing identity header", http.StatusUnauthorized)
			return
		}
		tokenRequests.Add(1)
		mu.Lock()
		lastQuery = r.URL.RawQuery
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"azure-token-1","expires_on":"%d","resource":%q,"token_type":"Bearer","client_id":%q}`,
			time.Now().Add(time.Hour).Unix(), r.URL.Query().Get("resource"), clientID)
	}))
	defer idp.Close()
	t.Setenv("IDENTITY_ENDPOINT", idp.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", "identity-secret")

	c, _ := deliverWithToken(t, "azure-token-1", func(ep *EndpointOptions) {
		ep.AzureAD = &AzureAD{Cloud: "AzurePublic", ManagedIdentity: &AzureManagedIdentity{ClientID: clientID}}
	})
	mu.Lock()
	q := lastQuery
	mu.Unlock()
	if !strings.Contains(q, "client_id="+clientID) || !strings.Contains(q, "monitor.azure.com") {
		t.Errorf("token request %q: want the managed identity's client_id and Azure Monitor's resource", q)
	}
	if n := tokenRequests.Load(); n > 2 {
		t.Errorf("%d token requests for a token valid an hour: tokens are not cached", n)
	}
	if h := c.CurrentHealth(); h.Health != component.HealthHealthy {
		t.Errorf("health %s: %s", h.Health, h.Message)
	}
}

// azuread { oauth { … } } keeps its client secret out of every message.
func TestAzureADValidationAndSecrets(t *testing.T) {
	for _, tc := range []struct {
		ad   AzureAD
		want string
	}{
		{AzureAD{Cloud: "AzurePublic"}, "must provide"},
		{AzureAD{Cloud: "Mars", SDK: &AzureSDK{TenantID: "t"}}, "cloud"},
		{AzureAD{Cloud: "AzurePublic", ManagedIdentity: &AzureManagedIdentity{ClientID: "not-a-uuid"}}, "client_id is invalid"},
		{AzureAD{Cloud: "AzurePublic", SDK: &AzureSDK{TenantID: "t"}, OAuth: &AzureOAuth{ClientID: "00000000-0000-4000-8000-000000000001", ClientSecret: "hunter2", TenantID: "t"}}, "multiple"},
	} {
		args := testArgs("http://127.0.0.1:9/api/v1/write", func(ep *EndpointOptions) { ep.AzureAD = &tc.ad })
		err := args.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error containing %q", tc.ad, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error quotes the client secret: %v", err)
		}
	}
	args := testArgs("http://127.0.0.1:9/api/v1/write", func(ep *EndpointOptions) {
		ep.AzureAD = &AzureAD{Cloud: "AzurePublic", SDK: &AzureSDK{TenantID: "t"}}
		ep.HTTPClient.BearerToken = "x"
	})
	if err := args.Validate(); err == nil || !strings.Contains(err.Error(), "at most one") {
		t.Errorf("azuread with bearer_token: %v, want \"at most one\"", err)
	}
}

// google_iam { credentials_file }: a service account's key signs a JWT
// exchanged at the account's token_uri (a local server here) for an access
// token, which every request carries.
func TestGoogleIAMCredentialsFile(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var grants atomic.Int64
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("assertion") == "" {
			http.Error(w, "no assertion", http.StatusBadRequest)
			return
		}
		grants.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"google-token-1","token_type":"Bearer","expires_in":3600}`)
	}))
	defer tokenSrv.Close()
	sa, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "flow-test",
		"private_key_id": "k1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})),
		"client_email":   "writer@flow-test.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      tokenSrv.URL + "/token",
	})
	file := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(file, sa, 0o600); err != nil {
		t.Fatal(err)
	}

	_, r := deliverWithToken(t, "google-token-1", func(ep *EndpointOptions) { ep.GoogleIAM = &GoogleIAM{CredentialsFile: file} })
	if grants.Load() == 0 {
		t.Fatal("the token endpoint of the credentials file was never asked")
	}

	// A missing file fails the component's build, naming the block.
	bad := testArgs(r.URL(), func(ep *EndpointOptions) {
		ep.GoogleIAM = &GoogleIAM{CredentialsFile: filepath.Join(t.TempDir(), "none.json")}
	})
	opts, _, _ := promtest.Options(t, "prometheus.remote_write.badiam")
	if _, err := New(opts, bad); err == nil || !strings.Contains(err.Error(), "google_iam") {
		t.Errorf("missing credentials file: %v, want an error naming google_iam", err)
	}
}

// round_robin_dns: a name with two addresses (two real servers on the same
// port of 127.0.0.1 and 127.0.0.2) gets its connections spread over both,
// each connection resolving the name anew. Only the name's resolution is
// supplied by the test.
func TestRoundRobinDNS(t *testing.T) {
	var hits [2]atomic.Int64
	ln1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln1.Addr().(*net.TCPAddr).Port
	ln2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.2:%d", port))
	if err != nil {
		t.Fatalf("listening on 127.0.0.2 (all of 127.0.0.0/8 is loopback on Linux): %v", err)
	}
	for i, ln := range []net.Listener{ln1, ln2} {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			// A new connection, and so a new pick, for every request.
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusNoContent)
		}), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
	const name = "rw.flow.test"
	old := lookupHost
	lookupHost = func(ctx context.Context, host string) ([]string, error) {
		if host == name {
			return []string{"127.0.0.1", "127.0.0.2"}, nil
		}
		return old(ctx, host)
	}
	t.Cleanup(func() { lookupHost = old })

	args := testArgs(fmt.Sprintf("http://%s:%d/api/v1/write", name, port), func(ep *EndpointOptions) {
		ep.RoundRobinDNS = true
		ep.QueueOptions.BatchSendDeadline = 20 * time.Millisecond
	})
	_, recv, _ := start(t, args)
	g := newGenerator(recv, 1)
	stop := g.background(t, 30*time.Millisecond)
	defer stop()
	testwait.Eventually(t, 30*time.Second, func() bool {
		return hits[0].Load() >= 3 && hits[1].Load() >= 3
	}, "requests at both addresses")
}

// Alloy's `sigv4 { region = "us-east-1" }` (Amazon Managed Service for
// Prometheus) is accepted: service_name defaults to "aps".
func TestAlloySigV4DefaultsToAPS(t *testing.T) {
	var s AlloySigV4
	s.SetToDefault()
	s.Region = "us-east-1"
	s.AccessKey, s.SecretKey = "AKIDEXAMPLE", value.Secret("secret")
	args := testArgs("https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write", func(ep *EndpointOptions) { ep.SigV4Alloy = &s })
	if err := args.Validate(); err != nil {
		t.Fatalf("sigv4 without service_name: %v", err)
	}
	if got := args.Endpoints[0].sigv4().ServiceName; got != "aps" {
		t.Errorf("service_name = %q, want aps", got)
	}
	s.ServiceName = "execute-api"
	if got := args.Endpoints[0].sigv4().ServiceName; got != "execute-api" {
		t.Errorf("service_name = %q, want execute-api", got)
	}
	// From the config text, as an Alloy user writes it.
	var a Arguments
	a.SetToDefault()
	file, diags := syntax.ParseFile([]byte(`endpoint {
  url = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
  sigv4 {
    region = "us-east-1"
  }
}
`), "amp.alloy")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if diags := decode.Body(file.Body, &hcl.EvalContext{}, &a); diags.HasErrors() {
		t.Fatalf("Alloy's AMP config: %s", diags.Error())
	}
	if err := a.Validate(); err != nil {
		t.Fatalf("Alloy's AMP config: %v", err)
	}
	if got := a.Endpoints[0].sigv4(); got.ServiceName != "aps" || got.Region != "us-east-1" {
		t.Errorf("decoded sigv4 = %+v, want service aps in us-east-1", got)
	}

	args.Endpoints[0].AzureAD = &AzureAD{Cloud: "AzurePublic", SDK: &AzureSDK{TenantID: "t"}}
	if err := args.Validate(); err == nil || !strings.Contains(err.Error(), "at most one") {
		t.Errorf("sigv4 with azuread: %v, want \"at most one\"", err)
	}
}
