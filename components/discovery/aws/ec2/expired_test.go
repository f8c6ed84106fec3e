package ec2

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
)

// TestOwnCredentialsExpiredOnArrival: discovery.aws.ec2 assuming a role
// itself (role_arn, no aws.credentials) on a host whose clock is two hours
// ahead of STS. Refreshing every 100ms, it asks STS a handful of times in
// 3s, not once per DescribeInstances call; its health names the clock
// skew; once STS's answers are usable it lists the instances again.
func TestOwnCredentialsExpiredOnArrival(t *testing.T) {
	f, _, role := awstest.StartWithRole(t, fakeaws.Options{ExpirationSkew: 2 * time.Hour}, "agent", "EC2Discovery", "")
	f.SetInstances(fleet())

	fl := flowtest.Start(t, fmt.Sprintf(`
discovery.aws.ec2 "d" {
  region           = %q
  role_arn         = %q
  refresh_interval = "100ms"
}
`, f.Region(), role))
	const id = "discovery.aws.ec2.d"
	testwait.Eventually(t, 10*time.Second, func() bool { return fl.Health(id).Health == component.HealthUnhealthy },
		"discovery never became unhealthy: %+v", fl.Health(id))
	time.Sleep(3 * time.Second)
	h := fl.Health(id)
	if h.Health != component.HealthUnhealthy || !strings.Contains(h.Message, "clock skew") || !strings.Contains(h.Message, "ahead of AWS's") {
		t.Errorf("health %s: %s", h.Health, h.Message)
	}
	if n := f.Stats().ByAction["sts:AssumeRole"]; n < 1 || n > 5 {
		t.Errorf("%d AssumeRole calls in ~3s of 100ms refreshes, want 1..5", n)
	}
	if n := f.Stats().ByAction["ec2:DescribeInstances"]; n != 0 {
		t.Errorf("%d DescribeInstances calls signed with expired credentials were accepted", n)
	}

	f.SetExpirationSkew(0)
	fl.WaitHealthy(t, id, 90*time.Second)
	testwait.Eventually(t, 10*time.Second, func() bool {
		e, ok := fl.Exports(id).(Exports)
		return ok && len(e.Targets) > 0
	}, "no targets after recovery")
}
