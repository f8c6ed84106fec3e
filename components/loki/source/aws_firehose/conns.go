package awsfirehose

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// connLimiter is the listener of the Firehose server: it keeps at most
// limit connections open (http > conn_limit). When a connection arrives at
// the limit, the connection idle the longest between requests is closed to
// make room (a keep-alive connection costs its client only a reconnect);
// when none is idle, the new connection is answered 503 with Retry-After
// and closed, so that Firehose retries rather than waiting in the kernel's
// accept queue behind connections that may be an attacker's.
type connLimiter struct {
	net.Listener
	limit    int
	rejected func() // counts refused connections
	// tls, when set, is the server's TLS configuration: a refused
	// connection is answered over TLS (HTTP/1.1 only).
	tls *tls.Config

	mu   sync.Mutex
	open map[*limitedConn]struct{}
	// rejecting bounds the goroutines answering refused connections;
	// beyond it a refused connection is closed without an answer.
	rejecting chan struct{}
}

// Bounds of answering a refused connection.
const (
	rejectors      = 8
	rejectDeadline = time.Second
	rejectMaxRead  = 64 << 10
)

func newConnLimiter(l net.Listener, limit int, rejected func(), tlsConfig *tls.Config) *connLimiter {
	cl := &connLimiter{Listener: l, limit: limit, rejected: rejected,
		open: map[*limitedConn]struct{}{}, rejecting: make(chan struct{}, rejectors)}
	if tlsConfig != nil {
		cl.tls = tlsConfig.Clone()
		cl.tls.NextProtos = []string{"http/1.1"}
	}
	return cl
}

// limitedConn is a connection the limiter counts.
type limitedConn struct {
	net.Conn
	l         *connLimiter
	idleSince time.Time // zero while new or serving a request; guarded by l.mu
	once      sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.open, c)
		c.l.mu.Unlock()
	})
	return err
}

// Accept returns the next connection within the limit.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: conn, l: l}
		l.mu.Lock()
		var victim *limitedConn
		if len(l.open) >= l.limit {
			for c := range l.open {
				if !c.idleSince.IsZero() && (victim == nil || c.idleSince.Before(victim.idleSince)) {
					victim = c
				}
			}
			if victim == nil {
				l.mu.Unlock()
				l.rejected()
				l.reject(conn)
				continue
			}
			delete(l.open, victim)
		}
		l.open[lc] = struct{}{}
		l.mu.Unlock()
		if victim != nil {
			victim.Conn.Close()
		}
		return lc, nil
	}
}

// connState is the server's ConnState hook: it tracks which connections are
// idle between requests.
func (l *connLimiter) connState(c net.Conn, s http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch s {
	case http.StateIdle:
		lc.idleSince = time.Now()
	case http.StateActive:
		lc.idleSince = time.Time{}
	case http.StateClosed, http.StateHijacked:
		delete(l.open, lc)
	}
}

// count is the number of open connections.
func (l *connLimiter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open)
}

// reject answers a connection over the limit with 503, reading its request
// headers (to echo the request ID, as Firehose expects) within a second and
// 64 KiB, then closes it.
func (l *connLimiter) reject(conn net.Conn) {
	select {
	case l.rejecting <- struct{}{}:
	default:
		conn.Close()
		return
	}
	go func() {
		defer func() { <-l.rejecting }()
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(rejectDeadline))
		if l.tls != nil {
			conn = tls.Server(conn, l.tls)
		}
		req, err := http.ReadRequest(bufio.NewReader(io.LimitReader(conn, rejectMaxRead)))
		if err != nil {
			return
		}
		b, _ := json.Marshal(response{RequestID: req.Header.Get(hdrRequestID), Timestamp: time.Now().Unix(),
			ErrorMessage: "flow has conn_limit (" + strconv.Itoa(l.limit) + ") connections open; Firehose will retry"})
		_, _ = io.WriteString(conn, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: "+
			retryAfterSeconds+"\r\nConnection: close\r\nContent-Length: "+strconv.Itoa(len(b))+"\r\n\r\n")
		_, _ = conn.Write(b)
		// Read what is left of the request (briefly), so that closing does
		// not reset the connection before the client reads the answer.
		if tc, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, rejectMaxRead))
	}()
}
