package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// The gossip transport: memberlist's packets and streams carried over HTTP/2
// on flow's own HTTP server (--server.http.listen-addr), so a cluster needs
// one port per agent, as Alloy's does.
//
// # Wire format
//
// Both endpoints take POST requests over HTTP/2: h2c (HTTP/2 with prior
// knowledge over plain TCP) by default, HTTP/2 over TLS with
// --cluster.enable-tls. Every request carries two headers:
//
//	Flow-Cluster-Name: <--cluster.name of the sender>
//	Flow-Cluster-From: <the sender's advertised address, IP:port>
//
// A request whose cluster name differs from the receiver's is refused with
// 403 and a text body saying both names, so peers of different clusters
// never merge and a misconfigured join fails with a clear error.
//
// POST /api/v0/cluster/transport/packet carries one memberlist packet (a
// UDP datagram in memberlist's own transport) as the whole body,
// Content-Type application/octet-stream, at most MaxPacketSize bytes. The
// answer is 204 once the packet is queued for memberlist, 413 for a larger
// body, 400 for a missing or malformed Flow-Cluster-From (memberlist answers
// the address it names), and 503 when the receive queue is full (the packet
// is dropped, as a datagram would be). The sender does not wait for more than
// packetTimeout and drops packets beyond maxPacketsInFlight; memberlist's
// probes and retransmissions are built for lossy datagrams.
//
// POST /api/v0/cluster/transport/stream is one memberlist stream (a TCP
// connection in memberlist's own transport): the request body carries the
// bytes from the dialling peer, the response body the bytes back, both
// directions at once (full duplex, which is why HTTP/2 is required: an
// HTTP/1.x request is refused with 505). The receiver answers 200 and flushes
// the headers at once; from then on both bodies are raw memberlist stream
// bytes. A stream carries at most MaxStreamBytes in each direction, lives at
// most maxStreamLifetime, and at most maxIncomingStreams run at once (503
// beyond). memberlist's own deadlines (TCPTimeout, 10 s) apply to every read
// and write.
//
// With --cluster.enable-tls both endpoints refuse (403) a request that did
// not come over TLS with a client certificate verified against
// --cluster.tls-ca-path, so a peer without a certificate from that CA cannot
// join, send gossip or read the member list.
const (
	// PacketPath and StreamPath are the transport's endpoints.
	PacketPath = "/api/v0/cluster/transport/packet"
	StreamPath = "/api/v0/cluster/transport/stream"

	headerClusterName = "Flow-Cluster-Name"
	headerFrom        = "Flow-Cluster-From"

	// MaxPacketSize bounds one packet's body: the largest UDP datagram,
	// which is what memberlist's own transport accepts.
	MaxPacketSize = 64 << 10
	// MaxStreamBytes bounds each direction of one stream. memberlist's
	// largest stream message is a push/pull of the whole member list, which
	// it caps at 20 MiB (maxPushStateBytes).
	MaxStreamBytes = 32 << 20

	// udpBufferSize is the packet size memberlist fills with gossip.
	// Packets ride on TCP here, so they may be larger than a LAN datagram
	// (1400), which means fewer requests; it stays well under
	// MaxPacketSize.
	udpBufferSize = 8 << 10

	maxIncomingStreams = 256
	maxStreamLifetime  = time.Minute
	packetQueueLength  = 1024
	maxPacketsInFlight = 512
	packetTimeout      = 5 * time.Second
)

// TLSConfig holds the TLS settings between peers, from the --cluster.tls-*
// flags.
type TLSConfig struct {
	// Server is used by the listener for TLS connections: flow's
	// certificate, client certificates verified (when given) against the CA.
	Server *tls.Config
	// Client is used to call peers: the CA to verify them, flow's
	// certificate as the client certificate, the server name to verify.
	Client *tls.Config
}

// transport implements memberlist.NodeAwareTransport over HTTP/2.
type transport struct {
	log         *slog.Logger
	clusterName string
	advertise   *net.TCPAddr
	requireTLS  bool
	scheme      string
	client      *http.Client
	metrics     *metrics

	packetCh chan *memberlist.Packet
	streamCh chan net.Conn

	inFlight  chan struct{} // semaphore of outgoing packets
	streams   chan struct{} // semaphore of incoming streams
	done      chan struct{} // closed by Shutdown
	closeOnce sync.Once
	sendMu    sync.Mutex
	shut      bool           // set by Shutdown, under sendMu
	wg        sync.WaitGroup // outgoing packet goroutines
}

var _ memberlist.NodeAwareTransport = (*transport)(nil)

func newTransport(log *slog.Logger, clusterName string, advertise *net.TCPAddr, tlsCfg *TLSConfig, m *metrics) *transport {
	rt := &http.Transport{
		Proxy:               nil, // peers are reached directly, never through HTTP_PROXY
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     2 * time.Minute,
		// Gossip is small and frequent: no gzip round trips.
		DisableCompression: true,
	}
	rt.Protocols = new(http.Protocols)
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
		rt.TLSClientConfig = tlsCfg.Client.Clone()
		rt.Protocols.SetHTTP2(true)
	} else {
		rt.Protocols.SetUnencryptedHTTP2(true)
	}
	rt.HTTP2 = &http.HTTP2Config{
		// Detect a dead peer's connection without waiting for TCP.
		SendPingTimeout: 5 * time.Second,
		PingTimeout:     5 * time.Second,
	}
	return &transport{
		log:         log,
		clusterName: clusterName,
		advertise:   advertise,
		requireTLS:  tlsCfg != nil,
		scheme:      scheme,
		client:      &http.Client{Transport: rt},
		metrics:     m,
		packetCh:    make(chan *memberlist.Packet, packetQueueLength),
		streamCh:    make(chan net.Conn),
		inFlight:    make(chan struct{}, maxPacketsInFlight),
		streams:     make(chan struct{}, maxIncomingStreams),
		done:        make(chan struct{}),
	}
}

// FinalAdvertiseAddr returns the address peers reach this node at: the
// HTTP address flow advertises, whatever memberlist was configured with.
func (t *transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.advertise.IP, t.advertise.Port, nil
}

func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }
func (t *transport) StreamCh() <-chan net.Conn           { return t.streamCh }

// WriteTo sends a packet without waiting for it: memberlist calls it from
// its probe and gossip loops, which must not stall on a slow or dead peer.
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	now := time.Now()
	// wg.Add must not race with Shutdown's wg.Wait: both under sendMu.
	t.sendMu.Lock()
	if t.shut {
		t.sendMu.Unlock()
		return now, errors.New("cluster transport is shut down")
	}
	select {
	case t.inFlight <- struct{}{}:
	default:
		t.sendMu.Unlock()
		t.metrics.txPacketsFailed.Inc()
		return now, fmt.Errorf("dropping a packet to %s: %d packets already in flight", addr, maxPacketsInFlight)
	}
	t.wg.Add(1)
	t.sendMu.Unlock()
	buf := bytes.Clone(b)
	go func() {
		defer t.wg.Done()
		defer func() { <-t.inFlight }()
		if err := t.sendPacket(buf, addr); err != nil {
			t.metrics.txPacketsFailed.Inc()
			t.log.Debug("cluster: sending a gossip packet failed", "peer", addr, "err", err)
			return
		}
		t.metrics.txPackets.Inc()
		t.metrics.txBytes.Add(float64(len(buf)))
	}()
	return now, nil
}

func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

func (t *transport) url(addr, path string) string {
	return t.scheme + "://" + addr + path
}

func (t *transport) newRequest(ctx context.Context, addr, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url(addr, path), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(headerClusterName, t.clusterName)
	req.Header.Set(headerFrom, t.advertise.String())
	return req, nil
}

func (t *transport) sendPacket(b []byte, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), packetTimeout)
	defer cancel()
	go func() {
		select {
		case <-t.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := t.newRequest(ctx, addr, PacketPath, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return responseError(resp)
	}
	return nil
}

// responseError turns a refusal into an error that quotes the peer's reason
// (its first KiB), such as a cluster name mismatch.
func responseError(resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return fmt.Errorf("peer answered %s: %s", resp.Status, bytes.TrimSpace(msg))
}

func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.dial(addr, timeout)
}

func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.dial(a.Addr, timeout)
}

// dial opens a stream: a POST whose request body is fed by Write and whose
// response body is read by Read.
func (t *transport) dial(addr string, timeout time.Duration) (net.Conn, error) {
	select {
	case <-t.done:
		return nil, errors.New("cluster transport is shut down")
	default:
	}
	remote, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("peer address %q: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	req, err := t.newRequest(ctx, addr, StreamPath, pr)
	if err != nil {
		cancel()
		return nil, err
	}
	// The request has no length: a stream.
	req.ContentLength = -1
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	// Go's HTTP/2 client notices a cancelled context only between reads of
	// the request body, so closing the pipe is what interrupts it.
	abort := func() {
		pw.CloseWithError(errTimeout)
		cancel()
	}
	timer := time.AfterFunc(timeout, abort)
	resp, err := t.client.Do(req)
	stopped := timer.Stop()
	if err != nil {
		cancel()
		pw.Close()
		if !stopped {
			return nil, &timeoutError{op: "dial " + addr}
		}
		return nil, fmt.Errorf("opening a gossip stream to %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		err := responseError(resp)
		resp.Body.Close()
		cancel()
		pw.Close()
		return nil, fmt.Errorf("opening a gossip stream to %s: %w", addr, err)
	}
	t.metrics.streams.WithLabelValues("out").Inc()
	c := &clientConn{
		body:   resp.Body,
		pw:     pw,
		cancel: cancel,
		local:  t.advertise,
		remote: remote,
		m:      t.metrics,
	}
	c.deadlines.init(c.expire)
	return c, nil
}

// Shutdown stops accepting packets and streams and waits for the packets
// being sent.
func (t *transport) Shutdown() error {
	t.closeOnce.Do(func() {
		t.sendMu.Lock()
		t.shut = true
		close(t.done)
		t.sendMu.Unlock()
	})
	t.wg.Wait()
	t.client.CloseIdleConnections()
	return nil
}

// ServeHTTP serves the two transport endpoints.
func (t *transport) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "the cluster transport takes POST requests only", http.StatusMethodNotAllowed)
		return
	}
	if t.requireTLS && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
		t.metrics.refused.WithLabelValues("tls").Inc()
		http.Error(w, "this peer accepts cluster traffic only over TLS with a client certificate signed by its --cluster.tls-ca-path", http.StatusForbidden)
		return
	}
	if name := r.Header.Get(headerClusterName); name != t.clusterName {
		t.metrics.refused.WithLabelValues("cluster_name").Inc()
		http.Error(w, fmt.Sprintf("cluster name mismatch: this peer is in cluster %q and the request is for cluster %q (--cluster.name must be the same on every peer)", t.clusterName, name), http.StatusForbidden)
		return
	}
	select {
	case <-t.done:
		http.Error(w, "this peer is leaving the cluster", http.StatusServiceUnavailable)
		return
	default:
	}
	switch r.URL.Path {
	case PacketPath:
		t.servePacket(w, r)
	case StreamPath:
		t.serveStream(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (t *transport) servePacket(w http.ResponseWriter, r *http.Request) {
	from, err := parseFrom(r.Header.Get(headerFrom))
	if err != nil {
		t.metrics.rxPacketsFailed.Inc()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	buf, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPacketSize))
	if err != nil {
		t.metrics.rxPacketsFailed.Inc()
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, fmt.Sprintf("a cluster packet is at most %d bytes", MaxPacketSize), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading the packet: "+err.Error(), http.StatusBadRequest)
		return
	}
	p := &memberlist.Packet{Buf: buf, From: from, Timestamp: time.Now()}
	select {
	case t.packetCh <- p:
	default:
		t.metrics.rxPacketsFailed.Inc()
		http.Error(w, "receive queue full; packet dropped", http.StatusServiceUnavailable)
		return
	}
	t.metrics.rxPackets.Inc()
	t.metrics.rxBytes.Add(float64(len(buf)))
	w.WriteHeader(http.StatusNoContent)
}

// parseFrom reads Flow-Cluster-From: an IP and a port.
func parseFrom(s string) (*net.TCPAddr, error) {
	if s == "" {
		return nil, fmt.Errorf("missing %s header: the sender's advertised IP:port", headerFrom)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return nil, fmt.Errorf("%s header %q is not IP:port: %v", headerFrom, s, err)
	}
	ip := net.ParseIP(host)
	p, perr := strconv.ParseUint(port, 10, 16)
	if ip == nil || perr != nil || p == 0 {
		return nil, fmt.Errorf("%s header %q is not IP:port", headerFrom, s)
	}
	return &net.TCPAddr{IP: ip, Port: int(p)}, nil
}

func (t *transport) serveStream(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 {
		http.Error(w, "a cluster stream needs HTTP/2 (full duplex); this request came over "+r.Proto, http.StatusHTTPVersionNotSupported)
		return
	}
	select {
	case t.streams <- struct{}{}:
		defer func() { <-t.streams }()
	default:
		http.Error(w, fmt.Sprintf("too many cluster streams (%d) at once", maxIncomingStreams), http.StatusServiceUnavailable)
		return
	}
	remote, _ := parseFrom(r.Header.Get(headerFrom))
	var remoteAddr net.Addr = remote
	if remote == nil {
		// Streams answer on themselves; the address is only for logs.
		remoteAddr = stringAddr(r.RemoteAddr)
	}
	rc := http.NewResponseController(w)
	// Until memberlist sets its own deadlines, the stream may live at most
	// maxStreamLifetime; this also overrides the server's own timeouts,
	// which are meant for ordinary requests.
	lifetime := time.Now().Add(maxStreamLifetime)
	_ = rc.SetReadDeadline(lifetime)
	_ = rc.SetWriteDeadline(lifetime)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	c := &serverConn{
		body:   http.MaxBytesReader(w, r.Body, MaxStreamBytes),
		w:      w,
		rc:     rc,
		local:  t.advertise,
		remote: remoteAddr,
		closed: make(chan struct{}),
		limit:  lifetime,
		m:      t.metrics,
	}
	t.metrics.streams.WithLabelValues("in").Inc()
	select {
	case t.streamCh <- c:
	case <-t.done:
		return
	case <-r.Context().Done():
		return
	}
	timer := time.NewTimer(maxStreamLifetime)
	defer timer.Stop()
	select {
	case <-c.closed:
	case <-r.Context().Done():
	case <-t.done:
	case <-timer.C:
	}
	// Unblock a Read or Write in progress, then forbid further use: the
	// ResponseWriter must not be touched once this handler returns.
	c.finish()
}

// stringAddr is a net.Addr for logs.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

// timeoutError is a net.Error that says a deadline passed.
type timeoutError struct{ op string }

func (e *timeoutError) Error() string   { return e.op + ": i/o timeout" }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }
func (e *timeoutError) Unwrap() error   { return errTimeout }

var errTimeout = errors.New("deadline exceeded")

// clientConn is the dialling side of a stream.
type clientConn struct {
	body      io.ReadCloser
	pw        *io.PipeWriter
	cancel    context.CancelFunc
	local     net.Addr
	remote    net.Addr
	m         *metrics
	deadlines deadlines
	rx, tx    atomic.Int64
	closeOnce sync.Once
}

// expire aborts the stream when a deadline passes: closing the request
// body's pipe ends the HTTP/2 client's write loop, which then sees the
// cancelled context and resets the stream, ending reads too.
func (c *clientConn) expire() {
	c.pw.CloseWithError(errTimeout)
	c.cancel()
}

func (c *clientConn) Read(p []byte) (int, error) {
	if c.deadlines.passed(true) {
		return 0, &timeoutError{op: "read"}
	}
	n, err := c.body.Read(p)
	c.m.streamRxBytes.Add(float64(n))
	if c.rx.Add(int64(n)) > MaxStreamBytes {
		c.Close()
		return n, fmt.Errorf("a cluster stream carries at most %d bytes each way", MaxStreamBytes)
	}
	if err != nil && c.deadlines.passed(true) {
		return n, &timeoutError{op: "read"}
	}
	return n, err
}

func (c *clientConn) Write(p []byte) (int, error) {
	if c.deadlines.passed(false) {
		return 0, &timeoutError{op: "write"}
	}
	if c.tx.Add(int64(len(p))) > MaxStreamBytes {
		return 0, fmt.Errorf("a cluster stream carries at most %d bytes each way", MaxStreamBytes)
	}
	n, err := c.pw.Write(p)
	c.m.streamTxBytes.Add(float64(n))
	if err != nil && c.deadlines.passed(false) {
		return n, &timeoutError{op: "write"}
	}
	return n, err
}

func (c *clientConn) Close() error {
	c.closeOnce.Do(func() {
		c.deadlines.stop()
		c.pw.Close()
		c.cancel()
		c.body.Close()
	})
	return nil
}

func (c *clientConn) LocalAddr() net.Addr  { return c.local }
func (c *clientConn) RemoteAddr() net.Addr { return c.remote }

func (c *clientConn) SetDeadline(t time.Time) error {
	c.deadlines.set(t, t, true, true)
	return nil
}
func (c *clientConn) SetReadDeadline(t time.Time) error {
	c.deadlines.set(t, time.Time{}, true, false)
	return nil
}
func (c *clientConn) SetWriteDeadline(t time.Time) error {
	c.deadlines.set(time.Time{}, t, false, true)
	return nil
}

// deadlines implements net.Conn deadlines for the dialling side, whose
// reads and writes can only be interrupted by cancelling the whole request:
// when a deadline passes the stream is cancelled, and every later call fails
// with a timeout. memberlist closes a stream on any error, so a stream that
// timed out is never needed again.
type deadlines struct {
	mu          sync.Mutex
	read, write time.Time
	timer       *time.Timer
	expire      func()
	expired     bool
	stopped     bool
}

func (d *deadlines) init(expire func()) { d.expire = expire }

func (d *deadlines) set(r, w time.Time, setR, setW bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if setR {
		d.read = r
	}
	if setW {
		d.write = w
	}
	if d.stopped || d.expired {
		return
	}
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if next := earliest(d.read, d.write); !next.IsZero() {
		d.timer = time.AfterFunc(time.Until(next), d.fire)
	}
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case a.Before(b):
		return a
	}
	return b
}

func (d *deadlines) fire() {
	d.mu.Lock()
	next := earliest(d.read, d.write)
	if d.stopped || d.expired || next.IsZero() || time.Now().Before(next) {
		// Stopped, or the deadline moved meanwhile.
		d.mu.Unlock()
		return
	}
	d.expired = true
	d.mu.Unlock()
	d.expire()
}

// passed reports whether the stream timed out, or the given deadline passed.
func (d *deadlines) passed(read bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.write
	if read {
		t = d.read
	}
	return d.expired || (!t.IsZero() && !time.Now().Before(t))
}

func (d *deadlines) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if d.timer != nil {
		d.timer.Stop()
	}
}

// serverConn is the accepting side of a stream: the request body and the
// response writer of a running handler. Deadlines map onto the handler's
// ResponseController, which HTTP/2 supports per stream.
type serverConn struct {
	body   io.ReadCloser
	w      http.ResponseWriter
	rc     *http.ResponseController
	local  net.Addr
	remote net.Addr
	limit  time.Time // deadlines never go past the stream's lifetime
	m      *metrics

	mu        sync.RWMutex // held for reading by Read and Write; finish takes it for writing
	finished  bool
	closed    chan struct{}
	closeOnce sync.Once
	tx        atomic.Int64
}

var errStreamClosed = errors.New("cluster stream closed")

func (c *serverConn) Read(p []byte) (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.finished {
		return 0, errStreamClosed
	}
	n, err := c.body.Read(p)
	c.m.streamRxBytes.Add(float64(n))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, &timeoutError{op: "read"}
	}
	return n, err
}

func (c *serverConn) Write(p []byte) (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.finished {
		return 0, errStreamClosed
	}
	if c.tx.Add(int64(len(p))) > MaxStreamBytes {
		return 0, fmt.Errorf("a cluster stream carries at most %d bytes each way", MaxStreamBytes)
	}
	n, err := c.w.Write(p)
	if err == nil {
		err = c.rc.Flush()
	}
	c.m.streamTxBytes.Add(float64(n))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, &timeoutError{op: "write"}
	}
	return n, err
}

// Close ends the stream: the handler returns, which ends the response.
func (c *serverConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

// finish is called by the handler before it returns.
func (c *serverConn) finish() {
	// A past deadline makes a blocked Read or Write return at once.
	past := time.Now().Add(-time.Second)
	_ = c.rc.SetReadDeadline(past)
	_ = c.rc.SetWriteDeadline(past)
	c.mu.Lock()
	c.finished = true
	c.mu.Unlock()
	c.Close()
}

func (c *serverConn) LocalAddr() net.Addr  { return c.local }
func (c *serverConn) RemoteAddr() net.Addr { return c.remote }

func (c *serverConn) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(c.limit) {
		return c.limit
	}
	return t
}

func (c *serverConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *serverConn) SetReadDeadline(t time.Time) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.finished {
		return errStreamClosed
	}
	return c.rc.SetReadDeadline(c.clamp(t))
}

func (c *serverConn) SetWriteDeadline(t time.Time) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.finished {
		return errStreamClosed
	}
	return c.rc.SetWriteDeadline(c.clamp(t))
}
