package aws

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/syntax/value"
)

// receiver records what reached the handler behind the signature check.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	keys   []string
	paths  []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	a, _ := fakeaws.ParseAuthorization(req.Header.Get("Authorization"))
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.keys = append(r.keys, a.AccessKeyID)
	r.paths = append(r.paths, req.URL.Path)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) lastKey() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys) == 0 {
		return ""
	}
	return r.keys[len(r.keys)-1]
}

// signedServer is a fake AWS-protected endpoint for service in the fake's region.
func signedServer(t *testing.T, f *fakeaws.AWS, service string) (*httptest.Server, *fakeaws.SigV4Handler, *receiver) {
	t.Helper()
	rec := &receiver{}
	h := f.RequireSigV4(rec, service, f.Region())
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, h, rec
}

func blockFor(k *fakeaws.Key) *StaticCredentials {
	return &StaticCredentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: value.Secret(k.SecretAccessKey), Token: value.Secret(k.SessionToken)}
}

func post(t *testing.T, c *http.Client, url string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestRoundTripperSignsWithStaticKeys(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	srv, h, rec := signedServer(t, f, "aps")
	user := f.AddUser("writer")

	for _, cfg := range []SigV4Config{
		{Region: f.Region(), ServiceName: "aps", AccessKeyID: user.AccessKeyID, SecretAccessKey: value.Secret(user.SecretAccessKey)},
		// Alloy's spelling.
		{Region: f.Region(), ServiceName: "aps", AccessKey: user.AccessKeyID, SecretKey: value.Secret(user.SecretAccessKey)},
	} {
		rt, err := NewRoundTripper(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		body := bytes.Repeat([]byte("sample "), 1000)
		resp := post(t, &http.Client{Transport: rt}, srv.URL+"/api/v1/write", body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d, rejection %q", resp.StatusCode, h.Stats().LastRejection)
		}
		if got := rec.bodies[len(rec.bodies)-1]; !bytes.Equal(got, body) {
			t.Fatalf("body changed in transit: %d bytes", len(got))
		}
	}
	if s := h.Stats(); s.Accepted != 2 || s.Rejected != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRoundTripperTemporaryCredentialsAndUpdate(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	srv, h, rec := signedServer(t, f, "execute-api")
	first := f.Issue("arn:aws:sts::123456789012:assumed-role/writer/s1", time.Hour)

	rt, err := NewRoundTripper(SigV4Config{Region: f.Region(), ServiceName: "execute-api", Credentials: blockFor(first)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: rt}
	resp := post(t, client, srv.URL+"/push", []byte("one"))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || rec.lastKey() != first.AccessKeyID {
		t.Fatalf("status %d key %s: %s", resp.StatusCode, rec.lastKey(), h.Stats().LastRejection)
	}

	// New credentials take effect on the next request, same client.
	second := f.Issue("arn:aws:sts::123456789012:assumed-role/writer/s2", time.Hour)
	if err := rt.Update(SigV4Config{Region: f.Region(), ServiceName: "execute-api", Credentials: blockFor(second)}); err != nil {
		t.Fatal(err)
	}
	resp = post(t, client, srv.URL+"/push", []byte("two"))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || rec.lastKey() != second.AccessKeyID {
		t.Fatalf("after Update: status %d key %s", resp.StatusCode, rec.lastKey())
	}

	// A credentials block wins over static keys given alongside.
	user := f.AddUser("fallback")
	if err := rt.Update(SigV4Config{Region: f.Region(), ServiceName: "execute-api", Credentials: blockFor(second),
		AccessKeyID: user.AccessKeyID, SecretAccessKey: value.Secret(user.SecretAccessKey)}); err != nil {
		t.Fatal(err)
	}
	resp = post(t, client, srv.URL+"/push", []byte("block wins"))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || rec.lastKey() != second.AccessKeyID {
		t.Fatalf("block and keys: status %d key %s", resp.StatusCode, rec.lastKey())
	}

	// A failed Update keeps the old configuration.
	if err := rt.Update(SigV4Config{Region: f.Region()}); err == nil || !strings.Contains(err.Error(), "service_name is required") {
		t.Fatalf("Update without service_name: %v", err)
	}
	resp = post(t, client, srv.URL+"/push", []byte("three"))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || rec.lastKey() != second.AccessKeyID {
		t.Fatalf("after failed Update: status %d key %s", resp.StatusCode, rec.lastKey())
	}
}

// TestRoundTripperConcurrentUpdate sends from many goroutines while the
// credentials are swapped underneath: every request must be accepted.
func TestRoundTripperConcurrentUpdate(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	srv, h, _ := signedServer(t, f, "aps")
	k := f.Issue("arn:aws:sts::123456789012:assumed-role/w/0", time.Hour)
	rt, err := NewRoundTripper(SigV4Config{Region: f.Region(), ServiceName: "aps", Credentials: blockFor(k)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: rt}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/w", strings.NewReader(strings.Repeat("x", i%300)))
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					errs <- errors.New(resp.Status)
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		k := f.Issue("arn:aws:sts::123456789012:assumed-role/w/x", time.Hour)
		if err := rt.Update(SigV4Config{Region: f.Region(), ServiceName: "aps", Credentials: blockFor(k)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("request failed: %v (last rejection %q)", err, h.Stats().LastRejection)
	}
	if s := h.Stats(); s.Rejected != 0 || s.Accepted < 20 {
		t.Fatalf("stats %+v", s)
	}
}

// TestRoundTripperPathsQueriesAndBodies covers what the wire form of a
// request can do to a signature: unnormalized and escaped paths, query
// strings in any order and encoding, S3's rules and its content-hash
// header, bodies without a length or GetBody.
func TestRoundTripperPathsQueriesAndBodies(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	user := f.AddUser("u")
	for _, service := range []string{"aps", "s3"} {
		srv, h, _ := signedServer(t, f, service)
		rt, err := NewRoundTripper(SigV4Config{Region: f.Region(), ServiceName: service,
			AccessKeyID: user.AccessKeyID, SecretAccessKey: value.Secret(user.SecretAccessKey)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var sawSHA string
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sawSHA = r.Header.Get("X-Amz-Content-Sha256")
			if r.GetBody != nil {
				b, _ := r.GetBody()
				again, _ := io.ReadAll(b)
				if int64(len(again)) != r.ContentLength {
					t.Errorf("GetBody gave %d bytes, ContentLength %d", len(again), r.ContentLength)
				}
			}
			return http.DefaultTransport.RoundTrip(r)
		})}
		rt.next = client.Transport
		c := &http.Client{Transport: rt}
		for _, target := range []string{
			"/api/v1/write",
			"/a/./b/../c//d/",
			"/with%20space/and%2Fslash/ሴ",
			"/bucket/key+with=odd&chars!$'()*,;:@",
			"/?b=2&a=1&a=0&c=x%20y&d=&e",
			"/q?x=a+b&y=%7Etilde&z=%E1%88%B4",
		} {
			for _, body := range []io.Reader{nil, strings.NewReader("hello"), io.MultiReader(strings.NewReader("no "), strings.NewReader("length"))} {
				req, err := http.NewRequest(http.MethodPut, srv.URL+target, body)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := body.(*strings.Reader); !ok && body != nil {
					req.ContentLength = -1
					req.GetBody = nil
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					t.Fatalf("%s %s: %d %s", service, target, resp.StatusCode, h.Stats().LastRejection)
				}
				if (service == "s3") != (sawSHA != "") {
					t.Fatalf("%s: X-Amz-Content-Sha256 = %q", service, sawSHA)
				}
			}
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRoundTripperRejections checks that each usual failure comes back as an
// explained error naming the AWS code and cause, and that no secret leaks
// into errors or logs even though the fake's SignatureDoesNotMatch message,
// like S3's, carries the canonical request with the session token in it.
func TestRoundTripperRejections(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	srv, _, _ := signedServer(t, f, "aps")
	good := f.Issue("arn:aws:sts::123456789012:assumed-role/w/ok", time.Hour)
	expired := f.Issue("arn:aws:sts::123456789012:assumed-role/w/old", 50*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	unknown := &fakeaws.Key{AccessKeyID: "AKIAUNKNOWNUNKNOWN00", SecretAccessKey: "unknown-secret-unknown-secret-unknown-00"}
	wrongSecret := &fakeaws.Key{AccessKeyID: good.AccessKeyID, SecretAccessKey: "not-the-secret-not-the-secret-not-the-00", SessionToken: good.SessionToken}

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cases := []struct {
		name    string
		cfg     SigV4Config
		opts    []Option
		code    string
		hintHas string
	}{
		{"wrong region", SigV4Config{Region: "eu-west-3", ServiceName: "aps", Credentials: blockFor(good)}, nil, "SignatureDoesNotMatch", "region or service_name"},
		{"wrong service", SigV4Config{Region: f.Region(), ServiceName: "execute-api", Credentials: blockFor(good)}, nil, "SignatureDoesNotMatch", "region or service_name"},
		{"wrong secret", SigV4Config{Region: f.Region(), ServiceName: "aps", Credentials: blockFor(wrongSecret)}, nil, "SignatureDoesNotMatch", "secret key"},
		{"expired", SigV4Config{Region: f.Region(), ServiceName: "aps", Credentials: blockFor(expired)}, nil, "ExpiredToken", "clock"},
		{"unknown key", SigV4Config{Region: f.Region(), ServiceName: "aps", Credentials: blockFor(unknown)}, nil, "InvalidClientTokenId", "rotated"},
		{"clock skew", SigV4Config{Region: f.Region(), ServiceName: "aps", Credentials: blockFor(good)},
			[]Option{WithClock(func() time.Time { return time.Now().Add(-20 * time.Minute) })}, "RequestTimeTooSkewed", "NTP"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt, err := NewRoundTripper(c.cfg, nil, append(c.opts, WithLogger(logger))...)
			if err != nil {
				t.Fatal(err)
			}
			resp := post(t, &http.Client{Transport: rt}, srv.URL+"/api/v1/write", []byte("payload"))
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d", resp.StatusCode)
			}
			// The caller still gets the whole body after the inspection.
			if !strings.Contains(string(body), c.code) {
				t.Fatalf("body %q lacks %s", body, c.code)
			}
			for _, e := range []error{rt.LastError(), ExplainResponse(resp, body)} {
				var ae *AuthError
				if !errors.As(e, &ae) || ae.Code != c.code || !strings.Contains(e.Error(), c.hintHas) {
					t.Fatalf("explained error %v, want code %s with hint mentioning %q", e, c.code, c.hintHas)
				}
			}
		})
	}
	for _, secret := range []string{good.SecretAccessKey, good.SessionToken, expired.SecretAccessKey, expired.SessionToken, wrongSecret.SecretAccessKey, unknown.SecretAccessKey} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("a secret leaked into the logs:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), "SignatureDoesNotMatch") || !strings.Contains(logs.String(), "RequestTimeTooSkewed") {
		t.Fatalf("rejections were not logged:\n%s", logs.String())
	}
}

func TestRoundTripperConfigErrors(t *testing.T) {
	awstest.Isolate(t)
	cases := []struct {
		cfg  SigV4Config
		want string
	}{
		{SigV4Config{Region: "us-east-1"}, "service_name is required"},
		{SigV4Config{ServiceName: "aps", AccessKeyID: "AKIA"}, "must be given together"},
		{SigV4Config{ServiceName: "aps", AccessKeyID: "a", AccessKey: "b", SecretAccessKey: "s"}, "not both"},
		{SigV4Config{ServiceName: "aps", AccessKeyID: "a", SecretAccessKey: "s", SecretKey: "t"}, "aws_sigv4: give secret_access_key or Alloy's secret_key, not both"},
		{SigV4Config{ServiceName: "aps", ExternalID: "x"}, "external_id is only used with role_arn"},
		{SigV4Config{ServiceName: "aps", RoleARN: "role/x"}, "not an ARN"},
		{SigV4Config{ServiceName: "aps", Profile: "missing"}, `profile "missing"`},
	}
	for _, c := range cases {
		_, err := NewRoundTripper(c.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.cfg, err, c.want)
		}
	}

	// An empty credentials block (its aws.credentials component has none
	// yet) fails each request clearly instead of falling back to the chain.
	rt, err := NewRoundTripper(SigV4Config{Region: "us-east-1", ServiceName: "aps", Credentials: &StaticCredentials{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
	_, err = rt.RoundTrip(req)
	if !errors.Is(err, ErrCredentialsNotReady) {
		t.Fatalf("empty block: %v", err)
	}
}

func TestRoundTripperRegion(t *testing.T) {
	for host, want := range map[string]string{
		"aps-workspaces.us-west-2.amazonaws.com":                  "us-west-2",
		"abc123.execute-api.eu-central-1.amazonaws.com:443":       "eu-central-1",
		"vpce-1.aps-workspaces.ap-southeast-2.vpce.amazonaws.com": "ap-southeast-2",
		"logs.cn-north-1.amazonaws.com.cn":                        "cn-north-1",
		"s3.amazonaws.com":                                        "",
		"mimir.example.com":                                       "",
		"us-east-1.example.com":                                   "",
	} {
		if got := RegionFromHost(host); got != want {
			t.Errorf("RegionFromHost(%q) = %q, want %q", host, got, want)
		}
	}

	// No region anywhere: the fake's IMDS tells it.
	f, _ := awstest.Start(t, fakeaws.Options{Region: "eu-west-1"})
	t.Setenv("AWS_REGION", "")
	srv, h, _ := signedServer(t, f, "aps")
	user := f.AddUser("u")
	rt, err := NewRoundTripper(SigV4Config{ServiceName: "aps", AccessKeyID: user.AccessKeyID, SecretAccessKey: value.Secret(user.SecretAccessKey)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := post(t, &http.Client{Transport: rt}, srv.URL+"/w", []byte("x"))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d: %s", resp.StatusCode, h.Stats().LastRejection)
	}

	// And when IMDS cannot tell either, the error says to set region.
	f.SetIMDSRegion("")
	rt, err = NewRoundTripper(SigV4Config{ServiceName: "aps", AccessKeyID: user.AccessKeyID, SecretAccessKey: value.Secret(user.SecretAccessKey)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/w", nil)
	if _, err := rt.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "set region") {
		t.Fatalf("no region: %v", err)
	}
}

// TestRoundTripperDefaultChainWithRole signs with credentials from the
// default chain (environment keys) turned into a role session by
// AssumeRole with an external ID, all against the fake STS.
func TestRoundTripperDefaultChainWithRole(t *testing.T) {
	f, _, role := awstest.StartWithRole(t, fakeaws.Options{}, "base", "writer", "ext-123")
	srv, h, rec := signedServer(t, f, "aps")

	rt, err := NewRoundTripper(SigV4Config{Region: f.Region(), ServiceName: "aps", RoleARN: role, ExternalID: "ext-123"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		resp := post(t, &http.Client{Transport: rt}, srv.URL+"/w", []byte("x"))
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status %d: %s", resp.StatusCode, h.Stats().LastRejection)
		}
	}
	if !strings.HasPrefix(rec.lastKey(), "ASIA") {
		t.Fatalf("signed with %s, want the assumed role's temporary key", rec.lastKey())
	}
	if n := f.Stats().ByAction["sts:AssumeRole"]; n != 1 {
		t.Fatalf("AssumeRole called %d times, want 1 (cached)", n)
	}

	// A wrong external ID is refused by STS; the error says why.
	rt, err = NewRoundTripper(SigV4Config{Region: f.Region(), ServiceName: "aps", RoleARN: role, ExternalID: "wrong"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/w", nil)
	_, err = rt.RoundTrip(req)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Code != "AccessDenied" || !strings.Contains(err.Error(), "trust policy") {
		t.Fatalf("wrong external_id: %v", err)
	}
}
