package component_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/runtime/component"
)

type nop struct{}

func (nop) Run(ctx context.Context) error    { <-ctx.Done(); return nil }
func (nop) Update(component.Arguments) error { return nil }

type args struct{}

func reg(name string) component.Registration {
	return component.Registration{
		Name:  name,
		Args:  args{},
		Build: func(component.Options, component.Arguments) (component.Component, error) { return nop{}, nil },
	}
}

func TestRegisterRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		existing []string
		name     string
		want     string
	}{
		{name: "", want: "without a name"},
		{name: "a..b", want: `segment "" is not an identifier`},
		{name: ".a", want: `segment "" is not an identifier`},
		{name: "a.", want: `segment "" is not an identifier`},
		{name: "a.1b", want: `segment "1b" is not an identifier`},
		{name: "a-b.c", want: `segment "a-b" is not an identifier`},
		{name: "a.b c", want: `segment "b c" is not an identifier`},
		{name: "a.true", want: `segment "true" is not an identifier`},
		{name: "null.x", want: `segment "null" is not an identifier`},
		{name: "a.\xff", want: "is not an identifier"},
		{existing: []string{"a.b"}, name: "a.b", want: "a.b is already registered"},
		{existing: []string{"a.b.c"}, name: "a.b", want: "a.b cannot be registered alongside a.b.c"},
		{existing: []string{"a.b"}, name: "a.b.c", want: "a.b.c cannot be registered alongside a.b"},
		{existing: []string{"a"}, name: "a.b", want: "a.b cannot be registered alongside a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := component.NewRegistry()
			for _, n := range tc.existing {
				if err := r.Register(reg(n)); err != nil {
					t.Fatal(err)
				}
			}
			err := r.Register(reg(tc.name))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Register(%q) with %v: error %v, want one containing %q", tc.name, tc.existing, err, tc.want)
			}
			if got := r.Names(); !slices.Equal(got, tc.existing) {
				t.Errorf("a refused registration changed the registry: %v", got)
			}
		})
	}
}

func TestRegisterAccepts(t *testing.T) {
	t.Parallel()
	r := component.NewRegistry()
	// Names sharing a prefix that is not a whole segment, or sharing a
	// whole-segment prefix with the same number of segments, are fine.
	for _, n := range []string{"a.b", "a.bc", "a.c", "ab.b", "_x.y2", "é.ü", "logging"} {
		if err := r.Register(reg(n)); err != nil {
			t.Errorf("Register(%q): %v", n, err)
		}
	}
	if got, want := r.Names(), []string{"_x.y2", "a.b", "a.bc", "a.c", "ab.b", "logging", "é.ü"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if _, ok := r.Get("a.bc"); !ok {
		t.Error("Get(a.bc) found nothing")
	}
}

func TestRegisterNeedsBuildAndArgs(t *testing.T) {
	t.Parallel()
	r := component.NewRegistry()
	noBuild := reg("a.b")
	noBuild.Build = nil
	noArgs := reg("a.c")
	noArgs.Args = nil
	for _, bad := range []component.Registration{noBuild, noArgs} {
		if err := r.Register(bad); err == nil || !strings.Contains(err.Error(), "needs Build and Args") {
			t.Errorf("Register(%s): %v", bad.Name, err)
		}
	}
}

// A clone takes new components without changing the registry it came from.
func TestCloneIsIndependent(t *testing.T) {
	t.Parallel()
	base := component.NewRegistry()
	if err := base.Register(reg("a.b")); err != nil {
		t.Fatal(err)
	}
	c := base.Clone()
	if err := c.Register(reg("a.c")); err != nil {
		t.Fatal(err)
	}
	if _, ok := base.Get("a.c"); ok {
		t.Error("registering in a clone changed its base")
	}
	if _, ok := c.Get("a.b"); !ok {
		t.Error("the clone lost a.b")
	}
}

// The package-level Register panics with the registry's error: every
// component registers at init, so a bad name stops the binary at start-up.
func TestRegisterPanicsOnTheDefaultRegistry(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"component_test.bad-name", "component_test"} {
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "component_test") {
					t.Errorf("Register(%q) did not panic with the name: %v", name, p)
				}
			}()
			if name == "component_test" {
				// A prefix of a name registered just before.
				component.Register(reg("component_test.ok"))
			}
			component.Register(reg(name))
		}()
	}
	if _, ok := component.Get("component_test.bad-name"); ok {
		t.Error("the default registry kept a refused name")
	}
}
