package awsfirehose

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/flow-telemetry/flow/syntax/value"
)

// TLSArgs is the server's `tls { }` block, Alloy's (dskit's, through
// Prometheus' exporter-toolkit): a certificate and key as PEM or files,
// client certificates, cipher suites and the lowest TLS version.
type TLSArgs struct {
	CertPEM        string       `river:"cert_pem,attr,optional"`
	KeyPEM         value.Secret `river:"key_pem,attr,optional"`
	CertFile       string       `river:"cert_file,attr,optional"`
	KeyFile        string       `river:"key_file,attr,optional"`
	ClientAuthType string       `river:"client_auth_type,attr,optional"`
	ClientCAFile   string       `river:"client_ca_file,attr,optional"`
	// ClientCA is the client CA as PEM: client_ca in Alloy's code,
	// client_ca_pem in its reference docs; both are read.
	ClientCA     string `river:"client_ca,attr,optional"`
	ClientCAPEM  string `river:"client_ca_pem,attr,optional"`
	CipherSuites string `river:"cipher_suites,attr,optional"`
	MinVersion   string `river:"min_version,attr,optional"`
}

// clientAuthTypes are exporter-toolkit's names ("RequireClientCert" is its
// older spelling of RequireAnyClientCert).
var clientAuthTypes = map[string]tls.ClientAuthType{
	"": tls.NoClientCert, "NoClientCert": tls.NoClientCert,
	"RequestClientCert":          tls.RequestClientCert,
	"RequireAnyClientCert":       tls.RequireAnyClientCert,
	"RequireClientCert":          tls.RequireAnyClientCert,
	"VerifyClientCertIfGiven":    tls.VerifyClientCertIfGiven,
	"RequireAndVerifyClientCert": tls.RequireAndVerifyClientCert,
}

// tlsVersions are dskit's names of min_version.
var tlsVersions = map[string]uint16{
	"VersionTLS10": tls.VersionTLS10, "VersionTLS11": tls.VersionTLS11,
	"VersionTLS12": tls.VersionTLS12, "VersionTLS13": tls.VersionTLS13,
}

// cipherSuites parses cipher_suites, a comma-separated list of Go's names
// (insecure ones included, as dskit accepts them).
func cipherSuites(s string) ([]uint16, error) {
	if s == "" {
		return nil, nil
	}
	known := map[string]uint16{}
	for _, c := range tls.CipherSuites() {
		known[c.Name] = c.ID
	}
	for _, c := range tls.InsecureCipherSuites() {
		known[c.Name] = c.ID
	}
	var out []uint16
	for _, name := range strings.Split(s, ",") {
		id, ok := known[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("cipher_suites: %q is not a cipher suite Go knows (for example TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)", name)
		}
		out = append(out, id)
	}
	return out, nil
}

// Validate checks the block without reading files (their content depends
// on the machine, and is checked when the component starts).
func (t *TLSArgs) Validate() error {
	if t.CertPEM != "" && t.CertFile != "" {
		return errors.New("set cert_pem or cert_file, not both")
	}
	if t.KeyPEM != "" && t.KeyFile != "" {
		return errors.New("set key_pem or key_file, not both")
	}
	// Alloy serves plain HTTP when either is missing; flow refuses rather
	// than serve in clear text a port the config says is TLS.
	if t.CertPEM == "" && t.CertFile == "" {
		return errors.New("a server certificate is needed: set cert_file or cert_pem")
	}
	if t.KeyPEM == "" && t.KeyFile == "" {
		return errors.New("the certificate's private key is needed: set key_file or key_pem")
	}
	if t.ClientCA != "" && t.ClientCAPEM != "" {
		return errors.New("set client_ca or client_ca_pem (the same argument), not both")
	}
	if t.ClientCAFile != "" && t.clientCA() != "" {
		return errors.New("set client_ca_file or client_ca, not both")
	}
	auth, ok := clientAuthTypes[t.ClientAuthType]
	if !ok {
		return fmt.Errorf("client_auth_type %q is not one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert", t.ClientAuthType)
	}
	if (t.ClientCAFile != "" || t.clientCA() != "") && auth == tls.NoClientCert {
		return errors.New("a client CA is set but client_auth_type is NoClientCert: set client_auth_type (RequireAndVerifyClientCert to require certificates the CA signed)")
	}
	if t.MinVersion != "" {
		if _, ok := tlsVersions[t.MinVersion]; !ok {
			return fmt.Errorf("min_version %q is not one of VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13", t.MinVersion)
		}
	}
	_, err := cipherSuites(t.CipherSuites)
	return err
}

func (t *TLSArgs) clientCA() string {
	if t.ClientCA != "" {
		return t.ClientCA
	}
	return t.ClientCAPEM
}

// serverConfig builds the server's TLS configuration, reading the files
// once to report a missing or invalid one at once. Certificate and key
// files are read again when they change (checked at most once a second),
// so a renewed certificate is served without a restart, as Alloy does.
func (t *TLSArgs) serverConfig() (*tls.Config, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	kp := &keyPair{t: t}
	if _, err := kp.load(); err != nil {
		return nil, err
	}
	suites, _ := cipherSuites(t.CipherSuites)
	cfg := &tls.Config{
		MinVersion:     tlsVersions[t.MinVersion], // 0: Go's default for servers (TLS 1.2)
		CipherSuites:   suites,
		ClientAuth:     clientAuthTypes[t.ClientAuthType],
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.get() },
	}
	var caPEM []byte
	switch {
	case t.ClientCAFile != "":
		b, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading client_ca_file: %w", err)
		}
		caPEM = b
	case t.clientCA() != "":
		caPEM = []byte(t.clientCA())
	}
	if caPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("the client CA holds no PEM certificate")
		}
		cfg.ClientCAs = pool
	}
	return cfg, nil
}

// keyPair is the server certificate, re-read when its files change.
type keyPair struct {
	t *TLSArgs

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // the files' sizes and modification times
	checked time.Time
}

// certRecheck is how often the files' modification times are looked at.
const certRecheck = time.Second

func fileStamp(paths ...string) string {
	var b strings.Builder
	for _, p := range paths {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

// get returns the certificate, re-reading the files if they changed. A
// renewed pair that does not load (a half-written file) keeps the last one.
func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.t.CertFile == "" && k.t.KeyFile == "" {
		return k.cert, nil
	}
	if time.Since(k.checked) < certRecheck {
		return k.cert, nil
	}
	k.checked = time.Now()
	if fileStamp(k.t.CertFile, k.t.KeyFile) == k.stamp {
		return k.cert, nil
	}
	if c, err := k.loadLocked(); err == nil {
		return c, nil
	}
	return k.cert, nil
}

func (k *keyPair) load() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.loadLocked()
}

func (k *keyPair) loadLocked() (*tls.Certificate, error) {
	stamp := fileStamp(k.t.CertFile, k.t.KeyFile)
	certPEM, keyPEM := []byte(k.t.CertPEM), []byte(k.t.KeyPEM)
	var err error
	if k.t.CertFile != "" {
		if certPEM, err = os.ReadFile(k.t.CertFile); err != nil {
			return nil, fmt.Errorf("reading cert_file: %w", err)
		}
	}
	if k.t.KeyFile != "" {
		if keyPEM, err = os.ReadFile(k.t.KeyFile); err != nil {
			return nil, fmt.Errorf("reading key_file: %w", err)
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// tls's errors name neither key bytes nor secrets.
		return nil, fmt.Errorf("loading the certificate and key: %w", err)
	}
	k.cert, k.stamp, k.checked = &cert, stamp, time.Now()
	return k.cert, nil
}
