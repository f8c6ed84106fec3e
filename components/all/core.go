// Package all registers every component built into flow: import it for its
// side effect. Each group of components has its own file here.
package all

// Core components (issue 2).
import (
	_ "github.com/flow-telemetry/flow/components/livedebugging"
	_ "github.com/flow-telemetry/flow/components/local/file"
	_ "github.com/flow-telemetry/flow/components/logging"
)
