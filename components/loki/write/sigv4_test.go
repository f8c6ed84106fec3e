package write

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/syntax/value"
)

// TestSigV4RotatingCredentials pushes through a signature-checking fake
// (Loki behind API Gateway) while the credentials rotate faster than they
// expire: every push is accepted, every entry arrives, and the endpoint is
// updated in place rather than restarted.
func TestSigV4RotatingCredentials(t *testing.T) {
	fa := fakeaws.Start(fakeaws.Options{Region: "eu-west-1"})
	defer fa.Close()
	var checker *fakeaws.SigV4Handler
	lk, err := fakeloki.Start(fakeloki.Options{Wrap: func(h http.Handler) http.Handler {
		checker = fa.RequireSigV4(h, "execute-api", "eu-west-1")
		return checker
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()

	sig := func(k *fakeaws.Key) *aws.SigV4Config {
		return &aws.SigV4Config{Region: "eu-west-1", ServiceName: "execute-api", Credentials: &aws.StaticCredentials{
			AccessKeyID: k.AccessKeyID, SecretAccessKey: value.Secret(k.SecretAccessKey), Token: value.Secret(k.SessionToken)}}
	}
	key := fa.Issue("arn:aws:sts::123456789012:assumed-role/loki-writer/flow", 2*time.Second)
	ep := endpointArgs(lk.URL(), func(e *EndpointArgs) { e.Name = "apigw"; e.AWSSigV4 = sig(key); e.BatchWait = 20 * time.Millisecond })
	args := defaultArgs(ep)
	h := start(t, t.TempDir(), args)
	before := h.c.endpoints["apigw"]

	var sent atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			h.send(entry(fmt.Sprint(i), time.Unix(0, int64(i)), model.LabelSet{"job": "signed"}))
			sent.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	for r := 0; r < 10; r++ {
		time.Sleep(300 * time.Millisecond)
		key = fa.Issue("arn:aws:sts::123456789012:assumed-role/loki-writer/flow", 2*time.Second)
		ep.AWSSigV4 = sig(key)
		args.Endpoints = []EndpointArgs{ep}
		if err := h.c.Update(args); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
	if err := lk.WaitForEntries(sent.Load(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	st := checker.Stats()
	if st.Rejected != 0 || st.Accepted == 0 {
		t.Fatalf("signature check: %d accepted, %d rejected (last: %s)", st.Accepted, st.Rejected, st.LastRejection)
	}
	if h.c.endpoints["apigw"] != before {
		t.Fatal("a credentials change restarted the endpoint; it should be updated in place")
	}
}

// TestSigV4RejectionIsExplained shows a wrong service_name as an AWS error
// with its usual cause in the component's health.
func TestSigV4RejectionIsExplained(t *testing.T) {
	fa := fakeaws.Start(fakeaws.Options{Region: "eu-west-1"})
	defer fa.Close()
	lk, err := fakeloki.Start(fakeloki.Options{Wrap: func(h http.Handler) http.Handler {
		return fa.RequireSigV4(h, "execute-api", "eu-west-1")
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	k := fa.AddUser("writer")
	ep := endpointArgs(lk.URL(), func(e *EndpointArgs) {
		e.SigV4 = &aws.SigV4Config{Region: "eu-west-1", ServiceName: "aps", AccessKey: k.AccessKeyID, SecretKey: value.Secret(k.SecretAccessKey)}
	})
	h := start(t, t.TempDir(), defaultArgs(ep))
	h.send(entry("x", time.Unix(1, 0), model.LabelSet{"job": "x"}))
	hl := waitHealth(t, h.c, 2 /* unhealthy */, 5*time.Second)
	if !strings.Contains(hl.Message, "SignatureDoesNotMatch") || !strings.Contains(hl.Message, "service_name") {
		t.Fatalf("health %q should name SignatureDoesNotMatch and its usual cause", hl.Message)
	}
	if strings.Contains(hl.Message, k.SecretAccessKey) {
		t.Fatal("secret key in health message")
	}
}
