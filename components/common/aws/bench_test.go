package aws

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/flow-telemetry/flow/syntax/value"
)

// BenchmarkSign measures the whole signing cost a request pays in
// RoundTrip: buffering the body, hashing it, cloning the request and the
// SigV4 signature (static credentials, next RoundTripper a no-op).
func BenchmarkSign(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
		// rewindable bodies (GetBody set, as http.NewRequest does for
		// bytes.Reader, which remote_write and loki.write use) are hashed
		// in place; others are buffered first.
		rewindable bool
	}{{"1KiB", 1 << 10, true}, {"1MiB", 1 << 20, true}, {"1KiB-unrewindable", 1 << 10, false}, {"1MiB-unrewindable", 1 << 20, false}} {
		b.Run(bc.name, func(b *testing.B) {
			b.Setenv("AWS_CONFIG_FILE", b.TempDir()+"/none")
			b.Setenv("AWS_SHARED_CREDENTIALS_FILE", b.TempDir()+"/none")
			rt, err := NewRoundTripper(SigV4Config{
				Region: "us-east-1", ServiceName: "aps",
				Credentials: &StaticCredentials{AccessKeyID: "ASIAEXAMPLEEXAMPLE01",
					SecretAccessKey: value.Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), Token: value.Secret("token-token-token")},
			}, noopTransport{})
			if err != nil {
				b.Fatal(err)
			}
			payload := bytes.Repeat([]byte{0x5a}, bc.size)
			u, _ := url.Parse("https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write")
			header := http.Header{
				"Content-Type":                      {"application/x-protobuf"},
				"Content-Encoding":                  {"snappy"},
				"User-Agent":                        {"flow"},
				"X-Prometheus-Remote-Write-Version": {"0.1.0"},
			}
			b.SetBytes(int64(bc.size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req := &http.Request{Method: http.MethodPost, URL: u, Header: header, Host: u.Host,
					Body: io.NopCloser(bytes.NewReader(payload)), ContentLength: int64(len(payload))}
				if bc.rewindable {
					req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(payload)), nil }
				}
				req = req.WithContext(b.Context())
				if _, err := rt.RoundTrip(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type noopTransport struct{}

func (noopTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody}, nil
}
