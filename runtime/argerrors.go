package runtime

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/flow-telemetry/flow/runtime/component"
)

// argumentError marks, in Diagnostic.Extra, a warning of Load that says a
// component's arguments failed to evaluate or validate against the live
// exports of dependencies that are all built and not unhealthy: the config
// itself is wrong for this machine. A dependency that is unhealthy (a
// local.file whose file is missing exports "") or whose Build failed for a
// reason that may go away (a port in use, retried) makes the failure a
// consequence, which clears when the dependency recovers.
type argumentError struct{}

// IsArgumentError reports whether d, a warning returned by Load, is a
// component whose arguments are invalid with its dependencies' real values
// (see argumentError). `flow run` refuses to start on one; after a reload
// the component keeps running with its last good arguments, unhealthy.
func IsArgumentError(d *hcl.Diagnostic) bool {
	_, ok := d.Extra.(argumentError)
	return ok
}

// markArgumentErrors marks ws, the warnings of n's failed evaluation, as
// argument errors when every dependency of n is built and not unhealthy,
// so its exports are real and not the placeholders of a component still
// failing.
func markArgumentErrors(n *gnode, ws hcl.Diagnostics) {
	for _, d := range n.deps {
		d.st.mu.Lock()
		built := d.st.comp != nil
		d.st.mu.Unlock()
		if !built || d.st.health().Health == component.HealthUnhealthy {
			return
		}
	}
	for _, w := range ws {
		w.Extra = argumentError{}
	}
}
