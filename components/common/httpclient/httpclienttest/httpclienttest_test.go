package httpclienttest

import (
	"slices"
	"testing"

	"github.com/flow-telemetry/flow/components/common/httpclient"
)

// TestSetAuthSetsEachSetting: each SetAuth entry sets exactly the setting it
// is named after, and every setting has one, so RefusesSecondAuth covers
// them all.
func TestSetAuthSetsEachSetting(t *testing.T) {
	if len(SetAuth) != len(httpclient.AuthSettings) {
		t.Errorf("SetAuth has %d settings, httpclient.AuthSettings %d", len(SetAuth), len(httpclient.AuthSettings))
	}
	for _, name := range httpclient.AuthSettings {
		set, ok := SetAuth[name]
		if !ok {
			t.Errorf("SetAuth has no %s", name)
			continue
		}
		var c httpclient.Config
		set(&c)
		if got := c.AuthNames(); !slices.Equal(got, []string{name}) {
			t.Errorf("SetAuth[%q] sets %v", name, got)
		}
	}
}
