// Package httpfixture holds real servers for tests of HTTP client settings:
// a certificate authority generated in the test (server and client
// certificates for TLS and mTLS), a forward proxy that handles CONNECT and
// absolute-form requests and counts them, and an OAuth2 token endpoint for
// the client-credentials grant. Everything listens on loopback only.
package httpfixture

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a certificate authority made for one test.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// NewCA generates a CA valid for an hour.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "flow test CA"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// PEM is the CA certificate in PEM form (for ca_pem).
func (ca *CA) PEM() string { return string(ca.pem) }

// Pool is a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

var serial atomic.Int64

// Issue returns a certificate and key (PEM) signed by the CA: a server
// certificate for localhost, 127.0.0.1 and ::1 plus dnsNames, or a client
// certificate with common name cn when client is true.
func (ca *CA) Issue(t testing.TB, cn string, client bool, dnsNames ...string) (certPEM, keyPEM string) {
	t.Helper()
	if client {
		return ca.issue(t, cn, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil)
	}
	return ca.issue(t, cn, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, dnsNames)
}

// issue signs a certificate for usages; one for server use names
// localhost, 127.0.0.1, ::1 and hosts.
func (ca *CA) issue(t testing.TB, cn string, usages []x509.ExtKeyUsage, hosts []string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(100 + serial.Add(1)),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usages,
	}
	if slices.Contains(usages, x509.ExtKeyUsageServerAuth) {
		tmpl.DNSNames = append([]string{"localhost"}, hosts...)
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

// ServerConfig is a TLS config serving a certificate from the CA; with
// mTLS the server demands a client certificate the CA signed.
func (ca *CA) ServerConfig(t testing.TB, mTLS bool, dnsNames ...string) *tls.Config {
	t.Helper()
	certPEM, keyPEM := ca.Issue(t, "server", false, dnsNames...)
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if mTLS {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = ca.Pool()
	}
	return cfg
}

// StartTLS serves h over TLS with a certificate from the CA (requiring a
// client certificate with mTLS) until the test ends.
func (ca *CA) StartTLS(t testing.TB, h http.Handler, mTLS bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = ca.ServerConfig(t, mTLS)
	// Failed handshakes are what some tests are about; keep them out of the output.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// Files writes the CA, a client certificate and its key to dir and returns
// their paths (for ca_file, cert_file, key_file).
func (ca *CA) Files(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM := ca.Issue(t, "client", true)
	return ca.write(t, dir, "client", certPEM, keyPEM)
}

// PeerFiles writes the CA, a certificate for both ends of a connection
// (server and client use; localhost, 127.0.0.1 and ::1) and its key to dir,
// and returns their paths: what a cluster peer's --cluster.tls-ca-path,
// --cluster.tls-cert-path and --cluster.tls-key-path name.
func (ca *CA) PeerFiles(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM := ca.issue(t, "flow peer", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, nil)
	return ca.write(t, dir, "peer", certPEM, keyPEM)
}

// write writes the CA as ca.pem and a certificate and key as name.pem and
// name.key in dir, and returns their paths.
func (ca *CA) write(t testing.TB, dir, name, certPEM, keyPEM string) (caFile, certFile, keyFile string) {
	t.Helper()
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	for p, b := range map[string]string{caFile: ca.PEM(), certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

// PeerCN is the common name of the client certificate a request came
// with, or "".
func PeerCN(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return r.TLS.PeerCertificates[0].Subject.CommonName
}
