package ui

import (
	"fmt"
	"os"
	"testing"

	"github.com/flow-telemetry/flow/internal/flowproc"
)

// The UI tests drive a real headless Chromium against a real `flow run`:
//
//	go test ./web/ui/
//
// TestMain builds ./cmd/flow with -tags testcomponents and starts Debian's
// /usr/bin/chromium (or $FLOW_CHROMIUM); a missing browser fails the run with
// how to install it. FLOW_BIN=path tests an already built flow instead; it
// must have been built with -tags testcomponents too. FLOW_UPDATE_SCREENSHOT=1
// rewrites docs/img/graph.png, the README's picture of the graph page. On a
// failure the tab's screenshot and flow's log are kept under a temporary
// directory whose path the test prints.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	artifactsDir, err = os.MkdirTemp("", "flow-ui-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating the test's temporary directory:", err)
		return 1
	}
	// Build flow while the browser starts: both take a while. FLOW_BIN runs
	// the tests against an already built flow.
	defer flowproc.Cleanup()
	built := make(chan error, 1)
	go func() {
		_, err := flowproc.Binary(flowTags...)
		built <- err
	}()
	stop, err := startBrowser()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: web/ui browser tests:", err)
		<-built
		return 1
	}
	defer stop()
	if err := <-built; err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: web/ui browser tests need the flow binary:", err)
		return 1
	}
	code := m.Run()
	if code == 0 && !anyFailed.Load() {
		os.RemoveAll(artifactsDir)
	} else {
		fmt.Fprintln(os.Stderr, "test artifacts (failure screenshots) kept in", artifactsDir)
	}
	return code
}
