package runtime_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	tc "github.com/flow-telemetry/flow/internal/testcomponents"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

func loadDiags(t *testing.T, src string) hcl.Diagnostics {
	t.Helper()
	rt := newRuntime(t, runtime.Options{DataPath: t.TempDir()})
	return rt.Load(map[string][]byte{"main.river": []byte(src)})
}

func TestLoadDiagnostics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		// want: one "line:col summary" per expected error, in order.
		want []string
	}{
		{
			name: "unknown component with suggestion",
			src:  "testcomponents.countr \"a\" {}\n",
			want: []string{`1:1 unknown component "testcomponents.countr"; did you mean "testcomponents.counter"?`},
		},
		{
			name: "unknown component does not hide other errors",
			src: `testcomponents.counter "c" { max = "x" }
nothere.at_all "n" {}
testcomponents.passthrough "p" { input = nothere.at_all.n.value }
testcomponents.passthrough "q" { input = testcomponents.passthrough.p.output }
`,
			want: []string{`1:36 max: expected number, got string`, `2:1 unknown component "nothere.at_all"`},
		},
		{
			name: "errors not depending on unknown values are found in staging",
			src: `testcomponents.counter "c" {}
testcomponents.passthrough "p" {
  input = testcomponents.counter.c.count
  lag   = 5
}
testcomponents.counter "d" { max = testcomponents.passthrough.p.value }
testcomponents.passthrough "q" { inputz = testcomponents.counter.c.count }
`,
			want: []string{`4:11 lag: expected duration, got number`, `7:34 unknown attribute "inputz" in testcomponents.passthrough; did you mean "input"?`},
		},
		{
			name: "component without a label, as Alloy refuses it",
			src:  "testcomponents.counter \"c\" {}\ntestcomponents.counter {}\n",
			want: []string{`2:1 component "testcomponents.counter" must have a label`},
		},
		{
			name: "duplicate ID at both positions",
			src:  "testcomponents.counter \"a\" {}\ntestcomponents.counter \"a\" {}\n",
			want: []string{`1:1 duplicate component "testcomponents.counter.a"`, `2:1 duplicate component "testcomponents.counter.a"`},
		},
		{
			name: "missing component with suggestion",
			src:  "testcomponents.counter \"main\" {}\ntestcomponents.passthrough \"p\" { input = testcomponents.counter.mian.count }\n",
			want: []string{`2:42 component "testcomponents.counter.mian" does not exist; did you mean "testcomponents.counter.main"?`},
		},
		{
			name: "missing export with suggestion",
			src:  "testcomponents.counter \"c\" {}\ntestcomponents.passthrough \"p\" { input = testcomponents.counter.c.cuont }\n",
			want: []string{`2:67 testcomponents.counter has no export "cuont"; did you mean "count"?`},
		},
		{
			name: "reference to an unknown root",
			src:  "testcomponents.passthrough \"p\" { input = nothing.here }\n",
			want: []string{`1:42 component "nothing.here" does not exist`},
		},
		{
			name: "cycle lists every component",
			src: `testcomponents.passthrough "a" { input = testcomponents.passthrough.c.output }
testcomponents.passthrough "b" { input = testcomponents.passthrough.a.output }
testcomponents.passthrough "c" { input = testcomponents.passthrough.b.output }
testcomponents.passthrough "d" { input = testcomponents.passthrough.c.output }
`,
			want: []string{`1:1 dependency cycle between testcomponents.passthrough.a, testcomponents.passthrough.b, testcomponents.passthrough.c`},
		},
		{
			name: "self reference",
			src:  "testcomponents.passthrough \"a\" { input = testcomponents.passthrough.a.output }\n",
			want: []string{`1:1 component "testcomponents.passthrough.a" references itself`},
		},
		{
			name: "wrong type",
			src:  "testcomponents.counter \"c\" { max = \"ten\" }\n",
			want: []string{`1:36 max: expected number, got string`},
		},
		{
			name: "top-level attribute",
			src:  "x = 1\n",
			want: []string{`1:1 unexpected attribute "x" at the top level`},
		},
		{
			name: "nested references count too",
			src: `testcomponents.passthrough "a" { inputs = [testcomponents.sink.nope.receiver] }
`,
			want: []string{`1:44 component "testcomponents.sink.nope" does not exist`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diags := loadDiags(t, tt.src)
			var got []string
			for _, d := range diags.Errs() {
				hd := d.(*hcl.Diagnostic)
				got = append(got, formatPos(hd))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors:\n%s\nwant:\n%s", len(got), strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func formatPos(d *hcl.Diagnostic) string {
	if d.Subject == nil {
		return "?:? " + d.Summary
	}
	return fmt.Sprintf("%d:%d %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Summary)
}

func TestStdlibReferencesAreNotComponents(t *testing.T) {
	t.Parallel()
	diags := loadDiags(t, `testcomponents.passthrough "p" { input = constants.os }`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
}

const reloadBase = `
testcomponents.counter "keep" {}
testcomponents.passthrough "same" { input = testcomponents.counter.keep.count }
testcomponents.passthrough "changed" { input = "v1" }
testcomponents.passthrough "removed" { input = "bye" }
`

func TestReloadAppliesADiff(t *testing.T) {
	t.Parallel()
	f := flowtest.Start(t, reloadBase, withTestComponents())
	keep := f.Component("testcomponents.counter.keep")
	same := passthrough(t, f, "testcomponents.passthrough.same")
	changed := passthrough(t, f, "testcomponents.passthrough.changed")
	removed := passthrough(t, f, "testcomponents.passthrough.removed")
	testwait.Eventually(t, wait, removed.Running, "removed running")

	err := f.Reload(`
testcomponents.counter "keep" {}
testcomponents.passthrough "same" { input = testcomponents.counter.keep.count }
testcomponents.passthrough "changed" { input = "v2" }
testcomponents.passthrough "new" { input = testcomponents.passthrough.changed.output }
`)
	if err != nil {
		t.Fatal(err)
	}
	if f.Component("testcomponents.counter.keep") != keep || f.Component("testcomponents.passthrough.same") != same {
		t.Error("unchanged components were replaced")
	}
	if f.Component("testcomponents.passthrough.changed") != changed {
		t.Error("a changed component was replaced instead of updated")
	}
	if same.Updates() != 0 {
		t.Errorf("unchanged component updated %d times", same.Updates())
	}
	if changed.Updates() != 1 || changed.Args().Input != "v2" {
		t.Errorf("changed component: %d updates, args %+v", changed.Updates(), changed.Args())
	}
	// Removed: its Run has returned before Reload returned.
	if removed.Running() {
		t.Error("removed component still running after Reload returned")
	}
	if _, ok := f.Runtime().Health("testcomponents.passthrough.removed"); ok {
		t.Error("removed component still in the graph")
	}
	if got := output(f, "testcomponents.passthrough.new"); got != "v2" {
		t.Errorf("new component output = %q, want v2", got)
	}
	n := passthrough(t, f, "testcomponents.passthrough.new")
	testwait.Eventually(t, wait, n.Running, "new component started")

	// The kept counter still drives its dependant.
	keep.(*tc.Counter).Increment()
	testwait.Eventually(t, wait, func() bool { return output(f, "testcomponents.passthrough.same") == "1" }, "same updated")
}

func TestBrokenReloadChangesNothing(t *testing.T) {
	t.Parallel()
	f := flowtest.Start(t, reloadBase, withTestComponents())
	ids := f.Runtime().ComponentIDs()
	instances := map[string]component.Component{}
	for _, id := range ids {
		instances[id] = f.Component(id)
	}
	hash := f.Runtime().ConfigHash()
	for _, broken := range []string{
		reloadBase + "testcomponents.counter \"keep\" {}\n", // duplicate
		reloadBase + "testcomponents.passthrough \"x\" { input = testcomponents.counter.nope.count }\n",
		reloadBase + "testcomponents.counter \"bad\" { max = \"x\" }\n",
		reloadBase + "testcomponents.passthrough \"x\" {\n", // parse error
		strings.Replace(reloadBase, `input = "v1"`, `input = "v1", lag = 5`, 1),
	} {
		err := f.Reload(broken)
		if err == nil {
			t.Fatalf("broken config accepted:\n%s", broken)
		}
		if _, ok := err.(*flowtest.DiagnosticsError); !ok {
			t.Fatalf("error %T, want diagnostics", err)
		}
		if got := f.Runtime().ComponentIDs(); strings.Join(got, ",") != strings.Join(ids, ",") {
			t.Fatalf("components changed: %v", got)
		}
		for id, c := range instances {
			if f.Component(id) != c {
				t.Fatalf("%s replaced", id)
			}
		}
		if f.Runtime().ConfigHash() != hash {
			t.Fatal("config hash changed")
		}
		if p := passthrough(t, f, "testcomponents.passthrough.changed"); p.Updates() != 0 {
			t.Fatal("a broken reload updated a component")
		}
	}
}

func TestLoadBeforeRunThenRun(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, runtime.Options{DataPath: t.TempDir()})
	if d := rt.Load(map[string][]byte{"a.river": []byte(`testcomponents.counter "c" { frequency = "5ms" }
testcomponents.passthrough "p" { input = testcomponents.counter.c.count }`)}); d.HasErrors() {
		t.Fatal(d)
	}
	if h, _ := rt.Health("testcomponents.counter.c"); h.Health != component.HealthUnknown {
		t.Fatalf("health before Run = %+v, want unknown (not started)", h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rt.Run(ctx); close(done) }()
	testwait.Eventually(t, wait, func() bool {
		e, _ := rt.Exports("testcomponents.passthrough.p")
		pe, ok := e.(tc.PassthroughExports)
		return ok && pe.Output >= "3"
	}, "timer-driven counter to reach the passthrough")
	if h, _ := rt.Health("testcomponents.counter.c"); h.Health != component.HealthHealthy {
		t.Fatalf("health while running = %+v", h)
	}
	cancel()
	<-done
}

func TestLoadReportsRunTimeFailuresAsWarnings(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, runtime.Options{DataPath: t.TempDir()})
	diags := rt.Load(map[string][]byte{"a.river": []byte(`testcomponents.passthrough "p" { input = "x" }
testcomponents.counter "c" { max = testcomponents.passthrough.p.value }`)})
	if diags.HasErrors() {
		t.Fatalf("a failure only known at run time rejected the load: %v", diags)
	}
	if len(diags) != 1 || !strings.Contains(diags[0].Summary, "testcomponents.counter.c: max: expected number, got string") {
		t.Fatalf("warnings = %v", diags)
	}
	if h, _ := rt.Health("testcomponents.counter.c"); h.Health != component.HealthUnhealthy {
		t.Fatalf("health = %+v", h)
	}
}

func TestDataPathCreatedUnlessNotNeeded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rt := newRuntime(t, runtime.Options{DataPath: dir})
	if d := rt.Load(map[string][]byte{"a.river": []byte(`testcomponents.counter "c" {}
testcomponents.passthrough "p" { input = 1 }`)}); d.HasErrors() {
		t.Fatal(d)
	}
	if fi, err := os.Stat(filepath.Join(dir, "testcomponents.counter.c")); err != nil || !fi.IsDir() {
		t.Fatalf("counter's data directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "testcomponents.passthrough.p")); !os.IsNotExist(err) {
		t.Fatalf("a data directory was created for a component registered with NoDataPath: %v", err)
	}
}

// Alloy's deprecated flat stdlib names work and are reported as warnings at
// their call sites, naming the replacement.
func TestDeprecatedStdlibNamesWarn(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, runtime.Options{DataPath: t.TempDir()})
	diags := rt.Load(map[string][]byte{"main.river": []byte(`testcomponents.passthrough "p" {
  input = concat([1], [to_lower("A")])
}
testcomponents.passthrough "q" { input = string.to_upper("b") }
`)})
	if diags.HasErrors() {
		t.Fatalf("deprecated names refused: %v", diags)
	}
	var got []string
	for _, d := range diags {
		got = append(got, formatPos(d))
	}
	want := []string{"2:11 concat is deprecated; use array.concat", "2:24 to_lower is deprecated; use string.to_lower"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, d := range diags {
		if d.Severity != hcl.DiagWarning {
			t.Errorf("%s is not a warning", d.Summary)
		}
	}
}
