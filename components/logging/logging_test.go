package logging

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
)

func TestHandlerFollowsTheBlock(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(&buf, slog.LevelInfo, false)
	SetProcessHandler(h)
	t.Cleanup(func() { SetProcessHandler(nil) })
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
	c, err := reg.Build(component.Options{ID: "logging"}, args)
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
	for _, a := range []Arguments{{Level: "loud", Format: "logfmt"}, {Level: "info", Format: "xml"}} {
		if err := a.Validate(); err == nil {
			t.Errorf("%+v validated", a)
		}
	}
}

// logging is a config block: written without a label, as in Alloy.
func TestLoggingBlockTakesNoLabel(t *testing.T) {
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
