package remotewrite

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/components/prometheus/internal/rwtest"
	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/secrettest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// TestReloadsLeaveNoConnectionsOrGoroutines reloads an endpoint 400 times,
// each with different arguments (a new header: a new client under the
// running queue; every 40th also a new queue setting: Prometheus restarts
// the queue) and a send in between: connections at the receiver and
// goroutines in the process come back to where they were.
func TestReloadsLeaveNoConnectionsOrGoroutines(t *testing.T) {
	r := rwtest.Start(t)
	args := testArgs(r.URL(), func(ep *EndpointOptions) { ep.QueueOptions.BatchSendDeadline = 5 * time.Millisecond })
	c, recv, _ := start(t, args)
	g := newGenerator(recv, 1)
	g.warmUp(t, r)
	time.Sleep(200 * time.Millisecond)
	baseGoroutines, baseConns := runtime.NumGoroutine(), r.OpenConns()
	acceptedBefore := r.ConnsAccepted()

	const reloads = 400
	for i := 0; i < reloads; i++ {
		a := testArgs(r.URL(), func(ep *EndpointOptions) {
			ep.QueueOptions.BatchSendDeadline = 5 * time.Millisecond
			ep.Headers = map[string]value.Secret{"X-Reload": value.Secret(fmt.Sprint(i))}
			if i%40 == 39 {
				ep.QueueOptions.Capacity = 10000 + i
			}
		})
		if err := c.Update(a); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		g.tick(t)
		testwait.Eventually(t, 20*time.Second, func() bool {
			return len(g.missing(r)) == 0
		}, "the sample sent after reload %d", i)
	}
	if accepted := r.ConnsAccepted() - acceptedBefore; accepted < reloads/2 {
		t.Fatalf("only %d connections over %d reloads: the test no longer exercises new clients", accepted, reloads)
	}
	var gs, conns int
	testwait.Eventually(t, 20*time.Second, func() bool {
		gs, conns = runtime.NumGoroutine(), r.OpenConns()
		// Slack for runtime and test goroutines coming and going.
		return conns <= baseConns+1 && gs <= baseGoroutines+25
	}, "after %d reloads: connections and goroutines above their baselines (%d, %d)", reloads, baseConns, baseGoroutines)
	t.Logf("after %d reloads: %d connections open (baseline %d), %d goroutines (baseline %d)", reloads, conns, baseConns, gs, baseGoroutines)
}

// background ticks every interval until stop is called (or the test ends,
// before the component stops).
func (g *generator) background(t *testing.T, interval time.Duration) (stop func()) {
	ch, done := make(chan struct{}), make(chan struct{})
	go func() { defer close(done); g.run(t, interval, ch) }()
	var once sync.Once
	stop = func() { once.Do(func() { close(ch); <-done }) }
	t.Cleanup(stop)
	return stop
}

// droppedSamples is prometheus_remote_write_dropped_samples_total for the
// endpoint "test" and reason.
func droppedSamples(c *Component, reason string) float64 {
	return testutil.ToFloat64(c.m.droppedSamples.WithLabelValues("test", reason))
}

// TestAuthErrorWindowLosesNothing is the 401/403 outage of issue 9: the
// receiver answers 403 for 5 s while samples keep coming. With the default
// retry_on_http_auth_error every sample is delivered after the window,
// none is dropped; health is unhealthy during it, naming the endpoint, the
// status and where the samples wait, and healthy after.
func TestAuthErrorWindowLosesNothing(t *testing.T) {
	r := rwtest.Start(t)
	c, recv, reg := start(t, testArgs(r.URL(), func(ep *EndpointOptions) { ep.HTTPClient.BearerToken = "tok-window" }))
	g := newGenerator(recv, 20)
	g.warmUp(t, r)
	stop := g.background(t, 50*time.Millisecond)

	time.Sleep(300 * time.Millisecond)
	r.Status.Store(http.StatusForbidden)
	windowEnd := time.Now().Add(5 * time.Second)
	var hl component.Health
	testwait.Eventually(t, 5*time.Second, func() bool {
		hl = c.CurrentHealth()
		return hl.Health == component.HealthUnhealthy
	}, "unhealthy during the 403 window")
	for _, want := range []string{`endpoint "test"`, "403", "kept in the WAL and retried", "max_keepalive_time"} {
		if !strings.Contains(hl.Message, want) {
			t.Errorf("health during the 403 window %q does not say %q", hl.Message, want)
		}
	}
	if strings.Contains(hl.Message, "dropped") {
		t.Errorf("health %q speaks of drops while nothing is dropped", hl.Message)
	}
	time.Sleep(time.Until(windowEnd))
	if hl := c.CurrentHealth(); hl.Health != component.HealthUnhealthy {
		t.Errorf("health at the end of the window is %s (%s), want unhealthy", hl.Health, hl.Message)
	}
	rejected := r.Stats().Rejected
	r.Status.Store(0)
	time.Sleep(500 * time.Millisecond)
	stop()
	waitAll(t, g, r, 60*time.Second)
	if rejected < 3 {
		t.Fatalf("only %d requests answered 403: the window did not happen", rejected)
	}
	if d := r.Stats().Duplicates; d != 0 {
		t.Errorf("%d samples arrived twice", d)
	}
	testwait.Eventually(t, 20*time.Second, func() bool {
		return c.CurrentHealth().Health == component.HealthHealthy
	}, "healthy after the window")
	if n := droppedSamples(c, "403"); n != 0 {
		t.Errorf("%v samples dropped for 403 with retry_on_http_auth_error on", n)
	}
	if n := metricValue(t, reg, "prometheus_remote_storage_samples_failed_total"); n != 0 {
		t.Errorf("Prometheus counted %v failed samples", n)
	}
	if n := metricValue(t, reg, "prometheus_remote_storage_samples_retried_total"); n == 0 {
		t.Error("no retries counted during the 403 window")
	}
	t.Logf("%d samples committed, %d requests answered 403, all delivered", g.total(), rejected)
}

// TestSigV4ExpiredCredentialsLoseNothing: SigV4 credentials expire (STS
// down, nothing refreshes them), so the receiver's signature check answers
// 403 ExpiredToken; when new credentials arrive (as aws.credentials would
// hand them over) the retried samples go through, none lost. Health names
// AWS's error code meanwhile.
func TestSigV4ExpiredCredentialsLoseNothing(t *testing.T) {
	f := fakeaws.Start(fakeaws.Options{Region: "eu-west-1"})
	t.Cleanup(f.Close)
	r, check := signedReceiver(t, f, "aps", "eu-west-1")
	principal := "arn:aws:sts::" + f.Account() + ":assumed-role/writer/flow"
	short := f.Issue(principal, 4*time.Second)
	args := testArgs(r.URL(), func(ep *EndpointOptions) { ep.SigV4 = sigv4Block("eu-west-1", "aps", short) })
	c, recv, reg := start(t, args)
	g := newGenerator(recv, 20)
	g.warmUp(t, r)
	stop := g.background(t, 50*time.Millisecond)

	var hl component.Health
	testwait.Eventually(t, 20*time.Second, func() bool {
		hl = c.CurrentHealth()
		return hl.Health == component.HealthUnhealthy
	}, "unhealthy once the credentials expire")
	for _, want := range []string{"403", "ExpiredToken", "retried"} {
		if !strings.Contains(hl.Message, want) {
			t.Errorf("health %q does not say %q", hl.Message, want)
		}
	}
	time.Sleep(4 * time.Second) // a few more seconds of 403s
	fresh := f.Issue(principal, time.Hour)
	// A new Arguments value, as the runtime passes: the component keeps the
	// old one to compare with.
	args.Endpoints = append([]EndpointOptions(nil), args.Endpoints...)
	args.Endpoints[0].SigV4 = sigv4Block("eu-west-1", "aps", fresh)
	if err := c.Update(args); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	stop()
	waitAll(t, g, r, 60*time.Second)
	testwait.Eventually(t, 20*time.Second, func() bool {
		return c.CurrentHealth().Health == component.HealthHealthy
	}, "healthy with fresh credentials")
	if n := droppedSamples(c, "403"); n != 0 {
		t.Errorf("%v samples dropped for 403", n)
	}
	if st := check.Stats(); st.RejectedByCode["ExpiredToken"] < 3 || st.Accepted == 0 {
		t.Errorf("signature check: %d accepted, rejected %v: the expiry window did not happen", st.Accepted, st.RejectedByCode)
	}
	if n := metricValue(t, reg, "prometheus_remote_storage_samples_failed_total"); n != 0 {
		t.Errorf("Prometheus counted %v failed samples", n)
	}
	if hl := c.CurrentHealth(); strings.Contains(hl.Message, short.SecretAccessKey) || strings.Contains(hl.Message, short.SessionToken) {
		t.Error("health leaks a credential")
	}
}

// TestAuthErrorDropOption: with retry_on_http_auth_error = false a 403
// drops the request's samples: counted under reason "403", shown in health
// as dropped and not retried until a send succeeds, and as a note after.
func TestAuthErrorDropOption(t *testing.T) {
	r := rwtest.Start(t)
	c, recv, _ := start(t, testArgs(r.URL(), func(ep *EndpointOptions) { ep.RetryOnHTTPAuthError = false }))
	g := newGenerator(recv, 5)
	g.warmUp(t, r)
	r.Status.Store(http.StatusForbidden)
	for i := 0; i < 3; i++ {
		g.tick(t)
		time.Sleep(150 * time.Millisecond)
	}
	// At least these 15: samples of the warm-up still queued when the 403s
	// began are dropped as well.
	testwait.Eventually(t, 20*time.Second, func() bool {
		return droppedSamples(c, "403") >= 15 && len(g.missing(r)) == 15
	}, "15 samples dropped for 403")
	hl := c.CurrentHealth()
	if hl.Health != component.HealthUnhealthy {
		t.Fatalf("health after a drop is %s (%s)", hl.Health, hl.Message)
	}
	for _, want := range []string{`endpoint "test"`, "dropped ", "403", "not retried"} {
		if !strings.Contains(hl.Message, want) {
			t.Errorf("health %q does not say %q", hl.Message, want)
		}
	}
	if strings.Contains(hl.Message, "kept in the WAL") {
		t.Errorf("health %q claims dropped samples are kept", hl.Message)
	}
	r.Status.Store(0)
	g2 := newGenerator(recv, 5, "after", "403")
	g2.tick(t)
	waitAll(t, g2, r, 20*time.Second)
	testwait.Eventually(t, 10*time.Second, func() bool {
		hl = c.CurrentHealth()
		return hl.Health == component.HealthHealthy
	}, "healthy after a successful send")
	dropped := droppedSamples(c, "403")
	if want := fmt.Sprintf("has dropped %d samples since start", int(dropped)); !strings.Contains(hl.Message, want) {
		t.Errorf("healthy message %q should still mention the earlier drops (%q)", hl.Message, want)
	}
	di := c.DebugInfo().(debugInfo)
	if di.Endpoints[0].SamplesDropped != int64(dropped) || di.Endpoints[0].LastDropReason != "403" || !di.Endpoints[0].Healthy {
		t.Errorf("debug info %+v, metric %v dropped", di.Endpoints[0], dropped)
	}
	if miss := g.missing(r); len(miss) != 15 {
		t.Errorf("%d of the dropped samples arrived later; they must not be retried", 15-len(miss))
	}
}

// failFirst wraps the receiver: the first n requests are answered status
// with hdr, and every request's arrival time is recorded.
type failFirst struct {
	mu     sync.Mutex
	n      int
	status int
	hdr    http.Header
	body   string
	at     []time.Time
}

func (f *failFirst) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		f.mu.Lock()
		f.at = append(f.at, time.Now())
		fail := f.n > 0
		if fail {
			f.n--
		}
		f.mu.Unlock()
		if !fail {
			next.ServeHTTP(w, req)
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		for k, v := range f.hdr {
			w.Header()[k] = v
		}
		http.Error(w, f.body, f.status)
	})
}

func (f *failFirst) times() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.at...)
}

// TestRetryAfter: a retried answer's Retry-After is waited for (a 403 as
// well as a 429), but never longer than max_backoff (rounded up to a whole
// second), so that a hostile or broken receiver cannot stall the queue:
// Prometheus alone would wait an hour for "Retry-After: 3600".
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		maxBackoff time.Duration
		minGap     time.Duration
		maxGap     time.Duration
	}{
		{"403 seconds", http.StatusForbidden, "2", 10 * time.Second, 1900 * time.Millisecond, 15 * time.Second},
		{"429 capped", http.StatusTooManyRequests, "3600", 500 * time.Millisecond, 0, 15 * time.Second},
		{"503 http-date capped", http.StatusServiceUnavailable, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), 2 * time.Second, time.Second, 15 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rwtest.Start(t)
			ff := &failFirst{n: 1, status: tc.status, hdr: http.Header{"Retry-After": {tc.retryAfter}}, body: "come back later"}
			r.Wrap(ff.wrap)
			_, recv, _ := start(t, testArgs(r.URL(), func(ep *EndpointOptions) { ep.QueueOptions.MaxBackoff = tc.maxBackoff }))
			g := newGenerator(recv, 1)
			g.tick(t)
			waitAll(t, g, r, 30*time.Second)
			at := ff.times()
			if len(at) < 2 {
				t.Fatalf("%d requests, want at least 2", len(at))
			}
			gap := at[1].Sub(at[0])
			if gap < tc.minGap || gap > tc.maxGap {
				t.Fatalf("retried after %s; Retry-After %q with max_backoff %s wants %s to %s", gap, tc.retryAfter, tc.maxBackoff, tc.minGap, tc.maxGap)
			}
			t.Logf("retried after %s", gap)
		})
	}
}

// TestSecretsNeverShown runs an endpoint whose URL holds a password and a
// query-string token, with a bearer token and a secret header, through
// 403s, a 400, 500s, 429s (each answer's body echoing every secret) and an
// outage, plus reloads and rejected arguments: the logs (at debug level),
// the /metrics exposition (Prometheus' remote_name and url labels
// included), health, debug info and errors never show one.
func TestSecretsNeverShown(t *testing.T) {
	secrets := []string{"url-pass-Zq81", "query-tok-7Hx2", "bearer-tok-Pp93", "hdr-key-Vv55"}
	echo := "echo: " + strings.Join(secrets, " ") + " " + url.QueryEscape("query-tok-7Hx2")
	r := rwtest.Start(t)
	var phase atomic.Int32 // the status to answer, 0 to accept
	var sawSecrets atomic.Bool
	r.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Query().Get("api_token") == "query-tok-7Hx2" && req.Header.Get("X-Api-Key") == "hdr-key-Vv55" {
				sawSecrets.Store(true)
			}
			if s := phase.Load(); s != 0 {
				_, _ = io.Copy(io.Discard, req.Body)
				w.Header().Set("Retry-After", "1")
				http.Error(w, echo, int(s))
				return
			}
			next.ServeHTTP(w, req)
		})
	})
	secretURL := strings.Replace(r.URL(), "http://", "http://flowuser:url-pass-Zq81@", 1) + "?api_token=query-tok-7Hx2"
	mod := func(ep *EndpointOptions) {
		ep.Name = "test"
		ep.URL = value.NewURL(secretURL)
		ep.HTTPClient.BearerToken = "bearer-tok-Pp93"
		ep.Headers = map[string]value.Secret{"X-Api-Key": "hdr-key-Vv55"}
		ep.RemoteTimeout = 2 * time.Second
	}
	args := testArgs(r.URL(), mod)

	var logs flowproc.LockedBuffer
	opts, ex, reg := promtest.Options(t, "prometheus.remote_write.test")
	opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(opts, args)
	if err != nil {
		t.Fatal(err)
	}
	promtest.Run(t, c)
	recv := ex.Last().(Exports).Receiver
	g := newGenerator(recv, 3)
	g.warmUp(t, r)

	var shown []string
	observe := func() {
		shown = append(shown, c.CurrentHealth().Message, fmt.Sprintf("%+v", c.DebugInfo()))
	}
	for _, p := range []struct {
		status int
		down   bool
	}{{status: 403}, {status: 400}, {status: 500}, {status: 429}, {down: true}} {
		if p.down {
			r.Stop()
		} else {
			phase.Store(int32(p.status))
		}
		g.tick(t)
		testwait.Eventually(t, 20*time.Second, func() bool {
			h := c.CurrentHealth()
			if !p.down {
				return h.Health == component.HealthUnhealthy
			}
			// The first attempt after the stop may fail on a kept-alive
			// connection (EOF, reset); the outage this phase is about is
			// seen once a retry's dial is refused.
			return h.Health == component.HealthUnhealthy &&
				(strings.Contains(h.Message, "connection refused") || strings.Contains(logs.String(), "connection refused"))
		}, "unhealthy with %+v", p)
		observe()
		if p.down {
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
		}
		phase.Store(0)
		g.tick(t)
		testwait.Eventually(t, 30*time.Second, func() bool {
			return c.CurrentHealth().Health == component.HealthHealthy
		}, "healthy after %+v", p)
		observe()
	}
	if !sawSecrets.Load() {
		t.Fatal("no request carried the URL's token and the secret header: the test does not exercise them")
	}

	// A reload that rebuilds the client, one that restarts the queue, and
	// rejected arguments.
	for _, m := range []func(*EndpointOptions){
		func(ep *EndpointOptions) {
			ep.Headers = map[string]value.Secret{"X-Api-Key": "hdr-key-Vv55", "X-Reload": "1"}
		},
		func(ep *EndpointOptions) { ep.QueueOptions.Capacity = 5000 },
	} {
		if err := c.Update(testArgs(r.URL(), mod, m)); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []func(*EndpointOptions){
		func(ep *EndpointOptions) { ep.RemoteTimeout = -1 },
		func(ep *EndpointOptions) {
			ep.URL = value.NewURL("ftp://flowuser:url-pass-Zq81@h/?api_token=query-tok-7Hx2")
		},
		func(ep *EndpointOptions) {
			ep.URL = value.NewURL("http://flowuser:url-pass-Zq81@h/\x7f?api_token=query-tok-7Hx2")
		},
	} {
		err := c.Update(testArgs(r.URL(), mod, bad))
		if err == nil {
			t.Fatal("bad arguments accepted")
		}
		shown = append(shown, err.Error())
	}
	g.tick(t)
	testwait.Eventually(t, 20*time.Second, func() bool {
		return c.CurrentHealth().Health == component.HealthHealthy
	}, "healthy after the reloads")
	observe()

	shown = append(shown, secrettest.Exposition(t, reg), logs.String())
	// What is checked must have been there: the failures, the scrubbed
	// echoes, and Prometheus' url label with the masked URL.
	secrettest.NoneShown(t, shown, append(secrets, url.QueryEscape("query-tok-7Hx2")), []string{
		"403", "400", "500", "429", "connection refused", "(secret)",
		`url="http://flowuser:xxxxx@` + strings.TrimPrefix(r.URL(), "http://") + `?api_token=xxxxx"`,
		`remote_name="test"`, "Failed to send batch, retrying"})
}

// TestObserverAdjust: which answers Prometheus' client is made to retry,
// and the Retry-After it sees.
func TestObserverAdjust(t *testing.T) {
	on := &observer{retry429: true, retryAuth: true, maxBackoff: 5 * time.Second}
	off := &observer{maxBackoff: 5 * time.Second}
	for _, tc := range []struct {
		status        int
		retryAfter    string
		onStatus      int    // status the client sees with both options on
		onRetryAfter  string // and its Retry-After
		offStatus     int    // with both off
		offRetryAfter string
	}{
		{500, "", 500, "", 500, ""},
		{503, "3", 503, "3", 503, "3"},
		{503, "600", 503, "5", 503, "5"},
		{502, "soon", 502, "", 502, ""},
		{429, "2", 429, "2", 429, "2"},
		{401, "", 503, "", 401, ""},
		{403, "7", 503, "5", 403, "7"},
		{400, "9", 400, "9", 400, "9"},
		{413, "", 413, "", 413, ""},
	} {
		for _, o := range []struct {
			obs        *observer
			status     int
			retryAfter string
		}{{on, tc.onStatus, tc.onRetryAfter}, {off, tc.offStatus, tc.offRetryAfter}} {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			if tc.retryAfter != "" {
				resp.Header.Set("Retry-After", tc.retryAfter)
			}
			o.obs.adjust(resp)
			if resp.StatusCode != o.status || resp.Header.Get("Retry-After") != o.retryAfter {
				t.Errorf("%d Retry-After %q (retry options %v): client sees %d Retry-After %q, want %d %q",
					tc.status, tc.retryAfter, o.obs.retryAuth, resp.StatusCode, resp.Header.Get("Retry-After"), o.status, o.retryAfter)
			}
		}
	}
}
