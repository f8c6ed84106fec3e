package logging

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

func TestHandlerFollowsTheBlock(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	h := NewHandler(&buf, slog.LevelInfo, false)
	log := slog.New(h).With("component_id", "x")

	log.Debug("hidden")
	log.Info("plain", "k", "v")
	if got := buf.String(); strings.Contains(got, "hidden") || !strings.Contains(got, `msg=plain component_id=x k=v`) {
		t.Fatalf("before the block: %q", got)
	}

	reg, _ := component.Get("logging")
	args := Arguments{}
	args.SetToDefault()
	args.Level, args.Format = "debug", "json"
	if err := args.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := reg.Build(component.Options{ID: "logging", LogHandler: h}, args)
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	log.Debug("shown", "k", "v")
	if got := buf.String(); !strings.Contains(got, `"msg":"shown","component_id":"x","k":"v"`) {
		t.Fatalf("with the block: %q", got)
	}

	// Removing the block (its Run ends) restores the flags' settings.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	log.Debug("hidden again")
	log.Info("back")
	if got := buf.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "msg=back") {
		t.Fatalf("after removal: %q", got)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, a := range []Arguments{{Level: "loud", Format: "logfmt"}, {Level: "info", Format: "xml"}} {
		if err := a.Validate(); err == nil {
			t.Errorf("%+v validated", a)
		}
	}
}

// logging is a config block: written without a label, as in Alloy.
func TestLoggingBlockTakesNoLabel(t *testing.T) {
	t.Parallel()
	rt := runtime.New(runtime.Options{DataPath: t.TempDir()})
	diags := rt.Load(map[string][]byte{"main.river": []byte("logging \"x\" {\n  level = \"debug\"\n}\n")})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), `block "logging" must not have a label`) || !strings.Contains(diags.Error(), "main.river:1,1") {
		t.Fatalf("logging with a label: %v", diags)
	}
	rt = runtime.New(runtime.Options{DataPath: t.TempDir()})
	if diags := rt.Load(map[string][]byte{"main.river": []byte("logging {\n  level = \"debug\"\n}\n")}); diags.HasErrors() {
		t.Fatalf("logging without a label: %v", diags)
	}
}

// The block controls the handler of its own runtime's logger only: two
// runtimes (two tests) with their own handlers do not touch each other, as
// they did when the block set a process-wide handler.
func TestBlockControlsItsRuntimesHandler(t *testing.T) {
	t.Parallel()
	start := func(src string) (*lockedWriter, *slog.Logger) {
		out := &lockedWriter{w: &bytes.Buffer{}}
		log := slog.New(NewHandler(out, slog.LevelInfo, false))
		flowtest.Start(t, src, func(_ testing.TB, o *runtime.Options) { o.Logger = log })
		return out, log
	}
	debugOut, debugLog := start("logging {\n  level  = \"debug\"\n  format = \"json\"\n}\n")
	plainOut, plainLog := start("")

	debugLog.Debug("shown in json")
	plainLog.Debug("hidden")
	plainLog.Info("plain text")
	if got := debugOut.String(); !strings.Contains(got, `"msg":"shown in json"`) {
		t.Errorf("the runtime with the block: %q", got)
	}
	if got := plainOut.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "msg=\"plain text\"") {
		t.Errorf("the runtime without the block: %q", got)
	}
}
