package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	tc "github.com/flow-telemetry/flow/internal/testcomponents"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/httpapi"
)

// dial opens a raw TCP connection to e's server.
func (e *env) dial() net.Conn {
	e.t.Helper()
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads from c until the server closes it or d passes; it
// returns what was read and whether the server closed it.
func closedWithin(c net.Conn, d time.Duration) (string, bool) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return string(b), false
	}
	return string(b), true
}

func TestSlowlorisIsCutOff(t *testing.T) {
	e := startWith(t, true, nil, &httpapi.ServerOptions{ReadHeaderTimeout: 500 * time.Millisecond})
	c := e.dial()
	began := time.Now()
	if _, err := io.WriteString(c, "GET /-/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
		t.Fatal(err)
	}
	// One header line every 100ms, never ending the header block.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := fmt.Fprintf(c, "X-Slow-%d: x\r\n", i); err != nil {
				return
			}
		}
	}()
	got, closed := closedWithin(c, 20*time.Second)
	if !closed {
		t.Fatalf("a client trickling headers was still connected after %v", time.Since(began))
	}
	if got != "" || time.Since(began) < 400*time.Millisecond {
		t.Fatalf("after %v the server answered %q, want the connection closed after ReadHeaderTimeout without an answer", time.Since(began), got)
	}
}

func TestSlowBodyIsCutOff(t *testing.T) {
	e := startWith(t, true, nil, &httpapi.ServerOptions{ReadTimeout: 500 * time.Millisecond})
	c := e.dial()
	began := time.Now()
	fmt.Fprintf(c, "POST /-/reload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Flow-Reload: 1\r\nContent-Length: 100000\r\n\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := io.WriteString(c, "//"); err != nil {
				return
			}
		}
	}()
	got, closed := closedWithin(c, 20*time.Second)
	if !closed || !strings.Contains(got, "400 Bad Request") || !strings.Contains(got, "timeout") {
		t.Fatalf("a client trickling its body: closed=%v after %v, answer %q, want a 400 naming the timeout and the connection closed", closed, time.Since(began), got)
	}
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	e := startWith(t, true, nil, &httpapi.ServerOptions{IdleTimeout: 300 * time.Millisecond})
	c := e.dial()
	fmt.Fprintf(c, "GET /-/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request on a keep-alive connection: %v %v", resp, err)
	}
	// The response is fully buffered; now nothing more is sent.
	if _, closed := closedWithin(c, 20*time.Second); !closed {
		t.Fatal("an idle keep-alive connection was not closed")
	}
}

func TestHeaderSizeLimit(t *testing.T) {
	e := startWith(t, true, nil, &httpapi.ServerOptions{})
	code, _, _ := e.do("GET", "/-/ready", "", "X-Big", strings.Repeat("x", 80<<10))
	if code != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("80 KiB of headers: %d, want 431", code)
	}
	if code, _, _ := e.do("GET", "/-/ready", "", "X-Big", strings.Repeat("x", 32<<10)); code != 200 {
		t.Fatalf("32 KiB of headers: %d, want 200", code)
	}
}

func TestConnectionCap(t *testing.T) {
	e := startWith(t, true, nil, &httpapi.ServerOptions{MaxConnections: 2})
	// Two connections that send nothing hold both slots.
	a, b := e.dial(), e.dial()
	answered := make(chan error, 1)
	go func() {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get(e.srv.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("a third connection was served while two held the cap of 2 (err %v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	a.Close()
	if err := testwait.Receive(t, 30*time.Second, answered, "the waiting request was not served after a connection closed"); err != nil {
		t.Fatalf("the waiting request, once a slot freed: %v", err)
	}
	b.Close()
}

// openStream opens the event stream and reads its opening comment.
func (e *env) openStream(ctx context.Context) (*bufio.Scanner, *http.Response) {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v0/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || sc.Text() != ": flow events" {
		e.t.Fatalf("the event stream did not open: %q %v", sc.Text(), sc.Err())
	}
	return sc, resp
}

// The write timeout does not cut the event stream, however long it lasts.
func TestEventStreamOutlivesTheWriteTimeout(t *testing.T) {
	e := startWith(t, true, nil, &httpapi.ServerOptions{WriteTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc, _ := e.openStream(ctx)
	time.Sleep(time.Second) // more than three times the write timeout
	c, _ := e.rt.Component("testcomponents.counter.c")
	c.(*tc.Counter).Increment()
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "event: evaluation") {
			return
		}
	}
	t.Fatalf("the event stream ended (%v) before an event a second after it opened, with a write timeout of 300ms", sc.Err())
}

// Close ends open streams at once, so a shutdown does not wait for them.
func TestCloseEndsEventStreams(t *testing.T) {
	e := startWith(t, true, nil, &httpapi.ServerOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc, _ := e.openStream(ctx)
	ended := make(chan struct{})
	go func() {
		for sc.Scan() {
		}
		close(ended)
	}()
	e.api.Close()
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer scancel()
	began := time.Now()
	if err := e.srv.Config.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown with an open event stream: %v after %v", err, time.Since(began))
	}
	testwait.Receive(t, 30*time.Second, ended, "the event stream did not end")
}

func TestStreamRefusedAfterClose(t *testing.T) {
	e := start(t, true)
	e.api.Close()
	if code, body, _ := e.do("GET", "/api/v0/events", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("event stream after Close: %d %q, want 503", code, body)
	}
}
