//go:build testcomponents

package main

import (
	"github.com/flow-telemetry/flow/internal/testcomponents"
	"github.com/flow-telemetry/flow/runtime/component"
)

// Built with -tags testcomponents only (the web/ui browser tests do), so the
// test components (testcomponents.counter, .passthrough, .fail…) never reach
// a release binary. See internal/testcomponents.
func init() {
	for _, r := range testcomponents.New().Registrations() {
		component.Register(r)
	}
}
