package remotewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	common "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/storage/remote"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/syntax/value"
)

// endpointClient is flow's HTTP client for one endpoint: Prometheus'
// remote.Client (request encoding, status handling: retry on 5xx and 429,
// drop on other 4xx) with flow's transport underneath:
//
//	observer → headers → SigV4 signer (optional) → auth, TLS, proxy
//
// The observer sees every attempt's outcome for the component's health.
type endpointClient struct {
	name, url string
	write     remote.WriteClient
	signer    *aws.RoundTripper // nil without aws_sigv4
	obs       *observer
	// settings are what the client was built from (see clientSettings).
	settings EndpointOptions
}

func newEndpointClient(ep *EndpointOptions, logger *slog.Logger) (*endpointClient, error) {
	name := ep.queueName()
	hc, err := ep.HTTPClient.Build("remote_storage_write_client")
	if err != nil {
		return nil, err
	}
	rt := hc.Transport
	var signer *aws.RoundTripper
	if s := ep.sigv4(); s != nil {
		signer, err = aws.NewRoundTripper(*s, rt, aws.WithLogger(logger))
		if err != nil {
			return nil, err
		}
		rt = signer
	}
	if len(ep.Headers) > 0 {
		rt = &headerRoundTripper{headers: ep.Headers, next: rt}
	}
	obs := &observer{next: rt, signed: signer != nil}
	hc.Transport = obs

	u, err := url.Parse(ep.URL)
	if err != nil {
		return nil, errors.New("url is not valid")
	}
	wc, err := remote.NewWriteClient(name, &remote.ClientConfig{
		URL:              &common.URL{URL: u},
		Timeout:          model.Duration(ep.RemoteTimeout),
		RetryOnRateLimit: ep.QueueOptions.RetryOnHTTP429,
		WriteProtoMsg:    remoteapi.WriteMessageType(ep.ProtobufMessage),
	})
	if err != nil {
		return nil, err
	}
	pc, ok := wc.(*remote.Client)
	if !ok {
		return nil, fmt.Errorf("prometheus internals changed: remote.NewWriteClient returned %T, want *remote.Client", wc)
	}
	pc.Client = hc
	return &endpointClient{name: name, url: ep.redactedURL(), write: wc, signer: signer, obs: obs, settings: clientSettings(ep)}, nil
}

// clientSettings is what an endpoint's client is built from, SigV4
// credentials excluded: when only those change, the signer is updated in
// place and the client (and its queue) stay. Compared with reflect.DeepEqual,
// which compares secrets by value and pointers by what they point to.
func clientSettings(ep *EndpointOptions) EndpointOptions {
	c := *ep
	if s := ep.sigv4(); s != nil {
		cp := *s
		cp.AccessKeyID, cp.SecretAccessKey, cp.AccessKey, cp.SecretKey, cp.Credentials = "", "", "", "", nil
		c.SigV4, c.SigV4Alloy = &cp, nil
	}
	return c
}

// updateCredentials gives the signer the endpoint's new SigV4 settings.
func (c *endpointClient) updateCredentials(ep *EndpointOptions) error {
	s := ep.sigv4()
	if c.signer == nil || s == nil {
		return nil
	}
	return c.signer.Update(*s)
}

// headerRoundTripper sets the endpoint's custom headers before signing.
type headerRoundTripper struct {
	headers map[string]value.Secret
	next    http.RoundTripper
}

func (h *headerRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range h.headers {
		req.Header.Set(k, string(v))
	}
	return h.next.RoundTrip(req)
}

// observer records the outcome of every request for health and debug info.
type observer struct {
	next   http.RoundTripper
	signed bool

	mu           sync.Mutex
	sent, failed uint64
	lastSuccess  time.Time
	streakStart  time.Time // first failure since the last success; zero if none
	streakLen    int
	lastFailure  time.Time
	lastErr      string
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(req)
	switch {
	case err != nil:
		if errors.Is(err, context.Canceled) {
			return resp, err // shutting down, not a failure of the endpoint
		}
		o.fail(err.Error())
	case resp.StatusCode/100 == 2:
		o.succeed()
	default:
		o.fail(o.describe(resp))
	}
	return resp, err
}

// describe turns a failed response into a message, reading at most 1 KiB of
// its body and leaving the body intact for Prometheus' client.
func (o *observer) describe(resp *http.Response) string {
	const max = 1 << 10
	peek, _ := io.ReadAll(io.LimitReader(resp.Body, max))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(peek), resp.Body), resp.Body}
	if o.signed {
		if e := aws.ExplainResponse(resp, peek); e != nil {
			return e.Error()
		}
	}
	msg := strings.TrimSpace(string(peek))
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if msg == "" {
		return "server returned HTTP status " + resp.Status
	}
	return fmt.Sprintf("server returned HTTP status %s: %s", resp.Status, msg)
}

func (o *observer) succeed() {
	o.mu.Lock()
	o.sent++
	o.lastSuccess = time.Now()
	o.streakStart, o.streakLen = time.Time{}, 0
	o.mu.Unlock()
}

func (o *observer) fail(msg string) {
	now := time.Now()
	o.mu.Lock()
	o.sent++
	o.failed++
	if o.streakLen == 0 {
		o.streakStart = now
	}
	o.streakLen++
	o.lastFailure, o.lastErr = now, msg
	o.mu.Unlock()
}

// failing reports whether every send since streakStart failed, and for long
// enough not to be a single transient error that a retry is about to fix.
func (o *observer) failing(now time.Time) (bool, time.Time, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.streakLen == 0 {
		return false, time.Time{}, ""
	}
	if o.streakLen >= 2 || now.Sub(o.streakStart) >= 5*time.Second {
		return true, o.streakStart, o.lastErr
	}
	return false, time.Time{}, ""
}

type observerState struct {
	Requests    uint64 `river:"requests,attr"`
	Failed      uint64 `river:"failed_requests,attr"`
	LastSuccess string `river:"last_success,attr,optional"`
	LastFailure string `river:"last_failure,attr,optional"`
	LastError   string `river:"last_error,attr,optional"`
}

func (o *observer) state() observerState {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := observerState{Requests: o.sent, Failed: o.failed, LastError: o.lastErr}
	if !o.lastSuccess.IsZero() {
		s.LastSuccess = o.lastSuccess.UTC().Format(time.RFC3339Nano)
	}
	if !o.lastFailure.IsZero() {
		s.LastFailure = o.lastFailure.UTC().Format(time.RFC3339Nano)
	}
	return s
}
