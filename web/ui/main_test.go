package ui

import (
	"fmt"
	"os"
	"testing"
)

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
	stop, err := startBrowser()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: web/ui browser tests:", err)
		return 1
	}
	code := m.Run()
	stop()
	if code == 0 && !anyFailed.Load() {
		os.RemoveAll(artifactsDir)
	} else {
		fmt.Fprintln(os.Stderr, "test artifacts (failure screenshots) kept in", artifactsDir)
	}
	return code
}
