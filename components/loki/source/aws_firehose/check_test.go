package awsfirehose

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/components/common/aws"
	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

func waitFor(t *testing.T, c *Component, cond func(component.Health) bool) component.Health {
	t.Helper()
	var h component.Health
	if _, ok := testwait.Poll(30*time.Second, func() bool { h = c.CurrentHealth(); return cond(h) }); !ok {
		t.Fatalf("health stayed %s: %s", h.Health, h.Message)
	}
	return h
}

func TestDeliveryStreamCheck(t *testing.T) {
	fa := fakeaws.Start(fakeaws.Options{Region: "eu-west-1"})
	defer fa.Close()
	api := &fh.FakeAPI{Account: "123456789012", Region: "eu-west-1"}
	api.SetStream("logs", "ACTIVE")
	api.SetStream("new", "CREATING")
	checker := fa.RequireSigV4(api, "firehose", "eu-west-1")
	srv := httptest.NewServer(checker)
	defer srv.Close()

	key := fa.Issue("arn:aws:sts::123456789012:assumed-role/firehose-reader/flow", time.Hour)
	creds := func(k *fakeaws.Key) *aws.StaticCredentials {
		return &aws.StaticCredentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: value.Secret(k.SecretAccessKey), Token: value.Secret(k.SessionToken)}
	}
	f := newFixture(t, func(a *Arguments) {
		a.DeliveryStreamName, a.Region, a.Endpoint = "logs", "eu-west-1", srv.URL
		a.Credentials = creds(key)
	})
	h := waitFor(t, f.c, func(h component.Health) bool { return h.Health == component.HealthHealthy })
	if !strings.Contains(h.Message, `"logs" is ACTIVE`) {
		t.Fatalf("health message %q", h.Message)
	}

	args := f.c.args
	args.DeliveryStreamName = "new"
	f.c.Update(args)
	h = waitFor(t, f.c, func(h component.Health) bool { return h.Health == component.HealthUnhealthy })
	if !strings.Contains(h.Message, "CREATING, not ACTIVE") {
		t.Fatalf("health message %q", h.Message)
	}

	args.DeliveryStreamName = "missing"
	f.c.Update(args)
	h = waitFor(t, f.c, func(h component.Health) bool {
		return h.Health == component.HealthUnhealthy && strings.Contains(h.Message, "missing")
	})
	if !strings.Contains(h.Message, "ResourceNotFoundException") {
		t.Fatalf("health message %q should carry AWS's error code", h.Message)
	}

	// Rotated credentials are used by the next check; a bad key shows up
	// as AWS's own error code, with no secret in it.
	args.DeliveryStreamName = "logs"
	bad := creds(key)
	bad.SecretAccessKey = "wrong-secret-wrong-secret-wrong-secret-00"
	args.Credentials = bad
	f.c.Update(args)
	h = waitFor(t, f.c, func(h component.Health) bool {
		return h.Health == component.HealthUnhealthy && strings.Contains(h.Message, "SignatureDoesNotMatch")
	})
	if strings.Contains(h.Message, "wrong-secret") || strings.Contains(h.Message, key.SessionToken) {
		t.Fatalf("secret in health message %q", h.Message)
	}
	if st := checker.Stats(); st.Accepted < 3 {
		t.Fatalf("only %d signed calls accepted", st.Accepted)
	}
	d := f.c.DebugInfo().(DebugInfo)
	if d.DeliveryStream != "logs" || d.StreamCheckError == "" {
		t.Fatalf("debug info %+v", d)
	}
}
