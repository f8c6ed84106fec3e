package flowtest

import (
	"io"

	"github.com/hashicorp/hcl/v2"
)

// formatDiagnostics writes diags with their source lines.
func formatDiagnostics(w io.Writer, files map[string][]byte, diags hcl.Diagnostics) {
	hf := make(map[string]*hcl.File, len(files))
	for name, src := range files {
		hf[name] = &hcl.File{Bytes: src}
	}
	_ = hcl.NewDiagnosticTextWriter(w, hf, 0, false).WriteDiagnostics(diags)
}
