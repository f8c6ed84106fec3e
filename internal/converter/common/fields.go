package common

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/flow-telemetry/flow/syntax"
)

var (
	fieldsMu sync.Mutex
	fields   = map[string]bool{}
)

// RegisterFields adds the YAML field names of the given struct values (and
// of the structs they hold) to the names "did you mean" hints choose from.
func RegisterFields(vs ...any) {
	fieldsMu.Lock()
	defer fieldsMu.Unlock()
	seen := map[reflect.Type]bool{}
	for _, v := range vs {
		collectFields(reflect.TypeOf(v), seen)
	}
}

func collectFields(t reflect.Type, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return
	}
	seen[t] = true
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name != "" && name != "-" {
			fields[name] = true
		}
		collectFields(f.Type, seen)
	}
}

// SuggestField returns the registered field name closest to name, or "".
func SuggestField(name string) string {
	fieldsMu.Lock()
	defer fieldsMu.Unlock()
	// Sorted for a deterministic choice among ties.
	return syntax.Suggest(name, slices.Sorted(maps.Keys(fields)))
}
