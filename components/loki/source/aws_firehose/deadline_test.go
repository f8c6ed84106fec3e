package awsfirehose

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
)

// slowDecodeBody is a request that takes seconds of CPU to decode: a
// direct-PUT line, then n gzipped records that each decompress to just
// over the 16 MiB a record may, so each costs 16 MiB of inflate before it
// is skipped (record-too-large) and its buffer released: memory stays
// bounded while the CPU spent grows with n.
func slowDecodeBody(n int) []byte {
	bomb := gzipped(bytes.Repeat([]byte("A"), 16<<20+1))
	recs := [][]byte{[]byte("must-not-arrive")}
	for range n {
		recs = append(recs, bomb)
	}
	return fh.Body("slow-decode", time.Now(), recs)
}

// TestSlowDecodeAnswered503: a request whose decoding outlasts
// server_write_timeout (here 1 s) is answered 503 with Retry-After before
// the server's write deadline, not cut off without an answer (EOF), and
// nothing of it is forwarded; the next request is served as usual.
func TestSlowDecodeAnswered503(t *testing.T) {
	f := newFixture(t, func(a *Arguments) { a.HTTP.ServerWriteTimeout = time.Second })
	// 1,000 records inflate 16 GiB: far more than any machine does in the
	// 2 s (write timeout + answerMargin) the answer may take.
	body := slowDecodeBody(1000)

	req, _ := http.NewRequest(http.MethodPost, f.send.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(hdrRequestID, "slow-decode")
	client := &http.Client{Timeout: 5 * time.Minute} // the server, not the client, must end the request
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("no answer after %v (the server's write deadline cut the request off): %v", time.Since(start), err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	var r response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("answer %q is not Firehose's JSON: %v", b, err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != retryAfterSeconds {
		t.Fatalf("status %d, Retry-After %q (%s); want 503 with Retry-After %s", resp.StatusCode, resp.Header.Get("Retry-After"), b, retryAfterSeconds)
	}
	if r.RequestID != "slow-decode" || !strings.Contains(r.ErrorMessage, "server_write_timeout") {
		t.Fatalf("answer %+v: want the request's id and a message naming server_write_timeout", r)
	}
	if got := f.out.got(); len(got) != 0 {
		t.Fatalf("%d entries of a request answered 503 were forwarded: %q…", len(got), got[0].Line)
	}
	if n := testutil.ToFloat64(f.c.m.requestErrors.WithLabelValues("decode_timeout")); n != 1 {
		t.Fatalf("request_errors{reason=\"decode_timeout\"} = %v, want 1", n)
	}

	// The component goes on serving; only the new request's line arrives.
	after, err := f.send.Send([][]byte{[]byte("after")})
	ok(t, after, err)
	got := f.out.got()
	if len(got) != 1 || got[0].Line != "after" {
		t.Fatalf("forwarded %d entries (%v), want only \"after\"", len(got), got)
	}
}
