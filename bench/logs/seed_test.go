package logs

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	_ "github.com/flow-telemetry/flow/components/aws/credentials"
	_ "github.com/flow-telemetry/flow/components/loki/source/aws_firehose"
	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	_ "github.com/flow-telemetry/flow/components/loki/write"
	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

// seedConfig is ../shared/seed-examples/firehose-logs.river (copied to
// testdata) with its placeholders replaced:
//   - role_arn is uncommented and names a role of the fake AWS (whose STS
//     issues 3-second credentials, so they rotate all through the test);
//   - the stream name and region are the fake Firehose API's;
//   - the http block puts the endpoint on a free loopback port (the seed
//     relies on the default, port 8080);
//   - the Loki URL is the fake Loki's, and the aws_sigv4 block the seed's
//     comment describes is added, fed from the same aws.credentials.
func seedConfig(t *testing.T, role, region, stream string, port int, lokiURL string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/firehose-logs.river")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	replace := func(old, new string) {
		t.Helper()
		if !strings.Contains(src, old) {
			t.Fatalf("seed no longer contains %q", old)
		}
		src = strings.Replace(src, old, new, 1)
	}
	replace(`# role_arn = "arn:aws:iam::<ACCOUNT_ID>:role/YourFirehoseReaderRole"`, fmt.Sprintf("role_arn = %q", role))
	replace(`"your-firehose-delivery-stream-name"`, fmt.Sprintf("%q", stream))
	replace(`"<YOUR_AWS_REGION>"`, fmt.Sprintf("%q", region))
	replace("# Output to a Loki writer component", fmt.Sprintf("http {\nlisten_address = \"127.0.0.1\"\nlisten_port = %d\n}", port))
	replace(`"https://your-loki-endpoint.com/loki/api/v1/push"`, fmt.Sprintf("%q\nbatch_wait = \"100ms\"\nmin_backoff_period = \"50ms\"", lokiURL))
	replace("# for that specific endpoint's authentication.", `aws_sigv4 {
region = "`+region+`"
service_name = "execute-api"
credentials {
access_key_id = aws.credentials.default.access_key_id
secret_access_key = aws.credentials.default.secret_access_key
token = aws.credentials.default.token
}
}`)
	return src
}

// TestSeedFirehoseLogsEndToEnd runs the seed pipeline against fakes that
// check every SigV4 signature, while the credentials rotate every couple of
// seconds: direct-PUT and CloudWatch records from a Firehose sender arrive in
// Loki with the seed's labels, no signature is refused, and the delivery
// stream check keeps the source healthy.
func TestSeedFirehoseLogsEndToEnd(t *testing.T) {
	const region = "us-east-1"
	fa, _ := awstest.Start(t, fakeaws.Options{Region: region, CredentialLifetime: 3 * time.Second})
	base := fa.AddUser("flow-agent")
	awstest.SetKeys(t, base)
	role := fa.RoleARN("YourFirehoseReaderRole")
	fa.AddRole(fakeaws.Role{ARN: role})

	api := &fh.FakeAPI{Account: fa.Account(), Region: region}
	api.SetStream("app-logs", "ACTIVE")
	fhCheck := fa.RequireSigV4(api, "firehose", region)
	fhSrv := httptest.NewServer(fhCheck)
	defer fhSrv.Close()
	t.Setenv("AWS_ENDPOINT_URL_FIREHOSE", fhSrv.URL)

	var lokiCheck *fakeaws.SigV4Handler
	lk, err := fakeloki.Start(fakeloki.Options{Wrap: func(h http.Handler) http.Handler {
		lokiCheck = fa.RequireSigV4(h, "execute-api", region)
		return lokiCheck
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()

	port := flowproc.FreePort(t)
	fl := flowtest.Start(t, seedConfig(t, role, region, "app-logs", port, lk.URL()))
	fl.WaitHealthy(t, "aws.credentials.default", 10*time.Second)
	fl.WaitHealthy(t, "loki.source.aws_firehose.my_app_logs", 10*time.Second)

	url := fmt.Sprintf("http://127.0.0.1:%d/awsfirehose/api/v1/push", port)
	acks := newAckTracker()
	stop := make(chan struct{})
	done := make(chan struct{}, 3)
	for i := 0; i < 2; i++ {
		s := &fh.Sender{URL: url, SourceARN: "arn:aws:firehose:us-east-1:" + fa.Account() + ":deliverystream/app-logs", Gzip: i == 1}
		go func() { acks.run(s, i, 20, stop, 20*time.Millisecond); done <- struct{}{} }()
	}
	// CloudWatch Logs payloads too, through the same pipeline.
	cwLines := 0
	go func() {
		defer func() { done <- struct{}{} }()
		s := &fh.Sender{URL: url}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p := fh.CloudWatchPayload{MessageType: "DATA_MESSAGE", Owner: fa.Account(), LogGroup: "/aws/lambda/app", LogStream: "s",
				SubscriptionFilters: []string{"all"}, LogEvents: []fh.LogEvent{{ID: fmt.Sprint(i), Timestamp: time.Now().UnixMilli(), Message: fmt.Sprintf("cw-%d", i)}}}
			if r, err := s.Send([][]byte{fh.ControlMessage(), p.Record()}); err == nil && r.Status == 200 {
				acks.mu.Lock()
				acks.acked[fmt.Sprintf("cw-%d", i)] = true
				acks.mu.Unlock()
				cwLines++
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	// Run through several rotations of the 3-second credentials.
	start := fa.Stats().Issued
	testwait.Eventually(t, 30*time.Second, func() bool { return fa.Stats().Issued >= start+5 }, "5 credential rotations")
	close(stop)
	for i := 0; i < 3; i++ {
		<-done
	}
	acks.checkAllArrived(t, lk, 20*time.Second)
	if acks.count() < 200 || cwLines == 0 {
		t.Fatalf("only %d lines (%d CloudWatch) acknowledged", acks.count(), cwLines)
	}

	for _, e := range lk.Entries() {
		want := model.LabelSet{"job": "firehose_logs", "env": "production"}
		if !e.Labels.Equal(want) {
			t.Fatalf("entry %q has labels %v, want %v", e.Line, e.Labels, want)
		}
	}
	if st := lokiCheck.Stats(); st.Rejected != 0 || st.Accepted == 0 {
		t.Fatalf("Loki's SigV4 check: %d accepted, %d rejected (%s)", st.Accepted, st.Rejected, st.LastRejection)
	}
	if st := fhCheck.Stats(); st.Rejected != 0 || st.Accepted == 0 || api.Calls() == 0 {
		t.Fatalf("Firehose API's SigV4 check: %d accepted, %d rejected (%s)", st.Accepted, st.Rejected, st.LastRejection)
	}
	if s := fa.Stats(); s.Rejected != 0 || s.Stale != 0 {
		t.Fatalf("fake AWS saw %d rejected and %d stale-credential requests (%s)", s.Rejected, s.Stale, s.LastRejection)
	}
	for _, id := range []string{"aws.credentials.default", "loki.source.aws_firehose.my_app_logs", "loki.write.default"} {
		if h := fl.Health(id); h.Health != component.HealthHealthy {
			t.Errorf("%s is %s: %s", id, h.Health, h.Message)
		}
	}
	t.Logf("%d lines acknowledged and delivered across %d credential rotations; %d requests retried", acks.count(), fa.Stats().Issued-start, acks.failed.Load())
}
