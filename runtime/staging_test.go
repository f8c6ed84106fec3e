package runtime_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

// decodeCounts counts, per tag, how often an echoArgs was decoded (its
// Validate runs once per decode, placeholders included).
type decodeCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *decodeCounts) add(tag string) {
	c.mu.Lock()
	c.n[tag]++
	c.mu.Unlock()
}

func (c *decodeCounts) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.n
	c.n = map[string]int{}
	return out
}

// echoArgs are test.echo's arguments: it exports its input as output and
// its tag as tag. An input equal to refuse fails Validate with a message
// that does not name the attribute (as a cross-field check's would).
type echoArgs struct {
	Input  string `river:"input,attr,optional"`
	Tag    string `river:"tag,attr"`
	Refuse string `river:"refuse,attr,optional"`

	counts *decodeCounts
}

func (a *echoArgs) Validate() error {
	a.counts.add(a.Tag)
	if a.Refuse != "" && a.Input == a.Refuse {
		return errors.New("this value is refused")
	}
	return nil
}

type echoExports struct {
	Output string `river:"output,attr"`
	Tag    string `river:"tag,attr"`
}

type echo struct{ opts component.Options }

func (e *echo) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (e *echo) Update(a component.Arguments) error {
	args := a.(echoArgs)
	e.opts.OnStateChange(echoExports{Output: args.Input, Tag: args.Tag})
	return nil
}

func echoRegistration(counts *decodeCounts) component.Registration {
	return component.Registration{
		Name:       "test.echo",
		NoDataPath: true,
		Args:       echoArgs{counts: counts},
		Exports:    echoExports{},
		Build: func(o component.Options, a component.Arguments) (component.Component, error) {
			e := &echo{opts: o}
			return e, e.Update(a)
		},
	}
}

func startEcho(t *testing.T, src string) (*runtime.Runtime, *decodeCounts) {
	t.Helper()
	counts := &decodeCounts{n: map[string]int{}}
	rt := runtime.New(runtime.Options{DataPath: t.TempDir(), Registry: flowtest.Registry(t, echoRegistration(counts))})
	if d := rt.Load(map[string][]byte{"main.river": []byte(src)}); d.HasErrors() {
		t.Fatal(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rt.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	counts.take()
	return rt, counts
}

func echoOutput(t *testing.T, rt *runtime.Runtime, id string) echoExports {
	t.Helper()
	e, ok := rt.Exports(id)
	if !ok {
		t.Fatalf("no exports for %s", id)
	}
	return e.(echoExports)
}

// A component whose dependency is updated, but whose expressions read
// nothing that changed, is decoded once per reload: the staged decode
// (against the dependency's current exports) is what gets applied. It was
// decoded twice, once with placeholders while staging and once applied.
func TestReloadDecodesOnceWhatReadsNothingChanged(t *testing.T) {
	t.Parallel()
	const src = `test.echo "a" {
  input = "same"
  tag   = "a-%s"
}
test.echo "b" {
  input = test.echo.a.output
  tag   = "b-%s"
}
`
	rt, counts := startEcho(t, strings.ReplaceAll(src, "%s", "v1"))
	if d := rt.Load(map[string][]byte{"main.river": []byte(strings.ReplaceAll(src, "%s", "v2"))}); d.HasErrors() {
		t.Fatal(d)
	}
	got := counts.take()
	if got["a-v2"] != 1 || got["b-v2"] != 1 || len(got) != 2 {
		t.Fatalf("decodes per tag %v, want a-v2 and b-v2 once each", got)
	}
	if e := echoOutput(t, rt, "test.echo.b"); e.Tag != "b-v2" || e.Output != "same" {
		t.Fatalf("b exports %+v, want the new arguments applied", e)
	}
}

// A dependency whose named export changes makes the dependant decode again
// with the new value: what is applied is never the staged decode of the old
// value.
func TestReloadRedecodesWhatReadsAChangedExport(t *testing.T) {
	t.Parallel()
	const src = `test.echo "a" {
  input = "in-%s"
  tag   = "a-%s"
}
test.echo "b" {
  input = test.echo.a.output
  tag   = "b-%s"
}
`
	rt, _ := startEcho(t, strings.ReplaceAll(src, "%s", "v1"))
	if d := rt.Load(map[string][]byte{"main.river": []byte(strings.ReplaceAll(src, "%s", "v2"))}); d.HasErrors() {
		t.Fatal(d)
	}
	if e := echoOutput(t, rt, "test.echo.b"); e.Tag != "b-v2" || e.Output != "in-v2" {
		t.Fatalf("b exports %+v, want input in-v2 from a's new output", e)
	}
}

// Staging decodes a dependant against its dependencies' current exports;
// when that fails while one of them is about to change, the error may be
// the current value's only, so it is judged as before, with the value
// unknown: this reload moves a's output away from the refused value and
// must be accepted. An error that no value of the unknown input can cause
// (a wrong type in a literal) still rejects the reload as a whole.
func TestReloadJudgesPendingValuesAsUnknown(t *testing.T) {
	t.Parallel()
	rt, _ := startEcho(t, `test.echo "a" {
  input = "bad"
  tag   = "a"
}
test.echo "b" {
  input = "x"
  tag   = "b"
}
`)
	next := `test.echo "a" {
  input = "good"
  tag   = "a"
}
test.echo "b" {
  input  = test.echo.a.output
  tag    = "b"
  refuse = "bad"
}
`
	if d := rt.Load(map[string][]byte{"main.river": []byte(next)}); d.HasErrors() {
		t.Fatalf("reload refused for the dependency's current value: %v", d)
	}
	if e := echoOutput(t, rt, "test.echo.b"); e.Output != "good" {
		t.Fatalf("b exports %+v, want output good", e)
	}
	if cd, _ := rt.ComponentDetail("test.echo.b"); len(cd.Evaluations) == 0 || cd.Evaluations[0].Error != "" {
		t.Fatalf("b's evaluations %+v, want the last one without error", cd.Evaluations)
	}

	broken := `test.echo "a" {
  input = "other"
  tag   = "a"
}
test.echo "b" {
  input = test.echo.a.output
  tag   = 5
}
`
	d := rt.Load(map[string][]byte{"main.river": []byte(broken)})
	if !d.HasErrors() || !strings.Contains(d.Error(), "tag") {
		t.Fatalf("diagnostics %v, want the reload refused for b's tag", d)
	}
	if e := echoOutput(t, rt, "test.echo.a"); e.Output != "good" {
		t.Fatalf("a exports %+v after a refused reload, want it untouched", e)
	}
}

// On a first load nothing is built, so a dependant is staged with
// placeholders and applied by evaluating again what names its dependencies
// (the rest is taken from staging): a value refused only once known is
// still found then, as a warning on that component.
func TestFirstLoadChecksWhatPlaceholdersHid(t *testing.T) {
	t.Parallel()
	counts := &decodeCounts{n: map[string]int{}}
	rt := runtime.New(runtime.Options{DataPath: t.TempDir(), Registry: flowtest.Registry(t, echoRegistration(counts))})
	d := rt.Load(map[string][]byte{"main.river": []byte(`test.echo "a" {
  input = "bad"
  tag   = "a"
}
test.echo "b" {
  input  = test.echo.a.output
  tag    = "b"
  refuse = "bad"
}
`)})
	if d.HasErrors() {
		t.Fatalf("first load refused: %v", d)
	}
	if !strings.Contains(d.Error(), "this value is refused") {
		t.Fatalf("diagnostics %v, want b's refusal as a warning", d)
	}
	if cd, _ := rt.ComponentDetail("test.echo.b"); len(cd.Evaluations) == 0 || !strings.Contains(cd.Evaluations[0].Error, "this value is refused") {
		t.Fatalf("b's evaluations %+v, want the refusal", cd.Evaluations)
	}
}
