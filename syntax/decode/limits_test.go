package decode

import (
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// The path that names where in a value an error is, `m["k"][3]`, is built
// only for an error: built at every step, a list of 10,000 items under a
// 100 KB key cost a gigabyte (the key copied once per item).
func TestDecodePathsCostNothingUntilAnError(t *testing.T) {
	key := strings.Repeat("k", 100_000)
	items := make([]cty.Value, 10_000)
	for i := range items {
		items[i] = cty.NumberIntVal(int64(i))
	}
	v := cty.ObjectVal(map[string]cty.Value{key: cty.TupleVal(items)})
	for _, target := range []any{new(any), new(map[string][]int)} {
		var before, after goruntime.MemStats
		goruntime.ReadMemStats(&before)
		if err := Value(v, target); err != nil {
			t.Fatal(err)
		}
		goruntime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 10<<20 {
			t.Errorf("%T: decoding allocated %d MiB", target, alloc>>20)
		}
	}
	// An error still names the place.
	items[7] = cty.StringVal("x")
	err := Value(cty.ObjectVal(map[string]cty.Value{"a": cty.TupleVal(items)}), new(map[string][]int))
	if err == nil || !strings.HasPrefix(err.Error(), `["a"][7]: expected number`) {
		t.Errorf("error %v", err)
	}
}
