package fakeloki

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/internal/testwait"
)

func post(t *testing.T, url, tenant string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}

func encode(t *testing.T, req *push.PushRequest) []byte {
	raw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, raw)
}

func TestRecordsEntriesFailsAndGoesDown(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := time.Unix(1700000000, 5).UTC()
	body := encode(t, &push.PushRequest{Streams: []push.Stream{{
		Labels:  `{job="fh", path="a\"b"}`,
		Entries: []push.Entry{{Timestamp: ts, Line: "one"}, {Timestamp: ts.Add(1), Line: "two"}},
	}}})
	if code := post(t, s.URL(), "team-a", body); code != http.StatusNoContent {
		t.Fatalf("push answered %d", code)
	}
	got := s.Entries()
	if len(got) != 2 || got[0].Line != "one" || got[1].Line != "two" || got[0].Tenant != "team-a" ||
		!got[0].Labels.Equal(model.LabelSet{"job": "fh", "path": `a"b`}) || !got[0].Timestamp.Equal(ts) {
		t.Fatalf("recorded %+v", got)
	}

	if code := post(t, s.URL(), "", []byte("not snappy")); code != http.StatusBadRequest {
		t.Fatalf("garbage answered %d, want 400", code)
	}
	s.Fail(http.StatusTooManyRequests, 1, "slow down")
	if code := post(t, s.URL(), "", body); code != http.StatusTooManyRequests {
		t.Fatalf("failing push answered %d, want 429", code)
	}
	if code := post(t, s.URL(), "", body); code != http.StatusNoContent {
		t.Fatalf("push after the one failure answered %d", code)
	}

	url := s.URL()
	s.Down()
	if code := post(t, url, "", body); code != -1 {
		t.Fatalf("push during outage answered %d, want a connection error", code)
	}
	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	if s.URL() != url {
		t.Fatalf("URL changed across the outage: %s -> %s", url, s.URL())
	}
	if code := post(t, url, "", body); code != http.StatusNoContent {
		t.Fatalf("push after outage answered %d", code)
	}
	if err := s.WaitForEntries(6, time.Second); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Rejected != 2 {
		t.Fatalf("rejected = %d, want 2", st.Rejected)
	}
}

func TestParseLabels(t *testing.T) {
	for _, bad := range []string{``, `{}`, `job="x"`, `{job}`, `{job=x}`, `{1a="x"}`, `{a="x" b="y"}`, `{a="x", a="y"}`} {
		if _, err := ParseLabels(bad); err == nil {
			t.Errorf("ParseLabels(%q) accepted", bad)
		}
	}
	ls, err := ParseLabels(model.LabelSet{"a": "x\ny", "b": "é"}.String())
	if err != nil || ls["a"] != "x\ny" || ls["b"] != "é" {
		t.Fatalf("round trip: %v %v", ls, err)
	}
}

func TestCountsOpenConnectionsAndSendsFailureHeaders(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.FailWith(http.StatusTooManyRequests, 1, "slow down", http.Header{"Retry-After": {"7"}})
	tr := &http.Transport{}
	c := &http.Client{Transport: tr}
	req, _ := http.NewRequest(http.MethodPost, s.URL(), bytes.NewReader(nil))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// Drained, the connection goes back to the client's idle pool; closed
	// unread, the client closes it (and the count below raced with that).
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("got %d with Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := s.OpenConns(); n != 1 {
		t.Fatalf("%d open connections with one keep-alive client, want 1", n)
	}
	tr.CloseIdleConnections()
	if _, ok := testwait.Poll(20*time.Second, func() bool { return s.OpenConns() == 0 }); !ok {
		t.Fatalf("%d connections still open after the client closed its idle ones", s.OpenConns())
	}
	if s.ConnsAccepted() != 1 {
		t.Fatalf("accepted %d connections, want 1", s.ConnsAccepted())
	}
}
