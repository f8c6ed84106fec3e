package credentials

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"

	_ "github.com/flow-telemetry/flow/components/discovery/aws/ec2"
)

func evaluations(fl *flowtest.Flow, id string) int {
	for _, c := range fl.Runtime().Components() {
		if c.ID == id {
			return c.EvaluationsTotal
		}
	}
	return -1
}

// TestExpiredOnArrival: with the host clock two hours ahead of STS, every
// AssumeRole answer has already expired by the local clock. Before, flow
// refreshed ~200 times a second, re-evaluated the dependants as often and
// reported healthy. Now the component is unhealthy with the clock skew
// named, asks STS a handful of times in 3 seconds (backoff from 1s), its
// dependant is not re-evaluated in a loop, and it recovers when STS's
// answers are usable again.
func TestExpiredOnArrival(t *testing.T) {
	f, _, role := awstest.StartWithRole(t, fakeaws.Options{ExpirationSkew: 2 * time.Hour}, "base", "skewed", "")

	fl := flowtest.Start(t, fmt.Sprintf(`
aws.credentials "c" {
  role_arn = %q
}

discovery.aws.ec2 "d" {
  region           = aws.credentials.c.region
  refresh_interval = "1h"
  credentials {
    access_key_id     = aws.credentials.c.access_key_id
    secret_access_key = aws.credentials.c.secret_access_key
    token             = aws.credentials.c.token
  }
}
`, role))
	const credsID, depID = "aws.credentials.c", "discovery.aws.ec2.d"
	c := fl.Component(credsID).(*Component)

	testwait.Eventually(t, 10*time.Second, func() bool { return fl.Health(credsID).Health == component.HealthUnhealthy },
		"aws.credentials never became unhealthy: %+v", fl.Health(credsID))
	start := time.Now()
	evals0 := evaluations(fl, depID)
	time.Sleep(3 * time.Second)
	elapsed := time.Since(start)

	h := fl.Health(credsID)
	for _, want := range []string{"assuming role " + role, "already expired", "clock skew", "this host's clock is 2h0m", "ahead of AWS's", "NTP"} {
		if !strings.Contains(h.Message, want) {
			t.Errorf("health %q lacks %q", h.Message, want)
		}
	}
	if h.Health != component.HealthUnhealthy {
		t.Errorf("health %s after 3s of expired credentials", h.Health)
	}
	if n := f.Stats().ByAction["sts:AssumeRole"]; n < 2 || n > 5 {
		t.Errorf("%d AssumeRole calls in the first ~%s, want 2..5 (backoff from 1s)", n, elapsed.Round(time.Second))
	}
	if d := evaluations(fl, depID) - evals0; d > 1 {
		t.Errorf("the dependant was re-evaluated %d times in %s", d, elapsed.Round(time.Second))
	}
	if e := c.Exports(); e.AccessKeyID != "" || e.SecretAccessKey != "" {
		t.Errorf("expired credentials exported: %s", e.AccessKeyID)
	}
	if d := c.DebugInfo().(DebugInfo); d.RefreshCount != 0 || d.ConsecutiveFailures < 2 || !strings.Contains(d.LastError, "clock skew") {
		t.Errorf("debug info %+v", d)
	}

	// STS's clock is fixed: the next retry (within the backoff, under a
	// minute) gets credentials that work.
	f.SetExpirationSkew(0)
	c.mu.Lock()
	c.maxBackoff = 2 * time.Second // the retry already scheduled is at most 8s away
	c.mu.Unlock()
	fl.WaitHealthy(t, credsID, 20*time.Second)
	e := c.Exports()
	if e.AccessKeyID == "" {
		t.Fatal("healthy without credentials")
	}
	callerARN(t, f, e)
	exp, err := time.Parse(time.RFC3339, e.Expiration)
	if err != nil || time.Until(exp) < 50*time.Minute {
		t.Fatalf("expiration %q (%v)", e.Expiration, err)
	}
	testwait.Eventually(t, 10*time.Second, func() bool { return evaluations(fl, depID) > evals0 },
		"the dependant was not re-evaluated with the new credentials")
}
