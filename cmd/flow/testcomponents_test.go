package main

import (
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/runtime/component"
)

// TestTestComponentsOnlyWithTag checks that the test components are in the
// binary exactly when it is built with -tags testcomponents: a release build
// must not offer components that exist to exercise the runtime.
func TestTestComponentsOnlyWithTag(t *testing.T) {
	var got []string
	for _, name := range component.Names() {
		if strings.HasPrefix(name, "testcomponents.") {
			got = append(got, name)
		}
	}
	if withTestComponents {
		if _, ok := component.Get("testcomponents.counter"); !ok {
			t.Errorf("built with -tags testcomponents but testcomponents.counter is not registered (have %v)", got)
		}
		return
	}
	if len(got) > 0 {
		t.Errorf("a build without -tags testcomponents registers %v", got)
	}
}
