package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// With --cluster.enable-tls, flow's one HTTP port speaks both plain HTTP
// (the operator's browser, probes and scrapes of /metrics, as without
// clustering) and TLS (peers): the first byte of a connection tells them
// apart, since a TLS connection starts with a handshake record (0x16) and
// an HTTP request with a method name or the HTTP/2 preface. The cluster
// endpoints accept only TLS with a verified client certificate (see
// transport.go), so plain HTTP reaches everything but the gossip.

// sniffTimeout bounds the wait for a connection's first byte; a client that
// sends nothing is closed then (the HTTP server's own header timeout starts
// only after this).
const sniffTimeout = 10 * time.Second

// maxSniffing bounds the connections whose first byte is awaited at once.
const maxSniffing = 1024

// TLSListener wraps the HTTP listener so that connections opening with a
// TLS handshake are served over TLS with cfg (which must offer "h2" for
// peers), and the others as plain HTTP.
func TLSListener(inner net.Listener, cfg *tls.Config) net.Listener {
	l := &sniffListener{
		Listener: inner,
		cfg:      cfg,
		conns:    make(chan net.Conn),
		errs:     make(chan error, 1),
		done:     make(chan struct{}),
		slots:    make(chan struct{}, maxSniffing),
	}
	go l.acceptLoop()
	return l
}

type sniffListener struct {
	net.Listener
	cfg       *tls.Config
	conns     chan net.Conn
	errs      chan error
	done      chan struct{}
	closeOnce sync.Once
	slots     chan struct{}
}

func (l *sniffListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			select {
			case l.errs <- err:
			case <-l.done:
			}
			return
		}
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			c.Close()
			return
		}
		go l.sniff(c)
	}
}

func (l *sniffListener) sniff(c net.Conn) {
	defer func() { <-l.slots }()
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	var first [1]byte
	if _, err := c.Read(first[:]); err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	var out net.Conn = &prefixConn{Conn: c, prefix: first[:]}
	if first[0] == 0x16 {
		out = tls.Server(out, l.cfg)
	}
	select {
	case l.conns <- out:
	case <-l.done:
		out.Close()
	}
}

func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *sniffListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// prefixConn replays the bytes read to sniff the protocol.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// TLSFiles are the --cluster.tls-* flags.
type TLSFiles struct {
	CAPath, CertPath, KeyPath, ServerName string
}

// Load reads the files into the server and client configurations: both
// sides present the certificate and verify the other against the CA, so
// only holders of a certificate from that CA can join.
func (f TLSFiles) Load() (*TLSConfig, error) {
	if f.CAPath == "" || f.CertPath == "" || f.KeyPath == "" {
		return nil, errors.New("--cluster.enable-tls needs --cluster.tls-ca-path, --cluster.tls-cert-path and --cluster.tls-key-path")
	}
	caPEM, err := os.ReadFile(f.CAPath)
	if err != nil {
		return nil, fmt.Errorf("--cluster.tls-ca-path: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("--cluster.tls-ca-path=%s holds no PEM certificate", f.CAPath)
	}
	cert, err := tls.LoadX509KeyPair(f.CertPath, f.KeyPath)
	if err != nil {
		return nil, fmt.Errorf("--cluster.tls-cert-path and --cluster.tls-key-path: %w", err)
	}
	return &TLSConfig{
		Server: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			// Browsers and probes may use TLS without a client certificate;
			// the cluster endpoints themselves require a verified one.
			ClientAuth: tls.VerifyClientCertIfGiven,
			ClientCAs:  pool,
			NextProtos: []string{"h2", "http/1.1"},
		},
		Client: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			RootCAs:      pool,
			ServerName:   f.ServerName,
			NextProtos:   []string{"h2"},
		},
	}, nil
}

// ConfigureServer enables the protocols peers speak on flow's HTTP server:
// h2c (HTTP/2 with prior knowledge on plain TCP) and HTTP/2 over TLS,
// besides HTTP/1.1 for everyone else.
func ConfigureServer(srv *http.Server) {
	if srv.Protocols == nil {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetHTTP2(true)
	}
	srv.Protocols.SetUnencryptedHTTP2(true)
}
