package awsfirehose

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/common/relabel"
	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/runtime/component"
)

// collector is the forward_to receiver of these tests.
type collector struct{ fakeloki.Receiver }

func (c *collector) got() []loki.Entry { return c.Entries() }

type fixture struct {
	c    *Component
	out  *collector
	send *fh.Sender
	reg  *prometheus.Registry
}

func newFixture(t *testing.T, f func(a *Arguments)) *fixture {
	t.Helper()
	out := &collector{}
	var a Arguments
	a.SetToDefault()
	a.HTTP.ListenAddress, a.HTTP.ListenPort = "127.0.0.1", 0
	a.ForwardTo = []loki.LogsReceiver{out}
	if f != nil {
		f(&a)
	}
	reg := prometheus.NewRegistry()
	c, err := New(component.Options{ID: "loki.source.aws_firehose.test", Registerer: reg}, a)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &fixture{c: c, out: out, reg: reg, send: &fh.Sender{
		URL:       "http://" + c.Addr() + PushPath,
		SourceARN: "arn:aws:firehose:us-east-1:123456789012:deliverystream/test-stream",
	}}
}

func ok(t *testing.T, r fh.Response, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.ErrorMessage)
	}
}

func TestDirectPutWithLabelsAttributesAndTenant(t *testing.T) {
	f := newFixture(t, func(a *Arguments) {
		a.Labels = map[string]string{"job": "firehose_logs", "env": "production"}
	})
	f.send.CommonAttributes = map[string]string{"lbl_team": "payments", "lbl_env": "ignored-config-wins", "api_token": "not-a-label"}
	f.send.Tenant = "tenant-a"
	before := time.Now()
	r, err := f.send.Send([][]byte{[]byte("first line\n"), []byte("second line"), []byte(`{"json":true}`)})
	ok(t, r, err)
	got := f.out.got()
	if len(got) != 3 {
		t.Fatalf("%d entries, want 3", len(got))
	}
	want := model.LabelSet{"job": "firehose_logs", "env": "production", "team": "payments", loki.TenantLabel: "tenant-a"}
	for i, line := range []string{"first line", "second line", `{"json":true}`} {
		e := got[i]
		if e.Line != line {
			t.Errorf("entry %d line %q, want %q", i, e.Line, line)
		}
		if !e.Labels.Equal(want) {
			t.Errorf("entry %d labels %v, want %v", i, e.Labels, want)
		}
		if e.Timestamp.Before(before.Add(-time.Millisecond)) || e.Timestamp.After(time.Now()) {
			t.Errorf("entry %d timestamp %v is not the receive time", i, e.Timestamp)
		}
		if i > 0 && !e.Timestamp.After(got[i-1].Timestamp) {
			t.Errorf("entry %d timestamp does not follow the previous one: order would be lost in Loki", i)
		}
	}
	if n := testutil.CollectAndCount(f.c.m.duration); n != 1 {
		t.Errorf("request_duration_seconds has %d series, want 1", n)
	}
	if n := testutil.ToFloat64(f.c.m.records.WithLabelValues("direct-put")); n != 3 {
		t.Errorf("records_received{type=direct-put} = %v", n)
	}
	if d := f.c.DebugInfo().(DebugInfo); d.Requests["200"] != 1 || d.LastRequest == "" {
		t.Errorf("debug info %+v", d)
	}
	if h := f.c.CurrentHealth(); h.Health != component.HealthHealthy || !strings.Contains(h.Message, PushPath) {
		t.Errorf("health %v %q", h.Health, h.Message)
	}
}

func TestGzipBodyAndIncomingTimestamp(t *testing.T) {
	f := newFixture(t, func(a *Arguments) {
		a.Labels = map[string]string{"job": "x"}
		a.UseIncomingTimestamp = true
	})
	f.send.Gzip = true
	ts := time.Date(2024, 1, 2, 3, 4, 5, 678e6, time.UTC)
	id := fh.NewRequestID()
	r, err := f.send.Post(id, fh.Body(id, ts, [][]byte{[]byte("zipped")}))
	ok(t, r, err)
	got := f.out.got()
	// Truncated to the second, as Alloy does.
	if want := ts.Truncate(time.Second); len(got) != 1 || got[0].Line != "zipped" || !got[0].Timestamp.Equal(want) {
		t.Fatalf("got %+v, want the line at the request's timestamp in seconds %v", got, want)
	}
}

func TestCloudWatchDataAndControlMessages(t *testing.T) {
	rules, err := relabel.Compile([]relabel.Rule{
		{SourceLabels: []string{"__aws_cw_log_group"}, Separator: ";", Regex: "(.*)", TargetLabel: "log_group", Replacement: "$1", Action: "replace"},
		{SourceLabels: []string{"__aws_cw_matched_filters"}, Separator: ";", Regex: "(.*)", TargetLabel: "filters", Replacement: "$1", Action: "replace"},
		{SourceLabels: []string{"__aws_owner"}, Separator: ";", Regex: "(.*)", TargetLabel: "owner", Replacement: "$1", Action: "replace"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(a *Arguments) {
		a.Labels = map[string]string{"job": "cw"}
		a.RelabelRules = rules
		a.UseIncomingTimestamp = true
	})
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	data := fh.CloudWatchPayload{
		MessageType: "DATA_MESSAGE", Owner: "123456789012", LogGroup: "/aws/lambda/checkout", LogStream: "2024/05/01/[$LATEST]abc",
		SubscriptionFilters: []string{"all", "errors"},
		LogEvents: []fh.LogEvent{
			{ID: "1", Timestamp: t0.UnixMilli(), Message: "START RequestId: 1"},
			{ID: "2", Timestamp: t0.Add(5 * time.Millisecond).UnixMilli(), Message: "ERROR boom"},
		},
	}
	other := data
	other.LogGroup, other.LogEvents = "/aws/lambda/cart", []fh.LogEvent{{ID: "3", Timestamp: t0.Add(time.Second).UnixMilli(), Message: "hello"}}
	r, err := f.send.Send([][]byte{fh.ControlMessage(), data.Record(), other.Record()})
	ok(t, r, err)
	got := f.out.got()
	if len(got) != 4 {
		t.Fatalf("%d entries, want 4 (the control message's event too, as Alloy forwards it)", len(got))
	}
	if c := got[0]; c.Line != "CWL CONTROL MESSAGE: Checking health of destination Firehose." || c.Labels["owner"] != "CloudwatchLogs" || c.Labels["job"] != "cw" {
		t.Errorf("control message entry %q %v", c.Line, c.Labels)
	}
	got = got[1:]
	want := []struct {
		line  string
		ts    time.Time
		group string
	}{{"START RequestId: 1", t0, "/aws/lambda/checkout"}, {"ERROR boom", t0.Add(5 * time.Millisecond), "/aws/lambda/checkout"}, {"hello", t0.Add(time.Second), "/aws/lambda/cart"}}
	for i, w := range want {
		e := got[i]
		if e.Line != w.line || !e.Timestamp.Equal(w.ts) || string(e.Labels["log_group"]) != w.group {
			t.Errorf("entry %d = %q %v %v, want %q %v log_group=%s", i, e.Line, e.Timestamp, e.Labels, w.line, w.ts, w.group)
		}
		if e.Labels["filters"] != "all,errors" || e.Labels["owner"] != "123456789012" || e.Labels["job"] != "cw" {
			t.Errorf("entry %d labels %v", i, e.Labels)
		}
		for n := range e.Labels {
			if strings.HasPrefix(string(n), "__") {
				t.Errorf("entry %d keeps internal label %s", i, n)
			}
		}
	}
	if n := testutil.ToFloat64(f.c.m.records.WithLabelValues("cloudwatch-logs")); n != 3 {
		t.Errorf("records_received{type=cloudwatch-logs} = %v, want 3", n)
	}
}

func TestRelabelDropRule(t *testing.T) {
	rules, _ := relabel.Compile([]relabel.Rule{{SourceLabels: []string{"__aws_firehose_source_arn"}, Separator: ";", Regex: ".*noisy.*", Replacement: "$1", Action: "drop"}})
	f := newFixture(t, func(a *Arguments) { a.Labels = map[string]string{"job": "x"}; a.RelabelRules = rules })
	f.send.SourceARN = "arn:aws:firehose:us-east-1:1:deliverystream/noisy"
	r, err := f.send.Send([][]byte{[]byte("dropped")})
	ok(t, r, err)
	if len(f.out.got()) != 0 {
		t.Fatal("entry not dropped by the rule")
	}
	if n := testutil.ToFloat64(f.c.m.relabelDropped); n != 1 {
		t.Fatalf("dropped counter %v", n)
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, func(a *Arguments) {
		a.AccessKey = "s3cret-key"
		a.HTTP.MaxRequestBodySize = 4 << 20
	})
	// A smaller CloudWatch limit keeps the gzip bomb below cheap to build.
	st := *f.c.state.Load()
	st.limits.cloudWatch = 1 << 20
	f.c.state.Store(&st)
	good := func() *fh.Sender { s := *f.send; s.AccessKey = "s3cret-key"; return &s }
	bomb := gz(bytes.Repeat([]byte("A"), 16<<20)) // 16 MiB of A in ~16 KiB
	cases := []struct {
		name   string
		send   func() (fh.Response, error)
		status int
		reason string
		msg    string
	}{
		{"missing access key", func() (fh.Response, error) { s := good(); s.AccessKey = ""; return s.Send([][]byte{[]byte("x")}) }, 401, "unauthorized", "missing X-Amz-Firehose-Access-Key"},
		{"wrong access key", func() (fh.Response, error) { s := good(); s.AccessKey = "guess"; return s.Send([][]byte{[]byte("x")}) }, 401, "unauthorized", "does not match"},
		{"bad json", func() (fh.Response, error) { return good().Post("id-1", []byte(`{"records": [`)) }, 400, "read_or_format", "not the JSON Firehose sends"},
		{"bad gzip body", func() (fh.Response, error) {
			s := good()
			return postRaw(s, "id-3", []byte("this is not gzip"), "gzip")
		}, 400, "pre_read", "not gzip data"},
		{"truncated gzip body", func() (fh.Response, error) {
			z := gz(fh.Body("id-4", time.Now(), [][]byte{[]byte("x")}))
			return postRaw(good(), "id-4", z[:len(z)-6], "gzip")
		}, 400, "read_or_format", "corrupt or truncated"},
		{"gzip bomb body", func() (fh.Response, error) { return postRaw(good(), "id-5", bomb, "gzip") }, 413, "too_large", "max_request_body_size"},
		{"body too large", func() (fh.Response, error) {
			return good().Send([][]byte{bytes.Repeat([]byte("x"), 800<<10), bytes.Repeat([]byte("y"), 800<<10), bytes.Repeat([]byte("z"), 800<<10), bytes.Repeat([]byte("w"), 800<<10)})
		}, 413, "too_large", "max_request_body_size"},
		{"unknown encoding", func() (fh.Response, error) { return postRaw(good(), "id-7", []byte("{}"), "br") }, 415, "bad_encoding", "unsupported Content-Encoding"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.ToFloat64(f.c.m.requestErrors.WithLabelValues(tc.reason))
			r, err := tc.send()
			if err != nil {
				t.Fatalf("answer does not follow the Firehose spec: %v", err)
			}
			if r.Status != tc.status || !strings.Contains(r.ErrorMessage, tc.msg) {
				t.Fatalf("got %d %q, want %d containing %q", r.Status, r.ErrorMessage, tc.status, tc.msg)
			}
			if strings.Contains(r.ErrorMessage, "s3cret-key") {
				t.Fatal("the access key appears in the answer")
			}
			if after := testutil.ToFloat64(f.c.m.requestErrors.WithLabelValues(tc.reason)); after != before+1 {
				t.Fatalf("request_errors{reason=%s} went from %v to %v", tc.reason, before, after)
			}
		})
	}
	if n := len(f.out.got()); n != 0 {
		t.Fatalf("%d entries forwarded from refused requests", n)
	}
	// Plain HTTP misuse gets JSON answers too.
	for _, tc := range []struct {
		method, path string
		status       int
	}{{"GET", PushPath, 405}, {"POST", "/other", 404}} {
		req, _ := http.NewRequest(tc.method, "http://"+f.c.Addr()+tc.path, nil)
		req.Header.Set(hdrRequestID, "rid")
		req.Header.Set(hdrAccessKey, "s3cret-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

func postRaw(s *fh.Sender, id string, body []byte, encoding string) (fh.Response, error) {
	return postWith(s, id, body, func(h http.Header) { h.Set("Content-Encoding", encoding) })
}

// postWith sends a request whose body or headers the Sender would not produce.
func postWith(s *fh.Sender, id string, body []byte, edit func(http.Header)) (fh.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, s.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(hdrRequestID, id)
	req.Header.Set(hdrAccessKey, s.AccessKey)
	edit(req.Header)
	sent := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fh.Response{}, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	var out fh.Response
	err = fh.CheckResponse(resp, buf.Bytes(), id, sent, &out)
	return out, err
}

func TestForwardFailureAndTimeout(t *testing.T) {
	f := newFixture(t, func(a *Arguments) {
		a.Labels = map[string]string{"job": "x"}
		a.HTTP.ServerTimeout = 200 * time.Millisecond
	})
	f.out.Fail(errors.New("WAL disk full"))
	r, err := f.send.Send([][]byte{[]byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 500 || !strings.Contains(r.ErrorMessage, "WAL disk full") {
		t.Fatalf("got %d %q, want 500 naming the cause", r.Status, r.ErrorMessage)
	}
	f.out.Fail(nil)
	f.out.Block()
	r, err = f.send.Send([][]byte{[]byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 503 {
		t.Fatalf("got %d %q, want 503 when forward_to does not accept in time", r.Status, r.ErrorMessage)
	}
	f.out.Unblock()
	r, err = f.send.Send([][]byte{[]byte("x")})
	ok(t, r, err)
}

func TestUpdateRestartsServerOnlyForHTTPChanges(t *testing.T) {
	f := newFixture(t, func(a *Arguments) { a.Labels = map[string]string{"job": "x"} })
	args := f.c.args
	addr := f.c.Addr()
	srv := f.c.srv

	args.AccessKey = "new-key"
	args.Labels = map[string]string{"job": "y"}
	if err := f.c.Update(args); err != nil {
		t.Fatal(err)
	}
	if f.c.srv != srv || f.c.Addr() != addr {
		t.Fatal("the server restarted for a non-http change")
	}
	r, _ := f.send.Send([][]byte{[]byte("x")})
	if r.Status != 401 {
		t.Fatalf("new access key not applied: %d", r.Status)
	}
	f.send.AccessKey = "new-key"
	r, err := f.send.Send([][]byte{[]byte("x")})
	ok(t, r, err)
	if got := f.out.got(); got[0].Labels["job"] != "y" {
		t.Fatalf("new labels not applied: %v", got[0].Labels)
	}

	// The size limits apply to the next request without a new server.
	args.HTTP.MaxInflightSize, args.HTTP.MaxRequestDecodedSize = 200<<20, 32<<20
	if err := f.c.Update(args); err != nil {
		t.Fatal(err)
	}
	if f.c.srv != srv || f.c.budget.total.Load() != 200<<20 || f.c.state.Load().limits.decoded != 32<<20 {
		t.Fatal("new size limits restarted the server or were not applied")
	}

	args.HTTP.ServerTimeout = 10 * time.Second // same address, new settings
	if err := f.c.Update(args); err != nil {
		t.Fatal(err)
	}
	if f.c.srv == srv {
		t.Fatal("http change did not restart the server")
	}
	f.send.URL = "http://" + f.c.Addr() + PushPath
	r, err = f.send.Send([][]byte{[]byte("after restart")})
	ok(t, r, err)
}

func TestBuildFailsWhenPortTaken(t *testing.T) {
	f := newFixture(t, nil)
	var a Arguments
	a.SetToDefault()
	host, port, _ := strings.Cut(f.c.Addr(), ":")
	a.HTTP.ListenAddress = host
	fmt.Sscan(port, &a.HTTP.ListenPort)
	if _, err := New(component.Options{}, a); err == nil || !strings.Contains(err.Error(), "listening on") {
		t.Fatalf("Build on a taken port: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for name, f := range map[string]func(a *Arguments){
		"region without stream": func(a *Arguments) { a.Region = "us-east-1" },
		"stream without region": func(a *Arguments) { a.DeliveryStreamName = "s" },
		"bad label":             func(a *Arguments) { a.Labels = map[string]string{"a-b": "x"} },
		"bad port":              func(a *Arguments) { a.HTTP.ListenPort = 70000 },
		"bad endpoint":          func(a *Arguments) { a.Endpoint = "firehose" },
		"negative conn_limit":   func(a *Arguments) { a.HTTP.ConnLimit = -1 },
		"negative read timeout": func(a *Arguments) { a.HTTP.ServerReadTimeout = -time.Second },
		"negative grace":        func(a *Arguments) { a.GracefulShutdownTimeout = -time.Second },
		"tls without a key":     func(a *Arguments) { a.HTTP.TLS = &TLSArgs{CertFile: "c.pem"} },
		"tls without a cert":    func(a *Arguments) { a.HTTP.TLS = &TLSArgs{KeyFile: "k.pem"} },
		"tls cert twice":        func(a *Arguments) { a.HTTP.TLS = &TLSArgs{CertFile: "c.pem", CertPEM: "x", KeyFile: "k.pem"} },
		"tls and tls_config":    func(a *Arguments) { a.HTTP.TLS = &TLSArgs{CertFile: "c", KeyFile: "k"}; a.HTTP.TLSConfig = a.HTTP.TLS },
		"bad client_auth_type":  func(a *Arguments) { a.HTTP.TLS = &TLSArgs{CertFile: "c", KeyFile: "k", ClientAuthType: "Always"} },
		"client CA without auth": func(a *Arguments) {
			a.HTTP.TLS = &TLSArgs{CertFile: "c", KeyFile: "k", ClientCAFile: "ca.pem"}
		},
		"bad min_version":  func(a *Arguments) { a.HTTP.TLS = &TLSArgs{CertFile: "c", KeyFile: "k", MinVersion: "TLS13"} },
		"bad cipher suite": func(a *Arguments) { a.HTTP.TLS = &TLSArgs{CertFile: "c", KeyFile: "k", CipherSuites: "AES"} },
		"bad grpc port":    func(a *Arguments) { a.GRPC = &GRPCArgs{}; a.GRPC.SetToDefault(); a.GRPC.ListenPort = -1 },
		"grpc messages too large for the budget": func(a *Arguments) {
			a.GRPC = &GRPCArgs{}
			a.GRPC.SetToDefault()
			a.GRPC.ServerMaxRecvMsgSize = a.HTTP.MaxInflightSize
		},
		"budget below one body": func(a *Arguments) { a.HTTP.MaxInflightSize = a.HTTP.MaxRequestBodySize },
		"no decoded size":       func(a *Arguments) { a.HTTP.MaxRequestDecodedSize = 0 },
	} {
		var a Arguments
		a.SetToDefault()
		f(&a)
		if err := a.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRegisteredUnderBothNames(t *testing.T) {
	for _, name := range []string{"loki.source.aws_firehose", "loki.source.awsfirehose"} {
		if _, ok := component.Get(name); !ok {
			t.Errorf("%s is not registered", name)
		}
	}
}

// TestCloudWatchConsecutiveRecordsLabels: consecutive records share their
// labels only when every source label is the same (the handler reuses the
// last record's labels).
func TestCloudWatchConsecutiveRecordsLabels(t *testing.T) {
	rules, err := relabel.Compile([]relabel.Rule{
		{SourceLabels: []string{"__aws_cw_log_stream"}, Separator: ";", Regex: "(.*)", TargetLabel: "stream", Replacement: "$1", Action: "replace"},
		{SourceLabels: []string{"__aws_cw_matched_filters"}, Separator: ";", Regex: "(.*)", TargetLabel: "filters", Replacement: "$1", Action: "replace"},
		{SourceLabels: []string{"__aws_owner"}, Separator: ";", Regex: "(.*)", TargetLabel: "owner", Replacement: "$1", Action: "replace"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(a *Arguments) { a.RelabelRules = rules })
	p := fh.CloudWatchPayload{MessageType: "DATA_MESSAGE", Owner: "1", LogGroup: "g", LogStream: "s1",
		SubscriptionFilters: []string{"a"}, LogEvents: []fh.LogEvent{{ID: "1", Timestamp: 1, Message: "m"}}}
	var recs [][]byte
	want := []model.LabelSet{}
	add := func(change func(*fh.CloudWatchPayload)) {
		change(&p)
		recs = append(recs, p.Record())
		want = append(want, model.LabelSet{"stream": model.LabelValue(p.LogStream), "filters": model.LabelValue(strings.Join(p.SubscriptionFilters, ",")), "owner": model.LabelValue(p.Owner)})
	}
	add(func(*fh.CloudWatchPayload) {})
	add(func(*fh.CloudWatchPayload) {})
	add(func(p *fh.CloudWatchPayload) { p.LogStream = "s2" })
	add(func(p *fh.CloudWatchPayload) { p.SubscriptionFilters = []string{"a", "b"} })
	add(func(p *fh.CloudWatchPayload) { p.SubscriptionFilters = []string{"a", "c"} })
	add(func(p *fh.CloudWatchPayload) { p.Owner = "2" })
	r, err := f.send.Send(recs)
	ok(t, r, err)
	got := f.out.got()
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Labels.Equal(want[i]) {
			t.Errorf("entry %d: labels %v, want %v", i, got[i].Labels, want[i])
		}
	}
}

// TestCloudWatchStreamsShareRelabeling: consecutive payloads of one log
// group from different log streams are relabeled once when no rule can see
// the log stream, and each on its own when one does (a rule reading
// __aws_cw_log_stream, or labelmap over every name): either way every
// entry gets the labels of its own payload.
func TestCloudWatchStreamsShareRelabeling(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	payload := func(stream, msg string) []byte {
		return fh.CloudWatchPayload{MessageType: "DATA_MESSAGE", Owner: "123456789012", LogGroup: "/aws/lambda/checkout",
			LogStream: stream, SubscriptionFilters: []string{"all"}, LogEvents: []fh.LogEvent{{ID: "1", Timestamp: t0.UnixMilli(), Message: msg}}}.Record()
	}
	recs := [][]byte{payload("s1", "one"), payload("s2", "two"), payload("s2", "three"), payload("s3", "four")}
	group := relabel.Rule{SourceLabels: []string{"__aws_cw_log_group"}, Separator: ";", Regex: "(.*)", TargetLabel: "log_group", Replacement: "$1", Action: "replace"}
	for _, tc := range []struct {
		name    string
		rules   []relabel.Rule
		ignores bool
		want    []model.LabelSet
	}{
		{"stream unused", []relabel.Rule{group}, true, []model.LabelSet{
			{"log_group": "/aws/lambda/checkout"}, {"log_group": "/aws/lambda/checkout"}, {"log_group": "/aws/lambda/checkout"}, {"log_group": "/aws/lambda/checkout"}}},
		{"stream to a label", []relabel.Rule{group, {SourceLabels: []string{"__aws_cw_log_stream"}, Separator: ";", Regex: "(.*)", TargetLabel: "stream", Replacement: "$1", Action: "replace"}}, false,
			[]model.LabelSet{
				{"log_group": "/aws/lambda/checkout", "stream": "s1"}, {"log_group": "/aws/lambda/checkout", "stream": "s2"},
				{"log_group": "/aws/lambda/checkout", "stream": "s2"}, {"log_group": "/aws/lambda/checkout", "stream": "s3"}}},
		{"labelmap", []relabel.Rule{{Separator: ";", Regex: "__aws_cw_(log_stream)", Replacement: "$1", Action: "labelmap"}}, false,
			[]model.LabelSet{{"log_stream": "s1"}, {"log_stream": "s2"}, {"log_stream": "s2"}, {"log_stream": "s3"}}},
		{"dropequal on the stream", []relabel.Rule{group, {SourceLabels: []string{"__aws_owner"}, Separator: ";", Regex: "(.*)", TargetLabel: "__aws_cw_log_stream", Replacement: "$1", Action: "dropequal"}}, false,
			[]model.LabelSet{{"log_group": "/aws/lambda/checkout"}, {"log_group": "/aws/lambda/checkout"}, {"log_group": "/aws/lambda/checkout"}, {"log_group": "/aws/lambda/checkout"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := relabel.Compile(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			if got := rulesIgnore(rules, lblLogStream); got != tc.ignores {
				t.Fatalf("rulesIgnore = %v, want %v", got, tc.ignores)
			}
			f := newFixture(t, func(a *Arguments) { a.RelabelRules = rules })
			r, err := f.send.Send(recs)
			ok(t, r, err)
			got := f.out.got()
			if len(got) != len(tc.want) {
				t.Fatalf("%d entries, want %d", len(got), len(tc.want))
			}
			for i, w := range tc.want {
				if !got[i].Labels.Equal(w) {
					t.Errorf("entry %d (%q): labels %v, want %v", i, got[i].Line, got[i].Labels, w)
				}
			}
		})
	}
}
