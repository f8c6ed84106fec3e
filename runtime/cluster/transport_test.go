package cluster

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flow-telemetry/flow/internal/httpfixture"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// peer is a transport served by a real HTTP server on loopback.
type peer struct {
	t    *transport
	addr string
	m    *metrics
}

func newPeer(t *testing.T, clusterName string, tlsCfg *TLSConfig) *peer {
	t.Helper()
	ln := listen(t)
	m := newMetrics(func() float64 { return 0 })
	if err := m.register(prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}
	tr := newTransport(testLogger(t), clusterName, ln.Addr().(*net.TCPAddr), tlsCfg, m)
	serve(t, ln, func() http.Handler { return tr }, tlsCfg)
	t.Cleanup(func() { tr.Shutdown() })
	return &peer{t: tr, addr: ln.Addr().String(), m: m}
}

func TestPacketIsDelivered(t *testing.T) {
	a, b := newPeer(t, "prod", nil), newPeer(t, "prod", nil)
	payload := []byte("a memberlist packet")
	if _, err := a.t.WriteTo(payload, b.addr); err != nil {
		t.Fatal(err)
	}
	p := testwait.Receive(t, 30*time.Second, b.t.PacketCh(), "packet never arrived")
	if !bytes.Equal(p.Buf, payload) {
		t.Errorf("packet = %q, want %q", p.Buf, payload)
	}
	if p.From.String() != a.addr {
		t.Errorf("From = %s, want the sender's advertised address %s", p.From, a.addr)
	}
	if p.Timestamp.IsZero() {
		t.Error("packet has no receipt time")
	}
	testwait.Eventually(t, 20*time.Second, func() bool { return testutil.ToFloat64(a.m.txPackets) == 1 }, "sender counted the packet")
	if got := testutil.ToFloat64(b.m.rxBytes); got != float64(len(payload)) {
		t.Errorf("rx bytes = %v, want %d", got, len(payload))
	}
}

func TestPacketToDeadPeerDoesNotBlock(t *testing.T) {
	a := newPeer(t, "", nil)
	ln := listen(t)
	dead := ln.Addr().String()
	ln.Close()
	start := time.Now()
	for range 100 {
		if _, err := a.t.WriteTo([]byte("ping"), dead); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("100 packets to a dead peer took %v to hand over; WriteTo must not wait for the network", d)
	}
	testwait.Eventually(t, 10*time.Second, func() bool { return testutil.ToFloat64(a.m.txPacketsFailed) == 100 }, "failed sends counted")
}

func TestStreamCarriesBothDirections(t *testing.T) {
	a, b := newPeer(t, "prod", nil), newPeer(t, "prod", nil)
	conn, err := a.t.DialTimeout(b.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	srv := testwait.Receive(t, 30*time.Second, b.t.StreamCh(), "no stream accepted")
	if srv.RemoteAddr().String() != a.addr {
		t.Errorf("accepted stream's RemoteAddr = %s, want %s", srv.RemoteAddr(), a.addr)
	}
	// A request and a reply, as memberlist's push/pull does.
	if _, err := conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(srv, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("server read %q, %v", buf, err)
	}
	if _, err := srv.Write([]byte("world")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "world" {
		t.Fatalf("client read %q, %v", buf, err)
	}
	// Then 4 MiB each way at once: full duplex.
	big := make([]byte, 4<<20)
	rand.Read(big)
	errs := make(chan error, 4)
	go func() { _, err := conn.Write(big); errs <- err }()
	go func() { _, err := srv.Write(big); errs <- err }()
	go func() {
		got := make([]byte, len(big))
		_, err := io.ReadFull(srv, got)
		if err == nil && !bytes.Equal(got, big) {
			err = errors.New("server received different bytes")
		}
		errs <- err
	}()
	go func() {
		got := make([]byte, len(big))
		_, err := io.ReadFull(conn, got)
		if err == nil && !bytes.Equal(got, big) {
			err = errors.New("client received different bytes")
		}
		errs <- err
	}()
	for range 4 {
		if err := testwait.Receive(t, 30*time.Second, errs, "full-duplex transfer stalled"); err != nil {
			t.Fatal(err)
		}
	}
	// Closing one end ends the other's reads.
	conn.Close()
	srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := srv.Read(buf); err == nil {
		t.Error("server read after the client closed succeeded")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("server read after the client closed waited for its deadline instead of ending")
	}
	srv.Close()
}

func TestStreamDeadlines(t *testing.T) {
	a, b := newPeer(t, "", nil), newPeer(t, "", nil)
	conn, err := a.t.DialTimeout(b.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	srv := <-b.t.StreamCh()
	defer srv.Close()

	// The client's read deadline passes while the server says nothing.
	conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	start := time.Now()
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("client read past its deadline: err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("client read returned after %v, deadline was 200ms", d)
	}

	// The server's read deadline, through HTTP/2's per-stream deadline.
	conn2, err := a.t.DialTimeout(b.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	srv2 := <-b.t.StreamCh()
	defer srv2.Close()
	srv2.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = srv2.Read(make([]byte, 1))
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("server read past its deadline: err = %v, want a timeout", err)
	}
}

func TestDialTimesOutOnSilentPeer(t *testing.T) {
	a := newPeer(t, "", nil)
	// A listener that accepts and never answers.
	ln := listen(t)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	_, err := a.t.DialTimeout(ln.Addr().String(), 300*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("dial to a silent peer: err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("dial returned after %v, timeout was 300ms", d)
	}
}

func post(t *testing.T, c *http.Client, url, cluster, from string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(headerClusterName, cluster)
	if from != "" {
		req.Header.Set(headerFrom, from)
	}
	return httpfixture.Do(t, c, req)
}

func TestPacketSizeLimit(t *testing.T) {
	b := newPeer(t, "prod", nil)
	c := h2cClient()
	url := "http://" + b.addr + PacketPath
	if code, msg := post(t, c, url, "prod", "127.0.0.1:1", bytes.NewReader(make([]byte, MaxPacketSize))); code != http.StatusNoContent {
		t.Fatalf("a packet of exactly %d bytes: %d %s", MaxPacketSize, code, msg)
	}
	code, msg := post(t, c, url, "prod", "127.0.0.1:1", bytes.NewReader(make([]byte, MaxPacketSize+1)))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "65536") {
		t.Fatalf("a packet of %d bytes: %d %q, want 413 naming the limit", MaxPacketSize+1, code, msg)
	}
	if got := len(b.t.PacketCh()); got != 1 {
		t.Errorf("%d packets queued, want only the one within the limit", got)
	}
}

func TestPacketNeedsFrom(t *testing.T) {
	b := newPeer(t, "", nil)
	c := h2cClient()
	for _, from := range []string{"", "peer-1:80", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999"} {
		code, msg := post(t, c, "http://"+b.addr+PacketPath, "", from, strings.NewReader("x"))
		if code != http.StatusBadRequest || !strings.Contains(msg, headerFrom) {
			t.Errorf("From %q: %d %q, want 400 naming %s", from, code, msg, headerFrom)
		}
	}
}

func TestStreamSizeLimit(t *testing.T) {
	b := newPeer(t, "", nil)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, "http://"+b.addr+StreamPath, pr)
	req.Header.Set(headerFrom, "127.0.0.1:1")
	resp, err := h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	srv := <-b.t.StreamCh()
	defer srv.Close()
	go func() {
		chunk := make([]byte, 1<<20)
		for {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
	}()
	defer pw.Close()
	var total int64
	buf := make([]byte, 1<<20)
	var rerr error
	for total <= MaxStreamBytes+1<<20 {
		n, err := srv.Read(buf)
		total += int64(n)
		if err != nil {
			rerr = err
			break
		}
	}
	if rerr == nil || total > MaxStreamBytes {
		t.Fatalf("server read %d bytes (limit %d), last error %v: the limit was not enforced", total, MaxStreamBytes, rerr)
	}
}

func TestClusterNameMismatchIsRefused(t *testing.T) {
	a, b := newPeer(t, "staging", nil), newPeer(t, "prod", nil)
	_, err := a.t.DialTimeout(b.addr, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "cluster name mismatch") || !strings.Contains(err.Error(), `"prod"`) || !strings.Contains(err.Error(), `"staging"`) {
		t.Fatalf("dial across cluster names: err = %v, want a refusal naming both clusters", err)
	}
	code, msg := post(t, h2cClient(), "http://"+b.addr+PacketPath, "staging", a.addr, strings.NewReader("x"))
	if code != http.StatusForbidden || !strings.Contains(msg, "cluster name mismatch") {
		t.Fatalf("packet across cluster names: %d %q", code, msg)
	}
	// No header at all is the empty name, which is not "prod".
	code, _ = post(t, h2cClient(), "http://"+b.addr+PacketPath, "", a.addr, strings.NewReader("x"))
	if code != http.StatusForbidden {
		t.Errorf("packet without a cluster name: %d, want 403", code)
	}
	if len(b.t.PacketCh()) != 0 {
		t.Error("a refused packet reached memberlist")
	}
	if got := testutil.ToFloat64(b.m.refused.WithLabelValues("cluster_name")); got != 3 {
		t.Errorf("refusals counted = %v, want 3", got)
	}
}

func TestStreamNeedsHTTP2(t *testing.T) {
	b := newPeer(t, "", nil)
	code, msg := post(t, &http.Client{Timeout: 10 * time.Second}, "http://"+b.addr+StreamPath, "", "127.0.0.1:1", strings.NewReader("x"))
	if code != http.StatusHTTPVersionNotSupported || !strings.Contains(msg, "HTTP/2") {
		t.Fatalf("HTTP/1.1 stream: %d %q, want 505", code, msg)
	}
}

func TestGetIsRefused(t *testing.T) {
	b := newPeer(t, "", nil)
	resp, err := h2cClient().Get("http://" + b.addr + PacketPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
}

func TestTLSBetweenPeers(t *testing.T) {
	ca := httpfixture.NewCA(t)
	a, b := newPeer(t, "prod", peerTLS(t, ca)), newPeer(t, "prod", peerTLS(t, ca))

	// Peers with certificates from the CA exchange packets and streams.
	if _, err := a.t.WriteTo([]byte("over tls"), b.addr); err != nil {
		t.Fatal(err)
	}
	if p := testwait.Receive(t, 30*time.Second, b.t.PacketCh(), "packet over TLS never arrived"); string(p.Buf) != "over tls" {
		t.Fatalf("packet = %q", p.Buf)
	}
	conn, err := a.t.DialTimeout(b.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv := <-b.t.StreamCh()
	conn.Write([]byte("x"))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(srv, buf); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	srv.Close()

	pool := ca.Pool()

	// TLS without a client certificate: refused by the endpoint.
	code, msg := post(t, tlsClient(&tls.Config{RootCAs: pool}), "https://"+b.addr+PacketPath, "prod", a.addr, strings.NewReader("x"))
	if code != http.StatusForbidden || !strings.Contains(msg, "client certificate") {
		t.Errorf("TLS without a client certificate: %d %q, want 403", code, msg)
	}
	// Plain HTTP to the cluster endpoint: refused; to the rest: served.
	code, msg = post(t, h2cClient(), "http://"+b.addr+PacketPath, "prod", a.addr, strings.NewReader("x"))
	if code != http.StatusForbidden || !strings.Contains(msg, "TLS") {
		t.Errorf("plain HTTP packet with TLS on: %d %q, want 403", code, msg)
	}
	resp, err := http.Get("http://" + b.addr + "/plain")
	if err != nil {
		t.Fatalf("plain HTTP beside TLS: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "plain ok" {
		t.Errorf("plain HTTP beside TLS answered %q", body)
	}
	// A peer whose certificate comes from another CA cannot even connect.
	other := httpfixture.NewCA(t)
	c := newPeer(t, "prod", peerTLS(t, other))
	if _, err := c.t.DialTimeout(b.addr, 5*time.Second); err == nil {
		t.Error("a peer with a certificate from another CA opened a stream")
	}
	if len(b.t.PacketCh()) != 0 {
		t.Error("a refused packet reached memberlist")
	}
}
