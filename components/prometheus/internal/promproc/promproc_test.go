package promproc

import (
	"testing"

	"github.com/flow-telemetry/flow/internal/childproc"
)

// TestDiesWithTestBinary: prometheus and node_exporter started here are
// killed with the test binary, even when that gets SIGKILL and no cleanup
// runs (an aborted `go test`).
func TestDiesWithTestBinary(t *testing.T) {
	for name, start := range map[string]func(testing.TB) *Process{
		"prometheus":    func(t testing.TB) *Process { return StartPrometheus(t) },
		"node_exporter": StartNodeExporter,
	} {
		t.Run(name, func(t *testing.T) {
			childproc.DiesWithParent(t, nil, func(t *testing.T) int { return start(t).Cmd.Process.Pid })
		})
	}
}
