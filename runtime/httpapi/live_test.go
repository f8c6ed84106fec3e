package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/flow-telemetry/flow/components/livedebugging"
	_ "github.com/flow-telemetry/flow/components/loki/echo"
	_ "github.com/flow-telemetry/flow/components/loki/source/aws_firehose"
	"github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/runtime/livedebug"
)

// firehoseConfig is a Firehose endpoint on port feeding loki.echo, with
// live debugging as enabled says.
func firehoseConfig(port int, enabled bool) string {
	return fmt.Sprintf(`livedebugging {
  enabled = %v
}

loki.source.aws_firehose "fh" {
  http {
    listen_address = "127.0.0.1"
    listen_port    = %d
  }
  forward_to = [loki.echo.out.receiver]
}

loki.echo "out" {}
`, enabled, port)
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// openLive opens the Live stream of id and returns its events as they come.
func openLive(t *testing.T, e *env, id string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v0/components/"+id+"/live", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET live: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 1024)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case line == "" && ev.name != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	return out
}

// next returns the next event not named in skip, failing after timeout.
func next(t *testing.T, ch <-chan sseEvent, timeout time.Duration) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the live stream ended")
		}
		return ev
	case <-time.After(timeout):
		t.Fatalf("no live event within %s", timeout)
	}
	return sseEvent{}
}

// Records posted to a real Firehose endpoint appear on the Live stream of
// the source and of the echo it feeds, exactly and in order.
func TestLiveStreamFirehoseEntries(t *testing.T) {
	t.Parallel()
	e := start(t, false)
	port := flowproc.FreePort(t)
	if d := e.rt.Load(map[string][]byte{"main.river": []byte(firehoseConfig(port, true))}); d.HasErrors() {
		t.Fatal(d)
	}
	src := openLive(t, e, "loki.source.aws_firehose.fh")
	echo := openLive(t, e, "loki.echo.out")
	for _, ch := range []<-chan sseEvent{src, echo} {
		if ev := next(t, ch, 10*time.Second); ev.name != "hello" || !strings.Contains(ev.data, fmt.Sprintf(`"rate":%d`, livedebug.Rate)) {
			t.Fatalf("first event = %+v, want hello with the rate", ev)
		}
	}
	sender := &firehosetest.Sender{URL: fmt.Sprintf("http://127.0.0.1:%d/awsfirehose/api/v1/push", port)}
	var want []string
	var records [][]byte
	for i := range 20 {
		line := fmt.Sprintf("line %02d of the live test", i)
		want = append(want, line)
		records = append(records, []byte(line))
	}
	sender.SendUntilAccepted(t, 30*time.Second, records)
	for name, ch := range map[string]<-chan sseEvent{"source": src, "echo": echo} {
		for i, line := range want {
			ev := next(t, ch, 10*time.Second)
			var le livedebug.Event
			if err := json.Unmarshal([]byte(ev.data), &le); ev.name != "live" || err != nil {
				t.Fatalf("%s event %d = %+v (%v), want a live event", name, i, ev, err)
			}
			if le.Kind != "entry" || !strings.HasSuffix(le.Text, " "+line) {
				t.Fatalf("%s event %d = %+v, want the entry %q", name, i, le, line)
			}
		}
	}

	// Switching live debugging off closes the streams with the reason.
	if d := e.rt.Load(map[string][]byte{"main.river": []byte(firehoseConfig(port, false))}); d.HasErrors() {
		t.Fatal(d)
	}
	ev := next(t, echo, 10*time.Second)
	if ev.name != "closed" || !strings.Contains(ev.data, "disabled") {
		t.Fatalf("after disabling: %+v, want closed with the reason", ev)
	}
	code, body, _ := e.do("GET", "/api/v0/components/loki.echo.out/live", "")
	if code != 403 || !strings.Contains(body, "livedebugging { enabled = true }") {
		t.Fatalf("live stream while disabled: %d %s, want 403 saying how to enable it", code, body)
	}
	var d struct {
		LiveDebuggingEnabled *bool `json:"live_debugging_enabled"`
	}
	e.getJSON("/api/v0/components/loki.echo.out", &d)
	if d.LiveDebuggingEnabled == nil || *d.LiveDebuggingEnabled {
		t.Fatalf("component detail live_debugging_enabled = %v, want false", d.LiveDebuggingEnabled)
	}
}

// Without the block live debugging is off, as in Alloy; an unknown
// component is 404.
func TestLiveStreamOffByDefault(t *testing.T) {
	t.Parallel()
	e := start(t, true)
	code, body, _ := e.do("GET", "/api/v0/components/testcomponents.sink.sink/live", "")
	if code != 403 || !strings.Contains(body, "disabled") {
		t.Fatalf("without the livedebugging block: %d %s, want 403", code, body)
	}
	code, _, _ = e.do("GET", "/api/v0/components/nope.nope/live", "")
	if code != 404 {
		t.Fatalf("unknown component: %d, want 404", code)
	}
}

// The Live stream is behind the same guard as the rest of the API (no other
// site's page, no DNS rebinding), and at most livedebug.MaxViewers watch at
// once.
func TestLiveStreamGuardAndViewerLimit(t *testing.T) {
	e := start(t, false)
	port := flowproc.FreePort(t)
	if d := e.rt.Load(map[string][]byte{"main.river": []byte(firehoseConfig(port, true))}); d.HasErrors() {
		t.Fatal(d)
	}
	const path = "/api/v0/components/loki.echo.out/live"
	if code, _, _ := e.do("GET", path, "", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Dest", "empty"); code != 403 {
		t.Fatalf("a cross-site fetch of the live stream: %d, want 403", code)
	}
	if code, _, _ := e.do("GET", path, "", "Host", "attacker.example:12345"); code != 403 {
		t.Fatalf("the live stream under a rebinding Host: %d, want 403", code)
	}
	for range livedebug.MaxViewers {
		openLive(t, e, "loki.echo.out")
	}
	code, body, h := e.do("GET", path, "")
	if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, "too many") {
		t.Fatalf("viewer %d: %d %q (Retry-After %q), want 503 with Retry-After", livedebug.MaxViewers+1, code, body, h.Get("Retry-After"))
	}
}
