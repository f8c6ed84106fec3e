package awsfirehose

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// httpsSender returns a sender to the fixture over HTTPS with cfg.
func httpsSender(f *fixture, cfg *tls.Config) *fh.Sender {
	s := *f.send
	s.URL = "https://" + f.c.Addr() + PushPath
	s.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: false}}
	return &s
}

// The http block's tls (and its older name tls_config) serves HTTPS with
// the certificate as files or PEM, client certificates when asked, and the
// lowest TLS version; plain HTTP is not served on that port.
func TestTLS(t *testing.T) {
	p := newTestPKI(t)
	trusted := func() *tls.Config { return &tls.Config{RootCAs: p.pool} }
	// The client presents its certificate whatever CAs the server names.
	withClient := func(c tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: p.pool, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }}
	}
	type attempt struct {
		name   string
		client *tls.Config
		ok     bool
		errHas string
	}
	for _, tc := range []struct {
		name     string
		tls      TLSArgs
		old      bool // as tls_config
		attempts []attempt
	}{
		{"files", TLSArgs{CertFile: p.certFile, KeyFile: p.keyFile}, false, []attempt{
			{"trusting client", trusted(), true, ""},
			{"client without the CA", &tls.Config{}, false, "certificate"},
		}},
		{"pem", TLSArgs{CertPEM: string(p.certPEM), KeyPEM: value.Secret(p.keyPEM)}, false, []attempt{
			{"trusting client", trusted(), true, ""},
		}},
		{"tls_config, Alloy's older name", TLSArgs{CertFile: p.certFile, KeyFile: p.keyFile}, true, []attempt{
			{"trusting client", trusted(), true, ""},
		}},
		{"mTLS from client_ca_file", TLSArgs{CertFile: p.certFile, KeyFile: p.keyFile, ClientAuthType: "RequireAndVerifyClientCert", ClientCAFile: p.caFile}, false, []attempt{
			{"client certificate from the CA", withClient(p.client), true, ""},
			{"no client certificate", trusted(), false, ""},
			{"client certificate from another CA", withClient(p.stranger), false, ""},
		}},
		{"mTLS from client_ca", TLSArgs{CertFile: p.certFile, KeyFile: p.keyFile, ClientAuthType: "RequireAndVerifyClientCert", ClientCA: string(p.caPEM)}, false, []attempt{
			{"client certificate from the CA", withClient(p.client), true, ""},
			{"client certificate from another CA", withClient(p.stranger), false, ""},
		}},
		{"optional client certificates", TLSArgs{CertFile: p.certFile, KeyFile: p.keyFile, ClientAuthType: "VerifyClientCertIfGiven", ClientCAPEM: string(p.caPEM)}, false, []attempt{
			{"no client certificate", trusted(), true, ""},
			{"client certificate from the CA", withClient(p.client), true, ""},
			{"client certificate from another CA", withClient(p.stranger), false, ""},
		}},
		{"min_version", TLSArgs{CertFile: p.certFile, KeyFile: p.keyFile, MinVersion: "VersionTLS13"}, false, []attempt{
			{"TLS 1.3 client", trusted(), true, ""},
			{"TLS 1.2 client", &tls.Config{RootCAs: p.pool, MaxVersion: tls.VersionTLS12}, false, "version"},
		}},
		{"cipher_suites", TLSArgs{CertFile: p.certFile, KeyFile: p.keyFile, MinVersion: "VersionTLS12", CipherSuites: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}, false, []attempt{
			{"client offering it", &tls.Config{RootCAs: p.pool, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}}, true, ""},
			{"client offering another", &tls.Config{RootCAs: p.pool, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, false, "handshake"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(a *Arguments) {
				ta := tc.tls
				if tc.old {
					a.HTTP.TLSConfig = &ta
				} else {
					a.HTTP.TLS = &ta
				}
			})
			for _, at := range tc.attempts {
				r, err := httpsSender(f, at.client).Send([][]byte{[]byte(at.name)})
				if at.ok {
					ok(t, r, err)
					continue
				}
				// A refused client certificate shows on the client as a TLS
				// alert or, with TLS 1.3, a connection closed after the handshake.
				if err == nil || (at.errHas != "" && !strings.Contains(strings.ToLower(err.Error()), at.errHas)) {
					t.Errorf("%s: got %d %v, want an error about %q", at.name, r.Status, err, at.errHas)
				}
			}
			// Plain HTTP on the TLS port is refused (Go answers 400).
			resp, err := http.Post("http://"+f.c.Addr()+PushPath, "application/json", strings.NewReader("{}"))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("plain HTTP on the TLS port: %d", resp.StatusCode)
				}
			}
		})
	}
}

// A renewed certificate (new files) is served to new connections without
// a restart; a certificate that does not load is an error at start.
func TestTLSCertificateReloadAndErrors(t *testing.T) {
	p := newTestPKI(t)
	f := newFixture(t, func(a *Arguments) { a.HTTP.TLS = &TLSArgs{CertFile: p.certFile, KeyFile: p.keyFile} })
	serial := func() int64 {
		t.Helper()
		c, err := tls.Dial("tcp", f.c.Addr(), &tls.Config{RootCAs: p.pool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(); s != 2 {
		t.Fatalf("serial %d, want 2", s)
	}
	p.rotate(t, 7)
	testwait.Eventually(t, 30*time.Second, func() bool { return serial() == 7 }, "the renewed certificate was not served")

	var a Arguments
	a.SetToDefault()
	a.HTTP.ListenAddress = "127.0.0.1"
	a.HTTP.ListenPort = 0
	a.HTTP.TLS = &TLSArgs{CertFile: p.dir + "/missing.pem", KeyFile: p.keyFile}
	if _, err := New(component.Options{}, a); err == nil || !strings.Contains(err.Error(), "cert_file") {
		t.Fatalf("missing certificate file: %v", err)
	}
	a.HTTP.TLS = &TLSArgs{CertPEM: string(p.certPEM), KeyPEM: "not a key"}
	_, err := New(component.Options{}, a)
	if err == nil || strings.Contains(err.Error(), "not a key") {
		t.Fatalf("bad key: %v (the key must not appear in the error)", err)
	}
}

// Past conn_limit over TLS, a new connection is still answered 503 with
// Retry-After, over TLS.
func TestTLSConnLimitAnswers503(t *testing.T) {
	p := newTestPKI(t)
	f := newFixture(t, func(a *Arguments) {
		a.HTTP.TLS = &TLSArgs{CertFile: p.certFile, KeyFile: p.keyFile}
		a.HTTP.ConnLimit = 1
	})
	// One connection busy with a request whose body does not come.
	busy, err := tls.Dial("tcp", f.c.Addr(), &tls.Config{RootCAs: p.pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	fmt.Fprintf(busy, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", PushPath)
	testwait.Eventually(t, 30*time.Second, func() bool { return f.c.lis.count() == 1 && f.c.budget.held.Load() != 0 }, "the busy request did not start")
	s := httpsSender(f, &tls.Config{RootCAs: p.pool})
	r, err := s.Send([][]byte{[]byte("x")})
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("over the limit: %v", err)
	}
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.ErrorMessage, "conn_limit") {
		t.Fatalf("over the limit: %d %q, want 503 naming conn_limit", r.Status, r.ErrorMessage)
	}
}

// The http2 block's enabled serves unencrypted HTTP/2 beside HTTP/1, with
// its settings; without it the port speaks HTTP/1 only.
func TestHTTP2Cleartext(t *testing.T) {
	h2c := func() *http.Client {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: &p}}
	}
	for _, tc := range []struct {
		name    string
		http2   *HTTP2Args
		h2      bool
		streams uint32
	}{
		{"no block", nil, false, 0},
		{"enabled", &HTTP2Args{Enabled: true, MaxConcurrentStreams: 7, MaxReadFrameSize: 32 << 10}, true, 7},
		{"disabled", &HTTP2Args{Enabled: false, MaxConcurrentStreams: 7}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(a *Arguments) { a.HTTP.HTTP2 = tc.http2 })
			s := *f.send
			s.Client = h2c()
			r, err := s.Send([][]byte{[]byte("over h2c")})
			if !tc.h2 {
				if err == nil {
					t.Fatalf("HTTP/2 by prior knowledge accepted without http2 { enabled = true }: %d", r.Status)
				}
				r, err := f.send.Send([][]byte{[]byte("over HTTP/1")})
				ok(t, r, err)
				return
			}
			ok(t, r, err)
			// The settings reach the connection: read the server's SETTINGS.
			c, err := net.Dial("tcp", f.c.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			hdr := make([]byte, 9)
			if _, err := io.ReadFull(c, hdr); err != nil || hdr[3] != 0x4 {
				t.Fatalf("no SETTINGS frame: % x %v", hdr, err)
			}
			payload := make([]byte, int(hdr[0])<<16|int(hdr[1])<<8|int(hdr[2]))
			io.ReadFull(c, payload)
			settings := map[uint16]uint32{}
			for i := 0; i+6 <= len(payload); i += 6 {
				settings[uint16(payload[i])<<8|uint16(payload[i+1])] = uint32(payload[i+2])<<24 | uint32(payload[i+3])<<16 | uint32(payload[i+4])<<8 | uint32(payload[i+5])
			}
			if settings[0x3] != tc.streams || settings[0x5] != 32<<10 {
				t.Fatalf("SETTINGS %v: want MAX_CONCURRENT_STREAMS %d and MAX_FRAME_SIZE 32768", settings, tc.streams)
			}
		})
	}
}

// Settings flow cannot apply are warned about once, naming them and why.
func TestHTTP2WarnsOnce(t *testing.T) {
	var logs strings.Builder
	var a Arguments
	a.SetToDefault()
	a.HTTP.ListenAddress, a.HTTP.ListenPort = "127.0.0.1", 0
	a.HTTP.HTTP2 = &HTTP2Args{Enabled: true, MaxHandlers: 5, IdleTimeout: time.Minute}
	c, err := New(component.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, a)
	if err != nil {
		t.Fatal(err)
	}
	a.HTTP.ServerIdleTimeout = time.Hour // a new server, the same warnings
	if err := c.Update(a); err != nil {
		t.Fatal(err)
	}
	c.lis.Close()
	for _, name := range []string{"max_handlers", "idle_timeout"} {
		if n := strings.Count(logs.String(), "http > http2 > "+name); n != 1 {
			t.Errorf("%s warned %d times, want once:\n%s", name, n, logs.String())
		}
	}
}
