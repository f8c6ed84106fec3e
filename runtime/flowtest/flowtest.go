// Package flowtest runs River configs end to end in tests: Start loads a
// config into a real runtime.Runtime with whatever components the test binary
// registered (import them, or components/all, for their side effect) and any
// the test adds with Components, runs it until the test ends, and gives access
// to components, exports and health.
package flowtest

import (
	"bytes"
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
)

// Filename is the name the config is loaded under in diagnostics.
const Filename = "test.river"

// Flow is a running runtime under test.
type Flow struct {
	t        testing.TB
	rt       *runtime.Runtime
	registry *prometheus.Registry
}

// Option changes the runtime.Options Start uses.
type Option func(t testing.TB, o *runtime.Options)

// Components makes the runtime resolve block names in Registry(t, regs...):
// the components the test binary registered plus regs, which may hold
// per-test state in their closures.
func Components(regs ...component.Registration) Option {
	return func(t testing.TB, o *runtime.Options) { o.Registry = Registry(t, regs...) }
}

// Registry returns a registry for one test: every component of
// component.DefaultRegistry() plus regs. A registration the registry refuses
// (an invalid or clashing name) fails the test.
func Registry(t testing.TB, regs ...component.Registration) *component.Registry {
	t.Helper()
	r := component.DefaultRegistry().Clone()
	for _, reg := range regs {
		if err := r.Register(reg); err != nil {
			t.Fatalf("flowtest: %v", err)
		}
	}
	return r
}

// Start loads src and runs it until the test's cleanup. It fails the test
// with the formatted diagnostics if src does not load.
func Start(t testing.TB, src string, opts ...Option) *Flow {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &testWriter{t: t}
	o := runtime.Options{
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: reg,
		DataPath:   t.TempDir(),
	}
	for _, opt := range opts {
		opt(t, &o)
	}
	rt := runtime.New(o)
	f := &Flow{t: t, rt: rt, registry: reg}
	if err := f.load(src); err != nil {
		t.Fatalf("flowtest: config does not load:\n%v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		rt.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("flowtest: components did not stop within 30s")
		}
		// A component abandoned after its stop timeout may still log; the
		// testing package panics on logs after the test ends.
		logs.done.Store(true)
	})
	return f
}

func (f *Flow) load(src string) error {
	files := map[string][]byte{Filename: []byte(src)}
	diags := f.rt.Load(files)
	if diags.HasErrors() {
		return &DiagnosticsError{Diags: diags, Files: files}
	}
	return nil
}

// DiagnosticsError carries a failed load's diagnostics; its message is them
// formatted with source lines.
type DiagnosticsError struct {
	Diags hcl.Diagnostics
	Files map[string][]byte
}

func (e *DiagnosticsError) Error() string {
	var buf bytes.Buffer
	formatDiagnostics(&buf, e.Files, e.Diags)
	return buf.String()
}

// Reload applies src as a new config. A config that does not load returns a
// *DiagnosticsError and leaves the running components untouched.
func (f *Flow) Reload(src string) error { return f.load(src) }

// Runtime returns the runtime under test.
func (f *Flow) Runtime() *runtime.Runtime { return f.rt }

// Registry returns the registry holding the runtime's and components' metrics.
func (f *Flow) Registry() *prometheus.Registry { return f.registry }

// Component returns the component with the given ID, failing the test if
// there is none.
func (f *Flow) Component(id string) component.Component {
	f.t.Helper()
	c, ok := f.rt.Component(id)
	return found(f, "built component", id, c, ok)
}

// found returns v, failing the test when ok is false: there is no such
// (what) component.
func found[T any](f *Flow, what, id string, v T, ok bool) T {
	f.t.Helper()
	if !ok {
		f.t.Fatalf("flowtest: no %s %q", what, id)
	}
	return v
}

// Exports returns the component's last published exports (nil if none yet),
// failing the test if there is no such component.
func (f *Flow) Exports(id string) component.Exports {
	f.t.Helper()
	e, ok := f.rt.Exports(id)
	if !ok {
		_, ok = f.rt.Health(id) // a component that has exported nothing yet
	}
	return found(f, "component", id, e, ok)
}

// Health returns the component's health, failing the test if there is no
// such component.
func (f *Flow) Health(id string) component.Health {
	f.t.Helper()
	h, ok := f.rt.Health(id)
	return found(f, "component", id, h, ok)
}

// WaitHealthy waits until the component is healthy, failing the test with
// its last health if it is not within timeout.
func (f *Flow) WaitHealthy(t testing.TB, id string, timeout time.Duration) {
	t.Helper()
	var last component.Health
	_, ok := testwait.Poll(timeout, func() bool {
		h, ok := f.rt.Health(id)
		last = h
		return ok && h.Health == component.HealthHealthy
	})
	if !ok {
		t.Fatalf("flowtest: %s not healthy after %v: %s: %s", id, timeout, last.Health, last.Message)
	}
}

// testWriter sends logs to the test's log, so they show only on failure or -v.
type testWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}
