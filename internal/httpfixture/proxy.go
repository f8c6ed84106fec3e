package httpfixture

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Proxy is a forward HTTP proxy: CONNECT tunnels (https targets) and
// absolute-form requests (http targets). It counts both and keeps the
// headers of every CONNECT. With RequireAuth set, a CONNECT or request
// without that Proxy-Authorization value gets 407.
type Proxy struct {
	*httptest.Server

	mu          sync.Mutex
	routes      map[string]string
	requireAuth string
	connects    []http.Header
	connectTo   []string
	forwarded   []string
	refused     int
}

// StartProxy starts a proxy on loopback until the test ends.
func StartProxy(t testing.TB) *Proxy {
	t.Helper()
	p := &Proxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Server.Close)
	return p
}

// Route makes the proxy connect to addr when asked for host (host:port),
// so tests can use names that resolve nowhere (Go never proxies loopback
// addresses taken from the environment).
func (p *Proxy) Route(host, addr string) {
	p.mu.Lock()
	if p.routes == nil {
		p.routes = map[string]string{}
	}
	p.routes[host] = addr
	p.mu.Unlock()
}

func (p *Proxy) dialAddr(host string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.routes[host]; ok {
		return a
	}
	return host
}

// RequireAuth makes the proxy demand "Proxy-Authorization: value".
func (p *Proxy) RequireAuth(value string) {
	p.mu.Lock()
	p.requireAuth = value
	p.mu.Unlock()
}

// Connects returns the headers of each CONNECT received, and their targets.
func (p *Proxy) Connects() ([]http.Header, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]http.Header(nil), p.connects...), append([]string(nil), p.connectTo...)
}

// Forwarded returns the absolute URLs of the plain requests forwarded.
func (p *Proxy) Forwarded() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.forwarded...)
}

// Refused is how many requests got 407.
func (p *Proxy) Refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// Total is the number of CONNECTs plus forwarded requests.
func (p *Proxy) Total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.connects) + len(p.forwarded)
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	need := p.requireAuth
	if need != "" && r.Header.Get("Proxy-Authorization") != need {
		p.refused++
		p.mu.Unlock()
		w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
		http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
		return
	}
	if r.Method == http.MethodConnect {
		p.connects = append(p.connects, r.Header.Clone())
		p.connectTo = append(p.connectTo, r.Host)
	} else {
		p.forwarded = append(p.forwarded, r.URL.String())
	}
	p.mu.Unlock()

	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if !r.URL.IsAbs() {
		http.Error(w, "a proxy needs an absolute-form request URI", http.StatusBadRequest)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.Header.Del("Proxy-Authorization")
	out.Header.Del("Proxy-Connection")
	addr := p.dialAddr(out.URL.Host)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request) {
	upstream, err := net.DialTimeout("tcp", p.dialAddr(r.Host), 10*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		upstream.Close()
		http.Error(w, "no hijacking", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
	client, buf, err := hj.Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	go func() {
		defer upstream.Close()
		defer client.Close()
		if n := buf.Reader.Buffered(); n > 0 {
			b, _ := buf.Reader.Peek(n)
			if _, err := upstream.Write(b); err != nil {
				return
			}
		}
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(client, upstream)
			close(done)
		}()
		_, _ = io.Copy(upstream, client)
		upstream.(*net.TCPConn).CloseWrite()
		<-done
	}()
}
