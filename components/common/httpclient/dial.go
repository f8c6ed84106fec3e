package httpclient

import (
	"context"
	"net"
	"time"

	"github.com/prometheus/common/config"
	"golang.org/x/oauth2"

	"github.com/flow-telemetry/flow/internal/build"
)

// TokenStall bounds how long one read or write on a connection to an OAuth2
// token endpoint may make no progress. golang.org/x/oauth2 fetches tokens
// with the context Prometheus' client gives it, context.Background: no
// deadline, and not the request's. Without this bound a token endpoint that
// accepts a connection and then says nothing would block, forever, the
// scrape or push that needs the token. A variable for tests.
var TokenStall = time.Minute

// dialTimeout bounds establishing any connection (Prometheus' own dialer
// has none; the request's context usually ends it first).
const dialTimeout = 30 * time.Second

// dialContext dials like Prometheus' default and, for connections made to
// fetch an OAuth2 token (recognised by x/oauth2's context key, which the
// dial context inherits from the token request), bounds every read and
// write by TokenStall.
func dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil || ctx.Value(oauth2.HTTPClient) == nil {
		return conn, err
	}
	return &stallConn{Conn: conn, stall: TokenStall}, nil
}

// stallConn fails a Read or Write that makes no progress for stall.
type stallConn struct {
	net.Conn
	stall time.Duration
}

func (c *stallConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.stall)); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *stallConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.stall)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// ClientOptions are the options every client built from a Config needs:
// components that hand a converted config to Prometheus code that builds
// the client itself (the scrape manager) pass them along. Every request
// carries the User-Agent "flow/<version>" (build.UserAgent, the version
// `flow version` prints), replacing whatever the caller set (Prometheus'
// scrape loop sets "Prometheus/"). A caller that must keep its own, the AWS
// SDK, passes config.WithUserAgent("") after these.
func ClientOptions() []config.HTTPClientOption {
	return []config.HTTPClientOption{
		config.WithDialContextFunc(dialContext),
		config.WithUserAgent(build.UserAgent()),
	}
}
