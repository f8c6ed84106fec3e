package remotewrite

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/flow-telemetry/flow/components/aws/credentials"
	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/prometheus/internal/rwtest"
	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"
	"github.com/flow-telemetry/flow/syntax/value"
)

// TestSigV4CredentialsRotate runs aws.credentials (an assumed role whose
// credentials last 3 s) feeding prometheus.remote_write's aws_sigv4 block,
// in front of a receiver that checks every signature against the fake AWS.
// Across many rotations: no request is rejected, none is signed with
// superseded credentials, every sample arrives once, and the queue is the
// same one throughout (rotation updates the signer in place).
func TestSigV4CredentialsRotate(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{CredentialLifetime: 3 * time.Second})
	awstest.SetKeys(t, f.AddUser("agent"))
	role := f.RoleARN("remote-writer")
	f.AddRole(fakeaws.Role{ARN: role})

	r, check := signedReceiver(t, f, "aps", f.Region())

	fl := flowtest.Start(t, fmt.Sprintf(`
aws.credentials "rw" {
  role_arn = %q
}

prometheus.remote_write "amp" {
  endpoint {
    name = "amp"
    url  = %q
    queue_config {
      batch_send_deadline = "100ms"
      max_backoff         = "500ms"
    }
    aws_sigv4 {
      region       = %q
      service_name = "aps"
      credentials {
        access_key_id     = aws.credentials.rw.access_key_id
        secret_access_key = aws.credentials.rw.secret_access_key
        token             = aws.credentials.rw.token
      }
    }
  }
}
`, role, r.URL(), f.Region()))
	fl.WaitHealthy(t, "aws.credentials.rw", 10*time.Second)
	id := "prometheus.remote_write.amp"
	recv := fl.Exports(id).(Exports).Receiver
	c := fl.Component(id).(*Component)
	client := clientOf(c, "amp")

	g := newGenerator(recv, 50)
	g.warmUp(t, r)
	issuedBefore := f.Stats().Issued
	stop := g.background(t, 100*time.Millisecond)
	// 3-second credentials refreshed ahead of expiry: 15 s see several.
	time.Sleep(15 * time.Second)
	stop()
	waitAll(t, g, r, 30*time.Second)

	rotations := f.Stats().Issued - issuedBefore
	if rotations < 4 {
		t.Fatalf("only %d credential sets issued during the test; rotation did not happen", rotations)
	}
	st := check.Stats()
	if st.Rejected != 0 || st.Stale != 0 {
		t.Fatalf("%d requests rejected (%v, last %q), %d signed with superseded credentials", st.Rejected, st.RejectedByCode, st.LastRejection, st.Stale)
	}
	if st.Accepted == 0 {
		t.Fatal("the signature check saw no request")
	}
	rs := r.Stats()
	if rs.Duplicates != 0 || len(rs.SpecViolations) != 0 {
		t.Fatalf("%d duplicates, spec violations %v", rs.Duplicates, rs.SpecViolations)
	}
	if clientOf(c, "amp") != client {
		t.Error("the endpoint's client was rebuilt on rotation; it must be updated in place")
	}
	if h := fl.Health(id); h.Health != component.HealthHealthy {
		t.Errorf("remote_write health %s: %s", h.Health, h.Message)
	}
	t.Logf("%d rotations, %d signed requests accepted, %d samples", rotations, st.Accepted, g.total())
}

// TestSigV4ForbiddenIsExplained: an endpoint rejecting the signature (wrong
// service in the credential scope) makes the component unhealthy with
// AWS's error code and the usual cause.
func TestSigV4ForbiddenIsExplained(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	key := f.AddUser("agent")
	r, _ := signedReceiver(t, f, "aps", f.Region())

	args := testArgs(r.URL(), func(ep *EndpointOptions) {
		ep.SigV4 = sigv4Block(f.Region(), "execute-api", key)
	})
	c, recv, _ := start(t, args)
	g := newGenerator(recv, 2)
	g.background(t, 50*time.Millisecond)
	testwait.Eventually(t, 20*time.Second, func() bool {
		h := c.CurrentHealth()
		return h.Health == component.HealthUnhealthy && strings.Contains(h.Message, "403") &&
			strings.Contains(h.Message, "SignatureDoesNotMatch") && strings.Contains(h.Message, "service_name")
	}, "unhealthy with an explained 403")
	if h := c.CurrentHealth(); strings.Contains(h.Message, key.SecretAccessKey) {
		t.Fatal("health message leaks the secret key")
	}
}

func sigv4Block(region, service string, k *fakeaws.Key) *aws.SigV4Config {
	return &aws.SigV4Config{
		Region:      region,
		ServiceName: service,
		Credentials: &aws.StaticCredentials{
			AccessKeyID:     k.AccessKeyID,
			SecretAccessKey: value.Secret(k.SecretAccessKey),
			Token:           value.Secret(k.SessionToken),
		},
	}
}

// signedReceiver is a receiver that answers only requests SigV4-signed for
// service in region with a key f issued; check records what it saw.
func signedReceiver(t *testing.T, f *fakeaws.AWS, service, region string) (r *rwtest.Receiver, check *fakeaws.SigV4Handler) {
	t.Helper()
	r = rwtest.Start(t)
	r.Wrap(func(next http.Handler) http.Handler {
		check = f.RequireSigV4(next, service, region)
		return check
	})
	return r, check
}
