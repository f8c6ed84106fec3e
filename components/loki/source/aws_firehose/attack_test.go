package awsfirehose

// The attacks of issue 9 on the Firehose endpoint, as a client on the
// internet can send them, for the in-process tests (hardening_test.go) and
// the test of the built flow binary (e2e_test.go).

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
)

// gzipped compresses b.
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// manyGzipRecordsBody is "80 small gzip records in one 1.7 MB request":
// each record a CloudWatch Logs payload whose one message makes it just
// under the 16 MiB a record may decompress to.
var manyGzipRecordsBody = sync.OnceValue(func() []byte {
	head := `{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1,"message":"`
	tail := `"}]}`
	payload := head + strings.Repeat("A", 16<<20-len(head)-len(tail)-1) + tail
	rec := gzipped([]byte(payload))
	recs := make([][]byte, 80)
	for i := range recs {
		recs[i] = rec
	}
	return fh.Body("many-gzip-records", time.Now(), recs)
})

// tinyEventsBody is one gzipped CloudWatch record of nearly 16 MiB of
// empty events, `{},{},…`: 3 bytes of JSON each, which would each become a
// 24-byte event and a 104-byte entry.
var tinyEventsBody = sync.OnceValue(func() []byte {
	head := `{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[`
	n := (16<<20 - len(head) - 10) / 3
	var b strings.Builder
	b.WriteString(head)
	b.WriteString(strings.Repeat("{},", n))
	b.WriteString("{}]}")
	return fh.Body("tiny-events", time.Now(), [][]byte{gzipped([]byte(b.String()))})
})

// gzipBombBody is a "1 MB gzip bomb": a Content-Encoding: gzip body that
// starts as a Firehose request and decompresses to 1 GiB. It is a chain of
// gzip members (which a gzip reader reads as one stream), so it is cheap to
// build.
var gzipBombBody = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	b.Write(gzipped([]byte(`{"requestId":"bomb","timestamp":1,"records":[{"data":"`)))
	member := gzipped(bytes.Repeat([]byte("A"), 1<<20))
	for range 1024 {
		b.Write(member)
	}
	return b.Bytes()
})

// legitBody is a small, real-shaped request: 10 CloudWatch records of 20
// Lambda-like events.
var legitBody = sync.OnceValues(func() ([]byte, int) { return cloudWatchBody(10, 20) })

// post sends body to url with optional Content-Encoding and returns the
// status and Retry-After (0 on a transport error).
func post(client *http.Client, url string, body []byte, encoding string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(hdrRequestID, fh.NewRequestID())
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

// attacker runs attacks against url until stopped and tallies the answers.
type attacker struct {
	url    string
	addr   string // host:port, for raw connections
	wg     sync.WaitGroup
	stop   chan struct{}
	mu     sync.Mutex
	counts map[string]int   // "shape status" → answers
	errs   map[string]error // shape → its first error
	conns  []net.Conn
	// timeout bounds each request of loop; it must exceed the server's
	// write timeout, so that the server, not the client, ends a request.
	timeout time.Duration
}

func newAttacker(url, addr string) *attacker {
	return &attacker{url: url, addr: addr, stop: make(chan struct{}), counts: map[string]int{}, errs: map[string]error{}, timeout: time.Minute}
}

func (a *attacker) count(shape string, status int, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.counts[shape+" error"]++
		if a.errs[shape] == nil {
			a.errs[shape] = err
		}
		return
	}
	a.counts[shape+" "+strconv.Itoa(status)]++
}

// loop runs n goroutines sending body until stopped.
func (a *attacker) loop(shape string, n int, body []byte, encoding string) {
	for range n {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: a.timeout}
			for {
				select {
				case <-a.stop:
					return
				default:
				}
				sent := time.Now()
				status, _, err := post(client, a.url, body, encoding)
				if err != nil {
					err = fmt.Errorf("after %v: %w", time.Since(sent).Round(time.Millisecond), err)
				}
				a.count(shape, status, err)
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
}

// headerOnly opens n connections that each send the headers of a request
// declaring a body of declared bytes, then send nothing more.
func (a *attacker) headerOnly(t testing.TB, n int, declared int64) {
	for range n {
		c, err := net.Dial("tcp", a.addr)
		if err != nil {
			t.Fatalf("header-only attack: %v", err)
		}
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s: lying\r\nContent-Length: %d\r\n\r\n", PushPath, a.addr, hdrRequestID, declared)
		a.mu.Lock()
		a.conns = append(a.conns, c)
		a.mu.Unlock()
	}
}

// slowBody runs n connections that send a request's headers and then its
// body a few bytes at a time, over and over, and tallies how each ends.
func (a *attacker) slowBody(n int, every time.Duration) {
	for range n {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			for {
				select {
				case <-a.stop:
					return
				default:
				}
				status, err := a.slowOnce(every)
				a.count("slow-body", status, err)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
}

// slowOnce sends one request's body at 16 bytes per every and returns the
// status the server answers with (the server answers before the body ends).
func (a *attacker) slowOnce(every time.Duration) (int, error) {
	c, err := net.Dial("tcp", a.addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s: slow\r\nContent-Length: %d\r\n\r\n{\"records\":[{\"data\":\"", PushPath, a.addr, hdrRequestID, 32<<20)
	done := make(chan struct{})
	go func() {
		chunk := bytes.Repeat([]byte("QUFB"), 4)
		for {
			select {
			case <-done:
				return
			case <-a.stop:
				c.Close()
				return
			case <-time.After(every):
			}
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	defer close(done)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// close stops every attack and waits for them.
func (a *attacker) close() {
	close(a.stop)
	a.mu.Lock()
	for _, c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	a.wg.Wait()
}

func (a *attacker) summary() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.errs) > 0 {
		return fmt.Sprintf("%v (first errors: %v)", a.counts, a.errs)
	}
	return fmt.Sprint(a.counts)
}

// answered reports how many answers (of any status) shape got.
func (a *attacker) answered(shape string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for k, v := range a.counts {
		if strings.HasPrefix(k, shape+" ") && !strings.HasSuffix(k, " error") {
			n += v
		}
	}
	return n
}

// statuses returns the statuses shape was answered with.
func (a *attacker) statuses(shape string) map[int]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[int]int{}
	for k, v := range a.counts {
		if s, ok := strings.CutPrefix(k, shape+" "); ok {
			code, err := strconv.Atoi(s)
			if err != nil {
				code = -1
			}
			out[code] += v
		}
	}
	return out
}

// deliverLikeFirehose sends one legitimate request as Firehose does:
// answers other than 200 are retried after their Retry-After (at most a
// second), until 200 or within passes. It returns how long the first
// answer took and how long until 200.
func deliverLikeFirehose(t testing.TB, url string, within time.Duration) (first, ok time.Duration) {
	t.Helper()
	body, _ := legitBody()
	client := &http.Client{Timeout: within}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		sent := time.Now()
		status, retryAfter, err := post(client, url, body, "")
		if first == 0 {
			first = time.Since(sent)
		}
		if err == nil && status == http.StatusOK {
			return first, time.Since(start)
		}
		if err == nil && status != http.StatusServiceUnavailable && status != http.StatusTooManyRequests {
			t.Fatalf("a legitimate request was answered %d", status)
		}
		if time.Since(start) > within {
			t.Fatalf("a legitimate request was not accepted within %v (%d attempts, last: %d %v)", within, attempt, status, err)
		}
		wait := 100 * time.Millisecond
		if s, err := strconv.Atoi(retryAfter); err == nil && s > 0 {
			wait = min(time.Duration(s)*time.Second, time.Second)
		}
		time.Sleep(wait)
	}
}

// heapWatch samples the Go heap (bytes in spans holding objects, live or
// not yet swept: HeapInuse) every few milliseconds and keeps the peak.
type heapWatch struct {
	base uint64
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

var heapMetrics = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}

func heapInuse() uint64 {
	s := make([]rtmetrics.Sample, len(heapMetrics))
	for i, n := range heapMetrics {
		s[i].Name = n
	}
	rtmetrics.Read(s)
	var sum uint64
	for _, x := range s {
		sum += x.Value.Uint64()
	}
	return sum
}

// watchHeap starts sampling after a garbage collection sets the baseline.
func watchHeap() *heapWatch {
	runtime.GC()
	h := &heapWatch{base: heapInuse(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := heapInuse(); v > h.peak.Load() {
				h.peak.Store(v)
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

// growth stops sampling and returns the peak above the baseline.
func (h *heapWatch) growth() uint64 {
	close(h.stop)
	<-h.done
	if p := h.peak.Load(); p > h.base {
		return p - h.base
	}
	return 0
}
