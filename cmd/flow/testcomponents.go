//go:build testcomponents

package main

// Built with -tags testcomponents only (the web/ui browser tests do), so the
// test components (testcomponents.counter, .passthrough, .fail…) never reach
// a release binary. See internal/testcomponents.
import _ "github.com/flow-telemetry/flow/internal/testcomponents"
