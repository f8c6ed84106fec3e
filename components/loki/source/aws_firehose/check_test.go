package awsfirehose

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// fakeFirehoseAPI answers DescribeDeliveryStream (the AWS JSON 1.1
// protocol) behind the fake AWS's signature check.
type fakeFirehoseAPI struct {
	mu      sync.Mutex
	streams map[string]string // name -> status
	calls   int
}

func (f *fakeFirehoseAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if r.Header.Get("X-Amz-Target") != "Firehose_20150804.DescribeDeliveryStream" {
		w.WriteHeader(400)
		json.NewEncoder(w).Encode(map[string]string{"__type": "UnknownOperationException", "message": r.Header.Get("X-Amz-Target")})
		return
	}
	var in struct{ DeliveryStreamName string }
	json.NewDecoder(r.Body).Decode(&in)
	status, ok := f.streams[in.DeliveryStreamName]
	if !ok {
		w.WriteHeader(400)
		json.NewEncoder(w).Encode(map[string]string{"__type": "ResourceNotFoundException",
			"message": "Firehose " + in.DeliveryStreamName + " under account 123456789012 not found."})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"DeliveryStreamDescription": map[string]any{
		"DeliveryStreamName":   in.DeliveryStreamName,
		"DeliveryStreamARN":    "arn:aws:firehose:eu-west-1:123456789012:deliverystream/" + in.DeliveryStreamName,
		"DeliveryStreamStatus": status,
		"DeliveryStreamType":   "DirectPut",
		"VersionId":            "1",
		"Destinations":         []any{},
		"HasMoreDestinations":  false,
	}})
}

func (f *fakeFirehoseAPI) set(name, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streams[name] = status
}

func waitFor(t *testing.T, c *Component, cond func(component.Health) bool) component.Health {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := c.CurrentHealth()
		if cond(h) {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("health stayed %s: %s", h.Health, h.Message)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeliveryStreamCheck(t *testing.T) {
	fa := fakeaws.Start(fakeaws.Options{Region: "eu-west-1"})
	defer fa.Close()
	api := &fakeFirehoseAPI{streams: map[string]string{"logs": "ACTIVE", "new": "CREATING"}}
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
