package logging

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
)

// Bounds of write_to. Logging must never wait for a log pipeline (which
// may itself log, or be down), so lines are queued and sent from a
// goroutine; a full queue drops the line and counts it.
const (
	forwardQueue     = 4096             // lines waiting to be sent
	forwardBatch     = 256              // lines per Send
	forwardMaxLine   = 64 << 10         // longer lines are truncated
	forwardTimeout   = 10 * time.Second // one Send to the receivers
	forwardFlushWait = 250 * time.Millisecond
)

// forwardLabels are the labels of flow's own log lines in write_to, as
// Alloy's {component="alloy"}, naming flow instead.
var forwardLabels = model.LabelSet{"component": "flow"}

// tee writes every formatted log line to w and, while write_to is set, queues
// it for the receivers.
type tee struct {
	w   io.Writer
	fwd atomic.Pointer[forwarder]
}

func (t *tee) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if f := t.fwd.Load(); f != nil {
		f.enqueue(p)
	}
	return n, err
}

// forwarder sends queued lines to the write_to receivers.
type forwarder struct {
	queue chan loki.Entry

	mu        sync.Mutex
	receivers []loki.LogsReceiver

	sent, dropped atomic.Uint64
	lastErr       atomic.Pointer[string]
	lastErrAt     atomic.Int64 // unix nanoseconds; 0 when the last send succeeded
}

func newForwarder(receivers []loki.LogsReceiver) *forwarder {
	return &forwarder{queue: make(chan loki.Entry, forwardQueue), receivers: receivers}
}

func (f *forwarder) setReceivers(r []loki.LogsReceiver) {
	f.mu.Lock()
	f.receivers = r
	f.mu.Unlock()
}

func (f *forwarder) enqueue(p []byte) {
	line := bytes.TrimRight(p, "\n")
	if len(line) > forwardMaxLine {
		line = line[:forwardMaxLine]
	}
	e := loki.Entry{Labels: forwardLabels, Entry: push.Entry{Timestamp: time.Now(), Line: string(line)}}
	select {
	case f.queue <- e:
	default:
		f.dropped.Add(1)
	}
}

// run sends batches until ctx ends, then sends what is queued (bounded by
// forwardTimeout) so the lines about stopping reach Loki too.
func (f *forwarder) run(ctx context.Context) {
	batch := make([]loki.Entry, 0, forwardBatch)
	timer := time.NewTimer(forwardFlushWait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case e := <-f.queue:
					batch = append(batch, e)
					if len(batch) == forwardBatch {
						f.send(batch)
						batch = batch[:0]
					}
				default:
					if len(batch) > 0 {
						f.send(batch)
					}
					return
				}
			}
		case e := <-f.queue:
			batch = append(batch, e)
			if len(batch) < forwardBatch {
				continue
			}
		case <-timer.C:
			timer.Reset(forwardFlushWait)
		}
		if len(batch) > 0 {
			f.send(batch)
			batch = batch[:0]
		}
	}
}

func (f *forwarder) send(batch []loki.Entry) {
	f.mu.Lock()
	receivers := f.receivers
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), forwardTimeout)
	defer cancel()
	for _, r := range receivers {
		if r == nil {
			continue
		}
		if err := r.Send(ctx, batch); err != nil {
			// Not logged: the log line would come back here. Health says it.
			msg := err.Error()
			f.lastErr.Store(&msg)
			f.lastErrAt.Store(time.Now().UnixNano())
			f.dropped.Add(uint64(len(batch)))
			return
		}
	}
	f.lastErrAt.Store(0)
	f.sent.Add(uint64(len(batch)))
}

// health describes the forwarding: unhealthy while the last send failed.
func (f *forwarder) health() (ok bool, msg string) {
	sent, dropped := f.sent.Load(), f.dropped.Load()
	if at := f.lastErrAt.Load(); at != 0 {
		return false, fmt.Sprintf("write_to: sending flow's log lines failed at %s: %s (%d lines dropped since start, %d sent; lines are not retried)",
			time.Unix(0, at).UTC().Format(time.RFC3339), *f.lastErr.Load(), dropped, sent)
	}
	return true, fmt.Sprintf("write_to: %d log lines sent, %d dropped (queue full or a receiver failing)", sent, dropped)
}
