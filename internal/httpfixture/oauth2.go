package httpfixture

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TokenServer is an OAuth2 token endpoint for the client-credentials grant
// (RFC 6749 §4.4): it checks the client's id and secret (HTTP Basic or
// form fields), issues tokens "token-1", "token-2", … that expire after
// ExpiresIn seconds, and remembers each token request's form.
type TokenServer struct {
	*httptest.Server
	ClientID, ClientSecret string

	mu        sync.Mutex
	expiresIn int
	issued    []string
	forms     []url.Values
	refused   int
}

// StartTokenServer starts a token endpoint on loopback (plain HTTP, or TLS
// from ca when ca is not nil) until the test ends. Its token URL is
// URL+"/token".
func StartTokenServer(t testing.TB, clientID, clientSecret string, expiresIn int, ca *CA) *TokenServer {
	t.Helper()
	ts := &TokenServer{ClientID: clientID, ClientSecret: clientSecret, expiresIn: expiresIn}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", ts.serve)
	if ca != nil {
		ts.Server = ca.StartTLS(t, mux, false)
	} else {
		ts.Server = httptest.NewServer(mux)
		t.Cleanup(ts.Server.Close)
	}
	return ts
}

// TokenURL is where clients ask for tokens.
func (ts *TokenServer) TokenURL() string { return ts.URL + "/token" }

// SetExpiresIn changes the lifetime of tokens issued from now on.
func (ts *TokenServer) SetExpiresIn(s int) {
	ts.mu.Lock()
	ts.expiresIn = s
	ts.mu.Unlock()
}

// Issued returns the tokens issued so far, in order.
func (ts *TokenServer) Issued() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.issued...)
}

// Forms returns the form of every accepted token request.
func (ts *TokenServer) Forms() []url.Values {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]url.Values(nil), ts.forms...)
}

// Refused is how many token requests had bad client credentials.
func (ts *TokenServer) Refused() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.refused
}

// Valid reports whether token was issued by this server.
func (ts *TokenServer) Valid(token string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, s := range ts.issued {
		if s == token {
			return true
		}
	}
	return false
}

// RequireToken wraps h so that requests without a bearer token this server
// issued get 401.
func (ts *TokenServer) RequireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !ts.Valid(tok) {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (ts *TokenServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if r.PostForm.Get("grant_type") != "client_credentials" || id != ts.ClientID || secret != ts.ClientSecret {
		ts.refused++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	tok := fmt.Sprintf("token-%d", len(ts.issued)+1)
	ts.issued = append(ts.issued, tok)
	ts.forms = append(ts.forms, r.PostForm)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": ts.expiresIn})
}
