package awsfirehose

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testPKI is a CA made for one test, with a server certificate for
// 127.0.0.1 and a client certificate it signed, as PEM files in a temporary
// directory; stranger is a client certificate from another CA.
type testPKI struct {
	dir                       string
	caFile, certFile, keyFile string
	caPEM, certPEM, keyPEM    []byte
	pool                      *x509.CertPool
	client, stranger          tls.Certificate
	serverSerial              *big.Int
	caCert                    *x509.Certificate
	caKey                     *ecdsa.PrivateKey
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func keyPEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("EC PRIVATE KEY", der)
}

func newCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	k := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, k, pemOf("CERTIFICATE", der)
}

// issue signs a leaf certificate; server ones are for 127.0.0.1.
func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, serial int64, server bool) ([]byte, []byte) {
	k := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("CERTIFICATE", der), keyPEM(t, k)
}

func newTestPKI(t *testing.T) *testPKI {
	p := &testPKI{dir: t.TempDir(), serverSerial: big.NewInt(2)}
	p.caCert, p.caKey, p.caPEM = newCA(t, "flow test CA")
	p.certPEM, p.keyPEM = issue(t, p.caCert, p.caKey, 2, true)
	p.caFile, p.certFile, p.keyFile = filepath.Join(p.dir, "ca.pem"), filepath.Join(p.dir, "server.pem"), filepath.Join(p.dir, "server-key.pem")
	for f, b := range map[string][]byte{p.caFile: p.caPEM, p.certFile: p.certPEM, p.keyFile: p.keyPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p.pool = x509.NewCertPool()
	p.pool.AppendCertsFromPEM(p.caPEM)
	var err error
	cp, kp := issue(t, p.caCert, p.caKey, 3, false)
	if p.client, err = tls.X509KeyPair(cp, kp); err != nil {
		t.Fatal(err)
	}
	other, otherKey, _ := newCA(t, "another CA")
	cp, kp = issue(t, other, otherKey, 4, false)
	if p.stranger, err = tls.X509KeyPair(cp, kp); err != nil {
		t.Fatal(err)
	}
	return p
}

// rotate replaces the server certificate files with a new certificate
// (serial given), as a certificate renewal does.
func (p *testPKI) rotate(t *testing.T, serial int64) {
	c, k := issue(t, p.caCert, p.caKey, serial, true)
	if err := os.WriteFile(p.keyFile, k, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.certFile, c, 0o600); err != nil {
		t.Fatal(err)
	}
}
