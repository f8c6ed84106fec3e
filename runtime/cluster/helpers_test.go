package cluster

import (
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/httpfixture"
)

// serve runs an HTTP server the way cmd/flow does with clustering on
// (HTTP/1.1, h2c and, with tlsCfg, HTTP/2 over TLS on one port) on a
// loopback listener, and returns its address. handler is called on each
// request, so a test can install the node's handler after creating it.
func serve(t testing.TB, ln net.Listener, handler func() http.Handler, tlsCfg *TLSConfig) {
	t.Helper()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/plain" {
				w.Write([]byte("plain ok"))
				return
			}
			handler().ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	ConfigureServer(srv)
	if tlsCfg != nil {
		ln = TLSListener(ln, tlsCfg.Server)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func testLogger(t testing.TB) *slog.Logger { return testLoggerTo(&flowproc.LockedBuffer{}) }

// testLoggerTo logs to buf, and with -v to stderr too (CLUSTER_DEBUG=1 for
// memberlist's debug lines).
func testLoggerTo(buf *flowproc.LockedBuffer) *slog.Logger {
	var w io.Writer = buf
	if testing.Verbose() {
		w = io.MultiWriter(buf, os.Stderr)
	}
	level := slog.LevelInfo
	if os.Getenv("CLUSTER_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// peerTLS loads the TLS settings of a peer whose certificate ca signed,
// from the files --cluster.tls-*-path would name.
func peerTLS(t testing.TB, ca *httpfixture.CA) *TLSConfig {
	t.Helper()
	caFile, certFile, keyFile := ca.PeerFiles(t, t.TempDir())
	cfg, err := TLSFiles{CAPath: caFile, CertPath: certFile, KeyPath: keyFile}.Load()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// h2cClient speaks HTTP/2 with prior knowledge, as peers do.
func h2cClient() *http.Client {
	tr := &http.Transport{}
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func tlsClient(cfg *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}
