package all

// File log sources (issue 12): glob matching and tailing, which converted
// Promtail and Grafana Agent configs use.
import (
	_ "github.com/flow-telemetry/flow/components/local/file_match"
	_ "github.com/flow-telemetry/flow/components/loki/source/file"
)
