package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/flow-telemetry/flow/runtime/livedebug"
)

// liveStream serves GET /api/v0/components/{id}/live: Server-Sent Events of
// what the component publishes to live debugging, within one viewer's
// bounds (runtime/livedebug: Rate events a second, a Buffer of events, each
// at most MaxText bytes; MaxViewers at once). The events are
//
//	event: hello    data: {"rate": 200, "buffer": 256}           (first)
//	event: live     data: {"time": …, "kind": "entry", "text": …}
//	event: dropped  data: {"dropped": K}                          (once a second at most)
//	event: closed   data: {"reason": …}                           (last: disabled, component removed)
//
// With live debugging disabled it answers 403 with how to enable it; an
// unknown component gets 404 and too many viewers 503 with Retry-After.
func (a *API) liveStream(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := a.Runtime.Health(id); !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("component %q does not exist", id)})
		return
	}
	select {
	case <-a.closing:
		http.Error(w, "flow is shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	v, err := a.Runtime.LiveDebugging().Watch(id)
	switch {
	case errors.Is(err, livedebug.ErrDisabled):
		writeJSON(w, http.StatusForbidden, map[string]any{"error": err.Error(), "live_debugging_enabled": false})
		return
	case errors.Is(err, livedebug.ErrTooManyViewers):
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error()})
		return
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
		return
	}
	defer v.Close()

	arm, flush := startSSE(w)
	writeSSE(w, "hello", map[string]any{"component": id, "rate": livedebug.Rate, "buffer": livedebug.Buffer, "max_text": livedebug.MaxText})
	if !flush() {
		return
	}
	tick := time.NewTicker(livedebug.TickInterval)
	defer tick.Stop()
	var dropped int64
	lastReport, lastWrite := time.Now(), time.Now()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-a.closing:
			return
		case <-v.Done():
			arm()
			writeSSE(w, "closed", map[string]string{"reason": v.Reason()})
			flush()
			return
		case <-tick.C:
			dropped += v.Tick()
			now := time.Now()
			wrote := false
			if dropped > 0 && now.Sub(lastReport) >= time.Second {
				arm()
				writeSSE(w, "dropped", map[string]int64{"dropped": dropped})
				dropped, lastReport, wrote = 0, now, true
			} else if now.Sub(lastWrite) >= 15*time.Second {
				arm()
				fmt.Fprint(w, ": keepalive\n\n")
				wrote = true
			}
			if wrote {
				lastWrite = now
				if !flush() {
					return
				}
			}
		case e := <-v.Events():
			arm()
			writeSSE(w, "live", e)
			// Send what else is queued in the same write; the buffer is
			// bounded, so this ends.
			for more := true; more; {
				select {
				case e := <-v.Events():
					writeSSE(w, "live", e)
				default:
					more = false
				}
			}
			lastWrite = time.Now()
			if !flush() {
				return
			}
		}
	}
}

// startSSE answers 200 with a server-sent events stream's headers. The
// caller calls arm before each batch of writes and flush after it. Each
// batch gets its own deadline, StreamWriteTimeout, set before its first
// byte is written (a batch larger than the response buffer writes to the
// connection before the flush); while the stream waits for events the
// deadline of the last batch may pass harmlessly. A server without
// deadlines (httptest) returns an error from SetWriteDeadline, ignored.
func startSSE(w http.ResponseWriter) (arm func(), flush func() bool) {
	rc := http.NewResponseController(w)
	arm = func() { _ = rc.SetWriteDeadline(time.Now().Add(StreamWriteTimeout)) }
	flush = func() bool { return rc.Flush() == nil }
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	arm()
	w.WriteHeader(http.StatusOK)
	return arm, flush
}

func writeSSE(w http.ResponseWriter, event string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		return
	}
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
}
