package logging

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
)

func startBlock(t *testing.T, args Arguments) (*Component, *slog.Logger, *lockedWriter, context.CancelFunc, chan struct{}) {
	t.Helper()
	out := &lockedWriter{w: &bytes.Buffer{}}
	h := NewHandler(out, slog.LevelInfo, false)
	if err := args.Validate(); err != nil {
		t.Fatal(err)
	}
	reg, _ := component.Get("logging")
	c, err := reg.Build(component.Options{ID: "logging", LogHandler: h}, args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	return c.(*Component), slog.New(h).With("component_id", "x"), out, cancel, done
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// write_to receives every line as formatted, with {component="flow"}, while
// stderr still gets it; removing the block stops the copy and flushes.
func TestWriteToTeesLogLines(t *testing.T) {
	t.Parallel()
	sink := &fakeloki.Receiver{}
	args := Arguments{}
	args.SetToDefault()
	args.Format = "json"
	args.WriteTo = []loki.LogsReceiver{sink}
	c, log, _, cancel, done := startBlock(t, args)

	log.Info("hello", "k", "v")
	testwait.Eventually(t, 20*time.Second, func() bool {
		for _, l := range sink.Lines() {
			if strings.Contains(l, `"msg":"hello","component_id":"x","k":"v"`) && !strings.HasSuffix(l, "\n") {
				return true
			}
		}
		return false
	}, "the line in write_to")
	if got := sink.Entries()[0].Labels["component"]; got != "flow" {
		t.Errorf("label component = %q, want flow", got)
	}
	if h := c.CurrentHealth(); h.Health != component.HealthHealthy || !strings.Contains(h.Message, "sent") {
		t.Errorf("health = %+v", h)
	}

	// The last lines before the block goes away are delivered too.
	log.Info("last words")
	cancel()
	<-done
	found := false
	for _, l := range sink.Lines() {
		found = found || strings.Contains(l, "last words")
	}
	if !found {
		t.Errorf("the line logged before stopping was not flushed: %q", sink.Lines())
	}
	n := len(sink.Lines())
	log.Info("after removal")
	time.Sleep(2 * forwardFlushWait)
	if len(sink.Lines()) != n {
		t.Errorf("lines still forwarded after the block was removed")
	}
}

// A receiver that never answers cannot slow logging: lines beyond the queue
// are dropped and counted; a failing receiver makes the block unhealthy.
func TestWriteToNeverBlocksLogging(t *testing.T) {
	t.Parallel()
	stuck := &fakeloki.Receiver{}
	stuck.Block()
	args := Arguments{}
	args.SetToDefault()
	args.WriteTo = []loki.LogsReceiver{stuck}
	c, log, buf, cancel, done := startBlock(t, args)
	defer func() { stuck.Unblock(); cancel(); <-done }()

	start := time.Now()
	for i := 0; i < 3*forwardQueue; i++ {
		log.Info("flood", "i", i)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("logging %d lines took %s with a stuck receiver", 3*forwardQueue, d)
	}
	if !strings.Contains(buf.String(), "i=12287") {
		t.Errorf("stderr lost lines")
	}
	testwait.Eventually(t, 20*time.Second, func() bool { return c.fwd.dropped.Load() >= forwardQueue }, "dropped lines counted")
}

func TestWriteToFailureIsUnhealthy(t *testing.T) {
	t.Parallel()
	sink := &fakeloki.Receiver{}
	sink.Fail(errors.New("loki is down"))
	args := Arguments{}
	args.SetToDefault()
	args.WriteTo = []loki.LogsReceiver{sink}
	c, log, _, cancel, done := startBlock(t, args)
	defer func() { cancel(); <-done }()
	log.Info("x")
	testwait.Eventually(t, 20*time.Second, func() bool {
		h := c.CurrentHealth()
		return h.Health == component.HealthUnhealthy && strings.Contains(h.Message, "loki is down")
	}, "unhealthy")
	sink.Fail(nil)
	log.Info("y")
	testwait.Eventually(t, 20*time.Second, func() bool { return c.CurrentHealth().Health == component.HealthHealthy }, "healthy again")
}

func TestDestination(t *testing.T) {
	t.Parallel()
	for dest, want := range map[string]string{"stderr": "", "windows_event_log": "does not run on Windows", "syslog": "must be"} {
		a := Arguments{}
		a.SetToDefault()
		a.Destination = dest
		err := a.Validate()
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("destination %q: %v, want %q", dest, err, want)
		}
	}
}
