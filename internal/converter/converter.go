// Package converter turns Prometheus, Promtail and Grafana Agent static-mode
// YAML configs into River, for `flow convert` and `flow run --config.format`.
// Each format has its own package; they share diagnostics (diag), the River
// builder (river) and the translations every format needs (common).
package converter

import (
	"fmt"
	"strings"

	"github.com/flow-telemetry/flow/internal/converter/diag"
	"github.com/flow-telemetry/flow/internal/converter/prometheus"
	"github.com/flow-telemetry/flow/internal/converter/promtail"
	"github.com/flow-telemetry/flow/internal/converter/staticmode"
)

// Formats are the source formats, by the names `alloy convert
// --source-format` uses.
var Formats = []string{"prometheus", "promtail", "static"}

// Convert converts src (read from file, which names it in diagnostics) from
// format to River. The output is nil when a Critical diagnostic stopped the
// conversion; otherwise it is the config for everything that could be
// converted, and the diagnostics say what could not.
func Convert(format, file string, src []byte) ([]byte, diag.Diagnostics) {
	switch format {
	case "prometheus":
		return prometheus.Convert(file, src)
	case "promtail":
		return promtail.Convert(file, src)
	case "static":
		return staticmode.Convert(file, src)
	default:
		return nil, diag.Diagnostics{{Severity: diag.Critical,
			Summary: fmt.Sprintf("unknown source format %q", format),
			Hint:    "use one of " + strings.Join(Formats, ", ")}}
	}
}
