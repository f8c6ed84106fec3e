package awsfirehose

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// Regression tests for issue 9's attacks on the Firehose endpoint: each
// runs against the real server with the default limits, checks that the
// heap stays bounded and that a legitimate request, sent as Firehose sends
// it (retrying a 503), is accepted meanwhile. The bounds are generous: the
// attacks took gigabytes before the fix.

const (
	// legitWithin bounds the wait for a legitimate request's 200, retries
	// included, on a loaded machine.
	legitWithin = 20 * time.Second
	MiB         = 1 << 20
)

// checkHeap fails when the heap grew more than limit during an attack.
func checkHeap(t *testing.T, h *heapWatch, limit uint64) {
	t.Helper()
	g := h.growth()
	t.Logf("peak heap growth %.1f MiB (limit %d MiB)", float64(g)/MiB, limit/MiB)
	if g > limit {
		t.Errorf("the heap grew by %.1f MiB under the attack, more than %d MiB", float64(g)/MiB, limit/MiB)
	}
}

// legitMeanwhile delivers a legitimate request while an attack runs.
func legitMeanwhile(t *testing.T, url string) {
	t.Helper()
	first, ok := deliverLikeFirehose(t, url, legitWithin)
	t.Logf("legitimate request: first answer after %v, accepted after %v", first, ok)
}

func TestAttackLyingContentLength(t *testing.T) {
	f := newFixture(t, nil)
	a := newAttacker(f.send.URL, f.c.Addr())
	h := watchHeap()
	// 30 requests declaring 64 MiB, the body limit, that never send a body:
	// before the fix each made a 64 MiB buffer at once.
	a.headerOnly(t, 30, 64*MiB)
	defer a.close()
	if _, ok := testwait.Poll(30*time.Second, func() bool { return f.c.budget.held.Load() >= 30*initialBuffer }); !ok {
		t.Fatalf("the 30 requests did not all start reading their bodies: %d bytes reserved", f.c.budget.held.Load())
	}
	if u := f.c.budget.held.Load(); u > 30*initialBuffer {
		t.Errorf("30 requests without bodies hold %d bytes of the budget, want %d at most", u, 30*initialBuffer)
	}
	legitMeanwhile(t, f.send.URL)
	checkHeap(t, h, 32*MiB)
}

func TestAttackManyGzipRecords(t *testing.T) {
	testwait.Long(t, "an attack sustained until it is answered")
	// The request that is answered 413 decompresses until it needs more
	// than max_inflight_size (128 MiB) while five others hammer the server:
	// with -race on a loaded machine that took over 35 s, past the default
	// server_write_timeout (30 s), and its answer could no longer be
	// written (the client saw EOF). The answer is what this test checks;
	// the time bound has tests of its own (TestAttackSlowBody).
	f := newFixture(t, func(a *Arguments) { a.HTTP.ServerWriteTimeout = 4 * time.Minute })
	a := newAttacker(f.send.URL, f.c.Addr())
	a.timeout = 5 * time.Minute
	body := manyGzipRecordsBody()
	tiny := tinyEventsBody()
	h := watchHeap()
	a.loop("many-records", 4, body, "")
	a.loop("tiny-events", 2, tiny, "")
	testwait.Eventually(t, 5*time.Minute, func() bool {
		return a.answered("many-records") >= 8 && a.answered("tiny-events") >= 2
	}, "the attacks were not answered")
	legitMeanwhile(t, f.send.URL)
	a.close()
	t.Logf("answers: %s", a.summary())
	checkHeap(t, h, 384*MiB)
	for shape, want := range map[string]int{"many-records": http.StatusRequestEntityTooLarge, "tiny-events": http.StatusRequestEntityTooLarge} {
		for status := range a.statuses(shape) {
			if status != want && status != http.StatusServiceUnavailable {
				t.Errorf("%s answered %d, want %d (or 503 while the budget is in use)", shape, status, want)
			}
		}
		if a.statuses(shape)[want] == 0 {
			t.Errorf("%s was never answered %d: %s", shape, want, a.summary())
		}
	}
}

func TestAttackConcurrentGzipBombs(t *testing.T) {
	testwait.Long(t, "an attack sustained until it is answered")
	f := newFixture(t, nil)
	a := newAttacker(f.send.URL, f.c.Addr())
	bomb := gzipBombBody()
	h := watchHeap()
	a.loop("bomb", 8, bomb, "gzip")
	for a.answered("bomb") < 16 {
		time.Sleep(50 * time.Millisecond)
	}
	legitMeanwhile(t, f.send.URL)
	a.close()
	t.Logf("answers: %s", a.summary())
	checkHeap(t, h, 384*MiB)
	st := a.statuses("bomb")
	for status := range st {
		if status != http.StatusRequestEntityTooLarge && status != http.StatusServiceUnavailable && status != -1 {
			t.Errorf("a gzip bomb was answered %d, want 413 or 503", status)
		}
	}
	if st[http.StatusRequestEntityTooLarge] == 0 {
		t.Errorf("no gzip bomb was answered 413: %s", a.summary())
	}
}

func TestAttackSlowBody(t *testing.T) {
	testwait.Long(t, "an attack sustained until it is answered")
	f := newFixture(t, func(a *Arguments) { a.HTTP.ServerTimeout = 2 * time.Second })
	a := newAttacker(f.send.URL, f.c.Addr())
	h := watchHeap()
	a.slowBody(20, 100*time.Millisecond)
	start := time.Now()
	for a.answered("slow-body") < 20 {
		if time.Since(start) > time.Minute {
			t.Fatalf("slow bodies were not cut off: %s", a.summary())
		}
		time.Sleep(50 * time.Millisecond)
	}
	legitMeanwhile(t, f.send.URL)
	a.close()
	t.Logf("answers: %s", a.summary())
	checkHeap(t, h, 32*MiB)
	for status := range a.statuses("slow-body") {
		if status != http.StatusRequestTimeout && status != -1 {
			t.Errorf("a slow body was answered %d, want 408", status)
		}
	}
}

// A request that cannot get memory is answered 503 with Retry-After at
// once, not queued; the requests holding the budget are not disturbed.
func TestBudgetExhaustedIs503WithRetryAfter(t *testing.T) {
	f := newFixture(t, func(a *Arguments) {
		a.HTTP.MaxRequestBodySize = 1 * MiB
		a.HTTP.MaxInflightSize = 2 * MiB
	})
	f.out.Block()
	recs := make([][]byte, 500)
	for i := range recs {
		recs[i] = []byte(strings.Repeat("x", 1000))
	}
	type answer struct {
		r   fh.Response
		err error
	}
	// Two requests, one after the other, wait in forward_to holding their
	// decoded records (about 0.6 MiB each).
	held := make(chan answer, 2)
	for i := range 2 {
		go func() { r, err := f.send.Send(recs); held <- answer{r, err} }()
		testwait.Eventually(t, 30*time.Second, func() bool { return f.out.Calls() >= int64(i+1) }, "request %d did not reach forward_to", i)
	}
	if u := f.c.budget.held.Load(); u < 2*int64(len(recs))*1000 {
		t.Fatalf("the two requests hold only %d bytes", u)
	}
	body := fh.Body("third", time.Now(), recs)
	start := time.Now()
	status, retryAfter, err := post(http.DefaultClient, f.send.URL, body, "")
	if err != nil || status != http.StatusServiceUnavailable || retryAfter != retryAfterSeconds {
		t.Fatalf("third request: %d Retry-After %q %v, want 503 with Retry-After %s", status, retryAfter, err, retryAfterSeconds)
	}
	t.Logf("503 after %v", time.Since(start))
	f.out.Unblock()
	for range 2 {
		a := <-held
		ok(t, a.r, a.err)
	}
	if u := f.c.budget.held.Load(); u != 0 {
		t.Fatalf("%d bytes still reserved after every request was answered", u)
	}
	r, err := f.send.Send(recs)
	ok(t, r, err)
}

// Requests that no budget could hold, or whose records decode to too much,
// are answered 413 (Firehose cannot succeed by retrying them).
func TestRequestsOverTheLimitsAre413(t *testing.T) {
	f := newFixture(t, func(a *Arguments) {
		a.HTTP.MaxRequestBodySize = 2 * MiB
		a.HTTP.MaxRequestDecodedSize = 1 * MiB
		a.HTTP.MaxInflightSize = 4 * MiB
	})
	// 150,000 empty records in 1.7 MB: small, but 150,000 entries.
	empty := make([][]byte, 150_000)
	for i := range empty {
		empty[i] = []byte{}
	}
	big := [][]byte{[]byte(strings.Repeat("a", 700<<10)), []byte(strings.Repeat("b", 700<<10))}
	for name, tc := range map[string]struct {
		recs [][]byte
		msg  string
	}{
		"too many records":  {empty, "max_inflight_size"},
		"decodes too large": {big, "max_request_decoded_size"},
	} {
		r, err := f.send.Send(tc.recs)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(r.ErrorMessage, tc.msg) {
			t.Errorf("%s: %d %q, want 413 naming %s", name, r.Status, r.ErrorMessage, tc.msg)
		}
	}
	// A body the fast parser declines (here for an extra key) is decoded
	// by encoding/json, reserved at 4 times its size (with the body and the
	// arena, 5.75 times): 512 KiB fits in 4 MiB, 1 MiB does not.
	for size, want := range map[int]int{512 << 10: http.StatusOK, 1 << 20: http.StatusRequestEntityTooLarge} {
		body := []byte(`{"extra":1,"records":[{"data":"` + strings.Repeat("QUFB", size/4) + `"}]}`)
		r, err := f.send.Post("slow-path", body)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != want {
			t.Errorf("slow path, %d KiB body: %d %q, want %d", len(body)>>10, r.Status, r.ErrorMessage, want)
		}
	}
	if u := f.c.budget.held.Load(); u != 0 {
		t.Fatalf("%d bytes still reserved after every request was answered", u)
	}
}

// Past conn_limit, an idle keep-alive connection makes room; when none is
// idle, the new connection is answered 503 with Retry-After.
func TestConnLimit(t *testing.T) {
	f := newFixture(t, func(a *Arguments) { a.HTTP.ConnLimit = 3 })
	addr := f.c.Addr()
	// Three connections in the middle of their headers: busy, not idle.
	var busy []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\n", PushPath)
		busy = append(busy, c)
	}
	waitConns := func(n int) {
		t.Helper()
		if _, ok := testwait.Poll(30*time.Second, func() bool { return f.c.lis.count() == n }); !ok {
			t.Fatalf("%d connections open, want %d", f.c.lis.count(), n)
		}
	}
	waitConns(3)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\n%s: over-the-limit\r\nContent-Length: 2\r\n\r\n{}", PushPath, hdrRequestID)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a connection over the limit got no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	var body response
	_ = json.Unmarshal(b, &body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		body.RequestID != "over-the-limit" || !strings.Contains(body.ErrorMessage, "conn_limit") {
		t.Fatalf("over the limit: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}

	// Finish one request with keep-alive: its connection turns idle, and
	// the next new connection takes its place.
	fmt.Fprintf(busy[0], "%s: finishing\r\nContent-Length: %d\r\n\r\n", hdrRequestID, len(`{"records":[]}`))
	io.WriteString(busy[0], `{"records":[]}`)
	resp, err = http.ReadResponse(bufio.NewReader(busy[0]), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("finishing a request: %v %v", resp, err)
	}
	resp.Body.Close()
	testwait.Eventually(t, 30*time.Second, func() bool {
		f.c.lis.mu.Lock()
		defer f.c.lis.mu.Unlock()
		idle := 0
		for lc := range f.c.lis.open {
			if !lc.idleSince.IsZero() {
				idle++
			}
		}
		return idle == 1
	}, "the finished connection never turned idle")
	r, err := f.send.Send([][]byte{[]byte("after eviction")})
	ok(t, r, err)
	if n := testutilCounter(f, "loki_source_awsfirehose_connections_rejected_total"); n != 1 {
		t.Errorf("connections_rejected_total = %v, want 1", n)
	}
}

// Headers beyond 64 KiB (Firehose's common attributes fit in 64 KB) are
// refused with 431 before the handler runs.
func TestHeaderLimit(t *testing.T) {
	f := newFixture(t, nil)
	req, _ := http.NewRequest(http.MethodPost, f.send.URL, strings.NewReader("{}"))
	req.Header.Set(hdrCommonAttributes, `{"commonAttributes":{"lbl_a":"`+strings.Repeat("v", maxHeaderBytes+8<<10)+`"}}`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("%d KiB of headers: %d, want 431", maxHeaderBytes>>10, resp.StatusCode)
	}
	r, err := f.send.Send([][]byte{[]byte("x")})
	ok(t, r, err)
}

// testutilCounter reads a counter from the fixture's registry.
func testutilCounter(f *fixture, name string) float64 {
	mfs, _ := f.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}

// The gzip readers pooled across requests must not keep the last request's
// records alive: one that read a CloudWatch record would keep the whole
// request's arena (up to 48 MiB) outside the budget.
func TestPooledGzipReaderDoesNotPinTheRequest(t *testing.T) {
	cw := fh.CloudWatchPayload{MessageType: "DATA_MESSAGE", Owner: "1", LogGroup: "g", LogStream: "s",
		LogEvents: []fh.LogEvent{{ID: "1", Timestamp: 1, Message: "m"}}}
	body := fh.Body("pin", time.Now(), [][]byte{[]byte(strings.Repeat("direct line ", 1000)), cw.Record()})
	l := defaultLimits
	freed := make(chan struct{})
	func() {
		acct := newAccount(newMemBudget(1<<30), &l)
		dec, rerr := decodeBody(body, &l, acct)
		if rerr != nil || len(dec.records) != 2 || dec.records[1].cw == nil {
			t.Fatalf("decoding: %+v %v", dec, rerr)
		}
		// The first line starts the arena, the allocation every record used.
		runtime.AddCleanup(unsafe.StringData(dec.records[0].line), func(ch chan struct{}) { close(ch) }, freed)
	}()
	runtime.GC() // one collection: the pool still holds what was put in it
	testwait.Receive(t, 30*time.Second, freed, "the request's arena outlived the request: a pooled gzip reader still refers to it")
}
