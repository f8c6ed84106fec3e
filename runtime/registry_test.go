package runtime_test

import (
	"context"
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

// A runtime resolves block names in its own registry: test components
// registered for one runtime are unknown to another, and suggestions come
// from the runtime's registry.
func TestRuntimeUsesItsRegistry(t *testing.T) {
	t.Parallel()
	src := map[string][]byte{"main.river": []byte("testcomponents.counter \"c\" {}\ntestcomponents.countr \"d\" {}\n")}

	plain := runtime.New(runtime.Options{DataPath: t.TempDir()})
	diags := plain.Validate(src)
	if !strings.Contains(diags.Error(), `unknown component "testcomponents.counter"`) {
		t.Errorf("the default registry knows the test components: %v", diags)
	}
	if strings.Contains(diags.Error(), "did you mean") {
		t.Errorf("a suggestion from outside the runtime's registry: %v", diags)
	}

	own := newRuntime(t, runtime.Options{DataPath: t.TempDir()})
	diags = own.Validate(src)
	if len(diags) != 1 || diags[0].Summary != `unknown component "testcomponents.countr"; did you mean "testcomponents.counter"?` {
		t.Errorf("with its own registry: %v", diags)
	}
}

// Two runtimes with their own test components keep their state apart:
// stopping one records its components in its own stop order only.
func TestTestComponentStateIsPerRuntime(t *testing.T) {
	t.Parallel()
	envA, regsA := testComponents()
	envB, regsB := testComponents()
	a := runtime.New(runtime.Options{DataPath: t.TempDir(), Registry: flowtest.Registry(t, regsA...)})
	b := runtime.New(runtime.Options{DataPath: t.TempDir(), Registry: flowtest.Registry(t, regsB...)})
	for _, rt := range []*runtime.Runtime{a, b} {
		if d := rt.Load(map[string][]byte{"main.river": []byte("testcomponents.passthrough \"p\" { input = 1 }\n")}); d.HasErrors() {
			t.Fatal(d)
		}
	}
	runLoaded(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	waitHealthy(t, a, "testcomponents.passthrough.p")
	waitHealthy(t, b, "testcomponents.passthrough.p")
	cancel()
	<-done
	if got := envA.StopOrder.IDs(); len(got) != 1 || got[0] != "testcomponents.passthrough.p" {
		t.Errorf("stop order of the stopped runtime = %v", got)
	}
	if got := envB.StopOrder.IDs(); len(got) != 0 {
		t.Errorf("stopping one runtime recorded %v in the other's stop order", got)
	}
}
