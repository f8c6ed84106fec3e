package flowtest

import (
	"io"

	"github.com/hashicorp/hcl/v2"

	"github.com/flow-telemetry/flow/syntax"
)

// formatDiagnostics writes diags with their source lines.
func formatDiagnostics(w io.Writer, files map[string][]byte, diags hcl.Diagnostics) {
	syntax.FormatDiagnostics(w, files, diags)
}
