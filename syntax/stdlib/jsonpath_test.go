package stdlib

import (
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// A path that multiplies its matches is stopped once it has read 16 values
// per byte of its input: `$[0,0,0,0,0,0,0,0,0,0]` eight times over
// `[[[[[[[[1]]]]]]]]` selected 10^8 copies of 1 (out of memory), and
// `$..*..*..*` over 6 KB of nested arrays ran for 3.6 minutes.
func TestJSONPathWorkIsBounded(t *testing.T) {
	for _, tt := range []struct{ doc, path string }{
		{strings.Repeat("[", 8) + "1" + strings.Repeat("]", 8), "$" + strings.Repeat("[0,0,0,0,0,0,0,0,0,0]", 8)},
		{strings.Repeat("[1,", 1000) + "1" + strings.Repeat("]", 1000), "$..*..*..*"},
		{strings.Repeat(`{"a":`, 90) + "1" + strings.Repeat("}", 90), "$..*..*..*..*"},
	} {
		start := time.Now()
		_, err := JSONPathFunc.Call([]cty.Value{cty.StringVal(tt.doc), cty.StringVal(tt.path)})
		if err == nil || !strings.Contains(err.Error(), "too many values") {
			t.Errorf("%.40s: %v", tt.path, err)
		}
		if el := time.Since(start); el > 30*time.Second { // a hang guard; it takes milliseconds
			t.Errorf("%.40s took %v", tt.path, el)
		}
	}
	// Ordinary paths over a large document are well inside the budget.
	doc := `{"targets": [` + strings.Repeat(`{"labels": {"job": "node", "instance": "10.0.0.1:9100"}, "port": 9100},`, 10000) + `{}]}`
	for _, path := range []string{"$.targets[*].labels.job", "$..instance", "$..*", "$.targets[?(@.port == 9100)].labels"} {
		v, err := JSONPathFunc.Call([]cty.Value{cty.StringVal(doc), cty.StringVal(path)})
		if err != nil || v.LengthInt() < 10000 {
			t.Errorf("%s: %v", path, err)
		}
	}
}
