package runtime_test

import (
	"fmt"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/syntax"
)

// deepConfigs are configs whose one expression nests far beyond
// syntax.MaxDepth, each in a different way: the 3 MB of "!", and a
// megabyte of each other shape (the syntax package tests 3 MB of each). Before the parser measured the
// depth of the tree it builds, each of the chains parsed, then building the
// graph (collecting references) or evaluating overflowed the stack and
// killed the process, through `flow validate` and `POST /-/reload` alike.
func deepConfigs() map[string]string {
	const n = 1_000_000
	ref := "testcomponents.counter.c.count"
	wrap := func(expr string) string {
		return "testcomponents.counter \"c\" {}\ntestcomponents.passthrough \"p\" {\n  input = " + expr + "\n}\n"
	}
	return map[string]string{
		"unary":       wrap(strings.Repeat("!", 3*n) + "true"),
		"binary refs": wrap(ref + strings.Repeat(" + "+ref, n/(len(ref)+3))),
		"concat":      wrap(`"a"` + strings.Repeat(` + "a"`, n/6)),
		"index":       wrap("[1]" + strings.Repeat("[0]", n/3)),
		"parens":      wrap(strings.Repeat("(", n/2) + ref + strings.Repeat(")", n/2)),
		"arrays":      wrap(strings.Repeat("[", n/2) + strings.Repeat("]", n/2)),
	}
}

func TestDeepConfigsAreRefusedByValidateAndLoad(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, runtime.Options{DataPath: t.TempDir()})
	good := map[string][]byte{"main.river": []byte("testcomponents.counter \"c\" {}\n")}
	if diags := rt.Load(good); diags.HasErrors() {
		t.Fatal(diags)
	}
	for name, src := range deepConfigs() {
		t.Run(name, func(t *testing.T) {
			files := map[string][]byte{"main.river": []byte(src)}
			start := time.Now()
			for what, diags := range map[string]interface{ Error() string }{
				"Validate": rt.Validate(files),
				"Load":     rt.Load(files),
			} {
				if msg := diags.Error(); !strings.Contains(msg, "main.river:3,") || !strings.Contains(msg, fmt.Sprintf("nesting is too deep (more than %d levels)", syntax.MaxDepth)) {
					t.Errorf("%s: %.300s", what, msg)
				}
			}
			if el := time.Since(start); el > time.Minute { // a hang guard; it takes well under a second
				t.Errorf("took %v", el)
			}
			// The refused config changed nothing.
			if got := len(rt.Components()); got != 1 {
				t.Errorf("%d components after a refused load, want 1", got)
			}
		})
	}
	if diags := rt.Load(good); diags.HasErrors() {
		t.Fatal(diags)
	}
}

// Resolving a reference to its component tries the longest prefix first,
// starting from the longest a component ID can be: it used to join and look
// up every prefix of the reference, so 1 MB of long references took
// quadratic time and memory (2 MB of `.a` steps ran for minutes).
//
// Not parallel: the allocation it measures is the whole process's, and the
// parallel tests' own allocations made it fail at random.
func TestLongReferencesResolveLinearly(t *testing.T) {
	// Each resolves to p's export "output" (unknown until p runs, so the
	// steps after it are not checked yet).
	ref := "testcomponents.passthrough.p.output" + strings.Repeat(".step", syntax.MaxDepth-10)
	src := "testcomponents.passthrough \"p\" {}\ntestcomponents.passthrough \"q\" {\n  inputs = [" +
		strings.Repeat(ref+", ", 300) + "1]\n}\n"
	rt := newRuntime(t, runtime.Options{DataPath: t.TempDir()})
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	diags := rt.Validate(map[string][]byte{"main.river": []byte(src)})
	goruntime.ReadMemStats(&after)
	if diags.HasErrors() {
		t.Fatalf("%.300s", diags.Error())
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 100*uint64(len(src)) {
		t.Errorf("validating %d bytes of references allocated %d bytes", len(src), alloc)
	}
}

// Validate and Load spend one evaluation budget for the whole config: 40
// calls each building a 16 MB string (640 MB in all, from 640 KB of config)
// stop at the fifth with an error at its position.
func TestEvalBudgetBoundsValidation(t *testing.T) {
	t.Parallel()
	amp := `string.format("` + strings.Repeat("%[1]10000d", 1600) + `", 1)`
	var b strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "testcomponents.passthrough \"p%d\" {\n  input = %s\n}\n", i, amp)
	}
	rt := newRuntime(t, runtime.Options{DataPath: t.TempDir()})
	diags := rt.Validate(map[string][]byte{"main.river": []byte(b.String())})
	if len(diags) != 1 || !strings.Contains(diags[0].Summary, "evaluation budget exhausted") ||
		diags[0].Subject.Filename != "main.river" || diags[0].Subject.Start.Line != 14 {
		t.Fatalf("%v", diags)
	}
}

// Validating a config of thousands of bad components stops after
// syntax.MaxErrors errors, and says so.
func TestValidationErrorsAreCapped(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "testcomponents.passthrough \"p%d\" {\n  input = 1 + \"one\"\n}\n", i)
	}
	rt := newRuntime(t, runtime.Options{DataPath: t.TempDir()})
	diags := rt.Validate(map[string][]byte{"main.river": []byte(b.String())})
	if len(diags) != syntax.MaxErrors+1 || !strings.Contains(diags[len(diags)-1].Summary, "too many errors") {
		t.Fatalf("%d diagnostics, the last %v", len(diags), diags[len(diags)-1])
	}
}

// A config of sixty thousand references to missing components reports the
// first syntax.MaxErrors: each was compared with every component for a
// suggestion, and validating it took 40 s.
func TestUnknownReferencesAreCapped(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "testcomponents.counter \"c%d\" {}\n", i)
	}
	b.WriteString("testcomponents.passthrough \"p\" {\n  inputs = [")
	for i := 0; i < 60000; i++ {
		fmt.Fprintf(&b, "testcomponents.counter.x%d.count, ", i)
	}
	b.WriteString("1]\n}\n")
	rt := newRuntime(t, runtime.Options{DataPath: t.TempDir()})
	start := time.Now()
	diags := rt.Validate(map[string][]byte{"main.river": []byte(b.String())})
	notes := 0
	for _, d := range diags {
		if strings.Contains(d.Summary, "too many errors") {
			notes++
		}
	}
	if len(diags) != syntax.MaxErrors+1 || notes != 1 {
		t.Fatalf("%d diagnostics, %d saying there are too many", len(diags), notes)
	}
	if el := time.Since(start); el > time.Minute { // a hang guard; it takes a fraction of a second
		t.Errorf("took %v", el)
	}
}

// Thousands of duplicate components, or of misspelt attributes in one
// block, report at most syntax.MaxErrors (and a note) each.
func TestDuplicatesAndMisspellingsAreCapped(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"duplicates":  strings.Repeat("testcomponents.counter \"c\" {}\n", 20000),
		"misspelling": "testcomponents.passthrough \"p\" {\n" + strings.Repeat("  inptu = 1\n", 20000) + "}\n",
	} {
		rt := newRuntime(t, runtime.Options{DataPath: t.TempDir()})
		if diags := rt.Validate(map[string][]byte{"main.river": []byte(src)}); len(diags) > syntax.MaxErrors+2 {
			t.Errorf("%s: %d diagnostics", name, len(diags))
		}
	}
}
