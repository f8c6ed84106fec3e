package write

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/secrettest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// sendSpread sends n lines named prefix-0000… in chunks over about d, so
// that they keep arriving while Loki misbehaves.
func sendSpread(h *harness, prefix string, n int, d time.Duration) {
	const chunks = 30
	per := n / chunks
	for c := 0; c < chunks; c++ {
		var es []loki.Entry
		for i := c * per; i < (c+1)*per; i++ {
			es = append(es, entry(fmt.Sprintf("%s-%04d", prefix, i), time.Unix(0, int64(i)), model.LabelSet{"job": "window"}))
		}
		h.send(es...)
		time.Sleep(d / chunks)
	}
}

// distinctLines counts the distinct lines with prefix that Loki stored.
func distinctLines(lk *fakeloki.Server, prefix string) map[string]bool {
	seen := map[string]bool{}
	for _, e := range lk.Entries() {
		if strings.HasPrefix(e.Line, prefix+"-") {
			seen[e.Line] = true
		}
	}
	return seen
}

// TestAuthErrorWindowLosesNothing is the 401/403 outage of issue 9: Loki (or
// the API Gateway in front of it) answers 403 for 5 s while 1,500 lines are
// sent. With the WAL and the default retry_on_http_auth_error every line is
// delivered after the window; health is unhealthy during it, naming the
// status (and, with aws_sigv4, the usual causes), and healthy after.
func TestAuthErrorWindowLosesNothing(t *testing.T) {
	for _, sigv4 := range []bool{false, true} {
		t.Run(fmt.Sprintf("aws_sigv4=%v", sigv4), func(t *testing.T) {
			t.Parallel()
			var lk *fakeloki.Server
			var err error
			ep := endpointArgs("", func(e *EndpointArgs) { e.Name = "auth"; e.MaxBackoff = 500 * time.Millisecond })
			if sigv4 {
				fa := fakeaws.Start(fakeaws.Options{Region: "eu-west-1"})
				t.Cleanup(fa.Close)
				lk, err = fakeloki.Start(fakeloki.Options{Wrap: func(h http.Handler) http.Handler {
					return fa.RequireSigV4(h, "execute-api", "eu-west-1")
				}})
				k := fa.AddUser("writer")
				ep.AWSSigV4 = &aws.SigV4Config{Region: "eu-west-1", ServiceName: "execute-api", AccessKey: k.AccessKeyID, SecretKey: value.Secret(k.SecretAccessKey)}
			} else {
				lk, err = fakeloki.Start(fakeloki.Options{})
				ep.HTTPClient.BearerToken = "tok-window"
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(lk.Close)
			ep.URL = value.NewURL(lk.URL())
			h := start(t, t.TempDir(), defaultArgs(ep))

			// An API Gateway 403 without an AWS error code, as a proxy or a
			// gateway with a custom response would answer.
			lk.Fail(http.StatusForbidden, -1, `{"message":"Forbidden"}`)
			windowEnd := time.Now().Add(5 * time.Second)
			sent := make(chan struct{})
			go func() {
				defer close(sent)
				sendSpread(h, "w", 1500, 4*time.Second)
			}()
			hl := waitHealth(t, h.c, component.HealthUnhealthy, 5*time.Second)
			for _, want := range []string{`"auth"`, "403", "retried"} {
				if !strings.Contains(hl.Message, want) {
					t.Errorf("health during the 403 window %q does not say %q", hl.Message, want)
				}
			}
			if sigv4 {
				for _, want := range []string{"expired", "clock", "IAM"} {
					if !strings.Contains(hl.Message, want) {
						t.Errorf("health with aws_sigv4 %q does not name the usual cause %q", hl.Message, want)
					}
				}
			}
			if strings.Contains(hl.Message, "dropped") {
				t.Errorf("health %q speaks of drops while nothing is dropped", hl.Message)
			}
			time.Sleep(time.Until(windowEnd))
			if hl := h.c.CurrentHealth(); hl.Health != component.HealthUnhealthy {
				t.Errorf("health at the end of the window is %s (%s), want unhealthy", hl.Health, hl.Message)
			}
			lk.Recover()
			<-sent
			if err := lk.WaitForEntries(1500, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			if _, ok := testwait.Poll(30*time.Second, func() bool { return len(distinctLines(lk, "w")) >= 1500 }); !ok {
				t.Fatalf("%d of 1500 distinct lines delivered after the 403 window", len(distinctLines(lk, "w")))
			}
			waitHealth(t, h.c, component.HealthHealthy, 10*time.Second)
			if n := testutil.ToFloat64(h.c.m.endpoint.droppedEntries.WithLabelValues("auth", "403")); n != 0 {
				t.Fatalf("%v entries dropped for 403 with retry_on_http_auth_error on", n)
			}
			if n := testutil.ToFloat64(h.c.m.endpoint.retries.WithLabelValues("auth")); n == 0 {
				t.Fatal("no retries counted during the 403 window")
			}
		})
	}
}

// TestAuthErrorDropOption: with retry_on_http_auth_error = false a 403
// drops the batch; the drop is counted under reason "403" and health says
// the entries were dropped, not retried.
func TestAuthErrorDropOption(t *testing.T) {
	t.Parallel()
	lk := startLoki(t)
	ep := endpointArgs(lk.URL(), func(e *EndpointArgs) { e.Name = "drop"; e.RetryOnHTTPAuthError = false })
	h := start(t, t.TempDir(), defaultArgs(ep))
	lk.Fail(http.StatusForbidden, -1, "forbidden")
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		sendSpread(h, "d", 600, 2*time.Second)
	}()
	testwait.Eventually(t, 30*time.Second, func() bool {
		return testutil.ToFloat64(h.c.m.endpoint.droppedEntries.WithLabelValues("drop", "403")) != 0
	}, "no drop counted for 403 with retry_on_http_auth_error = false")
	hl := h.c.CurrentHealth()
	if hl.Health != component.HealthUnhealthy {
		t.Fatalf("health after a drop is %s (%s)", hl.Health, hl.Message)
	}
	for _, want := range []string{"dropped", "403", "retry_on_http_auth_error"} {
		if !strings.Contains(hl.Message, want) {
			t.Errorf("health %q does not say %q", hl.Message, want)
		}
	}
	if strings.Contains(hl.Message, "kept in the WAL") {
		t.Errorf("health %q claims dropped entries are kept", hl.Message)
	}
	<-sent
	lk.Recover()
	h.send(entry("after-0", time.Unix(9, 0), model.LabelSet{"job": "window"}))
	testwait.Eventually(t, 30*time.Second, func() bool { return distinctLines(lk, "after")["after-0"] }, "nothing delivered after the 403s ended")
	hl = waitHealth(t, h.c, component.HealthHealthy, 10*time.Second)
	dropped := testutil.ToFloat64(h.c.m.endpoint.droppedEntries.WithLabelValues("drop", "403"))
	delivered := len(distinctLines(lk, "d"))
	if int(dropped)+delivered != 600 {
		t.Fatalf("%v dropped + %d delivered != 600 sent", dropped, delivered)
	}
	if !strings.Contains(hl.Message, "dropped") {
		t.Errorf("healthy message %q should still mention the earlier drops", hl.Message)
	}
	d := h.c.DebugInfo().(DebugInfo)
	if d.Endpoints[0].EntriesDropped != int64(dropped) {
		t.Fatalf("debug info says %d dropped, metric %v", d.Endpoints[0].EntriesDropped, dropped)
	}
}

// TestAuthErrorWithoutWALRetriesThenDrops: without a WAL a 403 is retried
// like a 5xx, up to max_backoff_retries, then dropped as max_retries, and
// health says where the entries are.
func TestAuthErrorWithoutWALRetriesThenDrops(t *testing.T) {
	lk := startLoki(t)
	lk.Fail(http.StatusUnauthorized, -1, "unauthorized")
	args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) { e.Name = "mem"; e.MaxBackoffRetries = 3 }))
	args.WAL.Enabled = false
	h := start(t, "", args)
	h.send(entry("x", time.Unix(1, 0), model.LabelSet{"job": "x"}))
	testwait.Eventually(t, 30*time.Second, func() bool {
		return testutil.ToFloat64(h.c.m.endpoint.droppedEntries.WithLabelValues("mem", "max_retries")) == 1
	}, "entry not dropped after max_backoff_retries")
	if r := lk.Stats().Requests; r != 4 {
		t.Fatalf("%d attempts, want 4 (one plus three retries)", r)
	}
	if r := testutil.ToFloat64(h.c.m.endpoint.retries.WithLabelValues("mem")); r != 3 {
		t.Fatalf("retries = %v, want 3 (the fourth failure is a drop)", r)
	}
	hl := h.c.CurrentHealth()
	if hl.Health != component.HealthUnhealthy || !strings.Contains(hl.Message, "dropped") || !strings.Contains(hl.Message, "401") {
		t.Fatalf("health %s %q, want unhealthy saying 401 and dropped", hl.Health, hl.Message)
	}
	if strings.Contains(hl.Message, "WAL and retried") {
		t.Fatalf("health %q claims a WAL", hl.Message)
	}
}

// TestHonoursRetryAfter: a 429 with Retry-After waits as long as Loki asks
// (the first retry comes no sooner), but never longer than
// max_backoff_period, so a hostile or broken server cannot stall delivery.
func TestHonoursRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter string
		maxBackoff time.Duration
		minGap     time.Duration
	}{
		{"seconds", "2", 10 * time.Second, 1900 * time.Millisecond},
		{"http-date", "", 10 * time.Second, 0},
		{"capped", "3600", 300 * time.Millisecond, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var at []time.Time
			lk, err := fakeloki.Start(fakeloki.Options{Wrap: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					at = append(at, time.Now())
					mu.Unlock()
					h.ServeHTTP(w, r)
				})
			}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(lk.Close)
			ra := tc.retryAfter
			var notBefore time.Time // for an HTTP date: no retry before it
			if ra == "" {
				ra = time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
				notBefore, _ = http.ParseTime(ra)
			}
			lk.FailWith(http.StatusTooManyRequests, 1, "slow down", http.Header{"Retry-After": {ra}})
			h := start(t, t.TempDir(), defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) { e.MaxBackoff = tc.maxBackoff })))
			h.send(entry("x", time.Unix(1, 0), model.LabelSet{"job": "x"}))
			if err := lk.WaitForEntries(1, 20*time.Second); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(at) != 2 {
				t.Fatalf("%d requests, want 2", len(at))
			}
			if gap := at[1].Sub(at[0]); gap < tc.minGap {
				t.Fatalf("retried after %s, Retry-After asked for %s", gap, ra)
			}
			// The client and the server share a clock; allow for rounding.
			if !notBefore.IsZero() && at[1].Before(notBefore.Add(-100*time.Millisecond)) {
				t.Fatalf("retried at %s, Retry-After asked for %s", at[1].UTC().Format(time.RFC3339Nano), ra)
			}
		})
	}
}

// TestDrops400AndSaysSo: a 400 (out of order, too old) is a permanent drop:
// counted under its status, not retried, and health says dropped, never
// "kept in the WAL and retried".
func TestDrops400AndSaysSo(t *testing.T) {
	lk := startLoki(t)
	lk.Fail(http.StatusBadRequest, 1, "entry for stream '{job=\"x\"}' has timestamp too old")
	h := start(t, t.TempDir(), defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) { e.Name = "ooo" })))
	h.send(entry("old", time.Unix(1, 0), model.LabelSet{"job": "x"}))
	hl := waitHealth(t, h.c, component.HealthUnhealthy, 5*time.Second)
	for _, want := range []string{"dropped 1 entr", "400", "too old", "not retried"} {
		if !strings.Contains(hl.Message, want) {
			t.Errorf("health %q does not say %q", hl.Message, want)
		}
	}
	for _, lie := range []string{"kept in the WAL", "retrying"} {
		if strings.Contains(hl.Message, lie) {
			t.Errorf("health %q says %q of a dropped batch", hl.Message, lie)
		}
	}
	if n := testutil.ToFloat64(h.c.m.endpoint.retries.WithLabelValues("ooo")); n != 0 {
		t.Fatalf("%v retries counted for a 400", n)
	}
	if n := testutil.ToFloat64(h.c.m.endpoint.droppedEntries.WithLabelValues("ooo", "400")); n != 1 {
		t.Fatalf("dropped{reason=400} = %v, want 1", n)
	}
}

// TestReloadsLeaveNoConnectionsOrGoroutines reloads an endpoint 200 times,
// each with different arguments and a push in between: connections at the
// server and goroutines in the process come back to where they were.
func TestReloadsLeaveNoConnectionsOrGoroutines(t *testing.T) {
	lk := startLoki(t)
	ep := endpointArgs(lk.URL(), func(e *EndpointArgs) { e.Name = "main"; e.BatchWait = 5 * time.Millisecond })
	args := defaultArgs(ep)
	h := start(t, t.TempDir(), args)
	h.send(entry("warm-up", time.Unix(0, 0), model.LabelSet{"job": "x"}))
	if err := lk.WaitForEntries(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	baseGoroutines, baseConns := runtime.NumGoroutine(), lk.OpenConns()

	const reloads = 200
	for i := 0; i < reloads; i++ {
		ep.Headers = map[string]string{"X-Reload": fmt.Sprint(i)}
		args.Endpoints = []EndpointArgs{ep}
		if err := h.c.Update(args); err != nil {
			t.Fatal(err)
		}
		h.send(entry(fmt.Sprint(i), time.Unix(0, int64(i+1)), model.LabelSet{"job": "x"}))
		if err := lk.WaitForEntries(int64(i+2), 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if accepted := lk.ConnsAccepted(); accepted < reloads/2 {
		t.Fatalf("only %d connections over %d reloads: the test no longer exercises new clients", accepted, reloads)
	}
	var g, c int
	if _, ok := testwait.Poll(30*time.Second, func() bool {
		g, c = runtime.NumGoroutine(), lk.OpenConns()
		// A little slack for runtime and test goroutines coming and going.
		return c <= baseConns && g <= baseGoroutines+5
	}); !ok {
		t.Fatalf("after %d reloads: %d connections open (baseline %d), %d goroutines (baseline %d)", reloads, c, baseConns, g, baseGoroutines)
	}
}

// TestSecretsNeverShown runs an endpoint whose URL holds a password and a
// query-string token, with a bearer token and a secret header, through
// 403s, a 400 and a 500 whose bodies echo every secret, an outage and a
// reload: logs, health, debug info, errors and metric labels never show one.
func TestSecretsNeverShown(t *testing.T) {
	secrets := []string{"url-pass-Zq81", "query-tok-7Hx2", "bearer-tok-Pp93", "hdr-key-Vv55"}
	echo := "echo: " + strings.Join(secrets, " ")
	lk := startLoki(t)
	url := strings.Replace(lk.URL(), "http://", "http://flowuser:url-pass-Zq81@", 1) + "?api_token=query-tok-7Hx2"
	ep := endpointArgs(url, func(e *EndpointArgs) {
		e.Headers = map[string]string{"X-Api-Key": "hdr-key-Vv55"}
		e.HTTPClient.BearerToken = "bearer-tok-Pp93"
		e.RemoteTimeout = 2 * time.Second
	})
	args := defaultArgs(ep)

	var logs flowproc.LockedBuffer
	hs := startWithLogger(t, t.TempDir(), args, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	var shown []string
	observe := func() {
		hl := hs.c.CurrentHealth()
		shown = append(shown, hl.Message, fmt.Sprintf("%+v", hs.c.DebugInfo()))
	}

	for i, phase := range []func(){
		func() { lk.Fail(http.StatusForbidden, -1, echo) },
		func() { lk.Fail(http.StatusBadRequest, 1, echo) },
		func() { lk.Fail(http.StatusInternalServerError, -1, echo) },
		func() { lk.Fail(http.StatusTooManyRequests, -1, echo) },
		func() { lk.Down() },
	} {
		phase()
		hs.send(entry(fmt.Sprint(i), time.Unix(int64(i), 0), model.LabelSet{"job": "x"}))
		waitHealth(t, hs.c, component.HealthUnhealthy, 5*time.Second)
		observe()
		if err := lk.Up(); err != nil {
			t.Fatal(err)
		}
		lk.Recover()
		hs.send(entry(fmt.Sprint("ok-", i), time.Unix(int64(i), 1), model.LabelSet{"job": "x"}))
		waitHealth(t, hs.c, component.HealthHealthy, 10*time.Second)
		observe()
	}
	ep.Headers = map[string]string{"X-Api-Key": "hdr-key-Vv55", "X-Reload": "1"}
	args.Endpoints = []EndpointArgs{ep}
	if err := hs.c.Update(args); err != nil {
		shown = append(shown, err.Error())
	}
	bad := args
	bad.Endpoints = []EndpointArgs{ep}
	bad.Endpoints[0].BatchSize = -1
	if err := hs.c.Update(bad); err == nil {
		t.Fatal("a negative batch_size was accepted")
	} else {
		shown = append(shown, err.Error())
	}
	shown = append(shown, secrettest.Exposition(t, hs.reg))
	hs.stop()
	shown = append(shown, logs.String())
	secrettest.NoneShown(t, shown, secrets, []string{"403", "400", "500", "429", "connection refused", "(secret)"})
}
