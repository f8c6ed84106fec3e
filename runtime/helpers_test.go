package runtime_test

import (
	"testing"

	tc "github.com/flow-telemetry/flow/internal/testcomponents"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

// testComponents returns a fresh set of test components, for one test, and
// their registrations with storagetest.wal's.
func testComponents() (*tc.Env, []component.Registration) {
	env := tc.New()
	return env, append(env.Registrations(), walRegistration())
}

// withTestComponents makes flowtest.Start run with a fresh set of test
// components.
func withTestComponents() flowtest.Option {
	_, regs := testComponents()
	return flowtest.Components(regs...)
}

// newRuntime is runtime.New with a fresh set of test components, unless
// opts has a registry.
func newRuntime(t testing.TB, opts runtime.Options) *runtime.Runtime {
	t.Helper()
	if opts.Registry == nil {
		_, regs := testComponents()
		opts.Registry = flowtest.Registry(t, regs...)
	}
	return runtime.New(opts)
}
