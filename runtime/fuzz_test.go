package runtime_test

import (
	"testing"

	"github.com/flow-telemetry/flow/runtime"
)

// FuzzValidate checks that no config, however broken, makes the loader
// panic: every problem must come back as diagnostics.
func FuzzValidate(f *testing.F) {
	for _, seed := range []string{
		reloadBase,
		`testcomponents.passthrough "a" { input = testcomponents.passthrough.b.output }
testcomponents.passthrough "b" { input = testcomponents.passthrough.a.output }`,
		`testcomponents.source "s" { forward_to = [testcomponents.sink.k.receiver, 1] }
testcomponents.sink "k" {}`,
		`testcomponents.counter "c" { max = testcomponents.counter.c }`,
		`testcomponents.passthrough "p" { inputs = [constants.os, testcomponents.targets.t.targets[0]["__address__"]] }
testcomponents.targets "t" { count = 2 }`,
		`testcomponents.secret "s" { password = nonsensitive(testcomponents.secret.x.password) }`,
		`a.b.c "x" { d = e.f.g }`,
		`testcomponents.passthrough "p" { input = json_decode("{\"a\": [1, 2]}").a }`,
	} {
		f.Add(seed)
	}
	rt := newRuntime(f, runtime.Options{DataPath: f.TempDir()})
	f.Fuzz(func(t *testing.T, src string) {
		_ = rt.Validate(map[string][]byte{"fuzz.river": []byte(src)})
	})
}
