package scrape

import (
	"strings"
	"testing"

	"github.com/alecthomas/units"
	"github.com/hashicorp/hcl/v2"

	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/decode"
)

// body_size_limit takes what Alloy's takes: a size string in binary units
// ("10MB" is 10 MiB, as units.ParseBase2Bytes reads it) or a number of bytes.
func TestBodySizeLimitTakesAlloysForms(t *testing.T) {
	for src, want := range map[string]units.Base2Bytes{
		`body_size_limit = "10MB"`:   10 << 20,
		`body_size_limit = "10MiB"`:  10 << 20,
		`body_size_limit = 1048576`:  1 << 20,
		`body_size_limit = "0"`:      0,
		`body_size_limit = "1.5GiB"`: 3 << 29,
	} {
		var a Arguments
		a.SetToDefault()
		file, diags := syntax.ParseFile([]byte("targets = []\nforward_to = []\n"+src), "t.river")
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		if diags := decode.Body(file.Body, &hcl.EvalContext{}, &a); diags.HasErrors() {
			t.Errorf("%s: %s", src, diags.Error())
			continue
		}
		sc, err := a.scrapeConfig("prometheus.scrape.x")
		if err != nil {
			t.Fatal(err)
		}
		if sc.BodySizeLimit != want {
			t.Errorf("%s: Prometheus' limit = %d, want %d", src, sc.BodySizeLimit, want)
		}
	}
	for _, src := range []string{`body_size_limit = "lots"`, `body_size_limit = "1kB"`, `body_size_limit = 1.5`, `body_size_limit = -1`} {
		var a Arguments
		a.SetToDefault()
		file, _ := syntax.ParseFile([]byte("targets = []\nforward_to = []\n"+src), "t.river")
		diags := decode.Body(file.Body, &hcl.EvalContext{}, &a)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), "t.river:3,") {
			t.Errorf("%s: want an error at t.river:3, got %v", src, diags)
		}
	}
}
