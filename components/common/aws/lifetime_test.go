package aws

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/testwait"
)

func TestCheckLifetime(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	creds := func(left time.Duration) awssdk.Credentials {
		return awssdk.Credentials{AccessKeyID: "ASIA", SecretAccessKey: "s", CanExpire: true, Expires: now.Add(left), Source: "AssumeRoleProvider"}
	}
	clockAt := func(offset time.Duration) *ServerClock {
		c := &ServerClock{}
		c.Observe(now.Add(offset), now)
		return c
	}
	for _, ok := range []awssdk.Credentials{creds(time.Second), creds(time.Hour), {AccessKeyID: "AKIA", SecretAccessKey: "s"}} {
		if err := CheckLifetime(ok, now, nil); err != nil {
			t.Errorf("CheckLifetime(%v) = %v, want nil", ok.Expires, err)
		}
	}
	tests := []struct {
		name  string
		left  time.Duration
		clock *ServerClock
		want  []string
	}{
		{"expired, host ahead", -time.Hour, clockAt(-2 * time.Hour), []string{
			"AssumeRoleProvider returned credentials that have already expired",
			"expire at 2026-03-01T11:00:00Z, 1h0m0s before the local clock (2026-03-01T12:00:00Z)",
			"clock skew: this host's clock is 2h0m0s ahead of AWS's (the Date header of AWS's last response said 2026-03-01T10:00:00Z)",
			"NTP"}},
		{"under a second left", 300 * time.Millisecond, clockAt(-59 * time.Minute), []string{
			"no usable lifetime", "300ms after the local clock", "under the 1s minimum", "59m0s ahead of AWS's"}},
		{"no Date header", -time.Minute, nil, []string{"already expired", "clock skew: no AWS response carried a Date header"}},
		{"clocks agree", -time.Minute, clockAt(time.Second), []string{"no clock skew", "the source itself issued expired credentials"}},
		{"host behind", -time.Minute, clockAt(10 * time.Minute), []string{"10m0s behind AWS's"}},
	}
	for _, tt := range tests {
		err := CheckLifetime(creds(tt.left), now, tt.clock)
		var le *LifetimeError
		if !errors.As(err, &le) {
			t.Fatalf("%s: %v, want a *LifetimeError", tt.name, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tt.name, err, w)
			}
		}
	}
	for n, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 7: time.Minute, 100: time.Minute} {
		if got := RefreshBackoff(n); got != want {
			t.Errorf("RefreshBackoff(%d) = %s, want %s", n, got, want)
		}
	}
}

// countingProvider returns credentials lasting lifetime from each call.
type countingProvider struct {
	lifetime time.Duration
	calls    atomic.Int64
}

func (p *countingProvider) Retrieve(context.Context) (awssdk.Credentials, error) {
	p.calls.Add(1)
	return awssdk.Credentials{AccessKeyID: "ASIA", SecretAccessKey: "s", CanExpire: true, Expires: time.Now().Add(p.lifetime)}, nil
}

// Credentials that barely pass (a second of lifetime) are fetched at most
// once a second however often they are asked for; expired ones back off.
func TestRefreshGuardPacesFetches(t *testing.T) {
	for _, tt := range []struct {
		lifetime time.Duration
		max      int64
	}{{1100 * time.Millisecond, 4}, {-time.Hour, 3}} {
		p := &countingProvider{lifetime: tt.lifetime}
		g := NewRefreshGuard(p, nil)
		end := time.Now().Add(3 * time.Second)
		calls := 0
		for time.Now().Before(end) {
			_, err := g.Retrieve(context.Background())
			if tt.lifetime < 0 && err == nil {
				t.Fatal("expired credentials served")
			}
			calls++
			time.Sleep(time.Millisecond)
		}
		if n := p.calls.Load(); n > tt.max || n < 1 {
			t.Errorf("lifetime %s: %d fetches for %d calls in 3s, want 1..%d", tt.lifetime, n, calls, tt.max)
		}
	}
}

// A host clock two hours ahead of STS: every AssumeRole answer has expired
// by the local clock. Requests signed through a RoundTripper fail with the
// clock skew named, STS is asked a handful of times (not once per request),
// and signing recovers once STS's answers are usable.
func TestRoundTripperExpiredCredentialsBackOff(t *testing.T) {
	f, _, role := awstest.StartWithRole(t, fakeaws.Options{ExpirationSkew: 2 * time.Hour}, "base", "writer", "")
	srv, _, rec := signedServer(t, f, "aps")

	rt, err := NewRoundTripper(SigV4Config{Region: f.Region(), ServiceName: "aps", RoleARN: role}, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: rt}
	send := func() error {
		resp, err := client.Post(srv.URL+"/api/v1/remote_write", "application/x-protobuf", strings.NewReader("x"))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return errors.New(resp.Status)
		}
		return nil
	}
	end := time.Now().Add(3 * time.Second)
	requests := 0
	var last error
	for time.Now().Before(end) {
		last = send()
		if last == nil {
			t.Fatal("a request was signed with expired credentials and accepted")
		}
		requests++
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(last.Error(), "already expired") || !strings.Contains(last.Error(), "this host's clock is 2h0m") ||
		!strings.Contains(last.Error(), "ahead of AWS's") {
		t.Fatalf("error %q does not name the clock skew", last)
	}
	if n := f.Stats().ByAction["sts:AssumeRole"]; n < 1 || n > 5 {
		t.Fatalf("%d AssumeRole calls for %d requests in 3s, want 1..5", n, requests)
	}
	if len(rec.bodies) != 0 {
		t.Fatalf("%d requests reached the server", len(rec.bodies))
	}

	f.SetExpirationSkew(0)
	if _, ok := testwait.Poll(20*time.Second, func() bool { return send() == nil }); !ok {
		t.Fatalf("no recovery after STS issued good credentials: %v", send())
	}
	if s := f.Stats(); s.ByAction["sts:AssumeRole"] > 8 {
		t.Fatalf("%d AssumeRole calls in all", s.ByAction["sts:AssumeRole"])
	}
}
