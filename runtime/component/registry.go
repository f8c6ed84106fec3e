package component

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/flow-telemetry/flow/syntax"
)

// Registry is a set of component types, by name. A runtime resolves the
// block names of its config in one registry (runtime.Options.Registry): the
// process-wide default one, filled by Register from init functions, unless a
// test gives it its own, holding components whose closures keep per-test
// state. Its methods are safe for concurrent use.
type Registry struct {
	mu   sync.RWMutex
	regs map[string]Registration
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{regs: map[string]Registration{}} }

// defaultRegistry holds the components that Register registers.
var defaultRegistry = NewRegistry()

// DefaultRegistry returns the process-wide registry: every component the
// binary (or test binary) imports, registered by Register at init. A runtime
// uses it unless told otherwise.
func DefaultRegistry() *Registry { return defaultRegistry }

// Register adds a component type to the default registry. It panics when
// Registry.Register refuses r: a bad registration is a programming error,
// caught as soon as the binary starts.
func Register(r Registration) {
	if err := defaultRegistry.Register(r); err != nil {
		panic(err)
	}
}

// Get returns the registration for name in the default registry.
func Get(name string) (Registration, bool) { return defaultRegistry.Get(name) }

// Names returns every name in the default registry, sorted.
func Names() []string { return defaultRegistry.Names() }

// Register adds a component type. It refuses an incomplete registration, a
// name that is not dotted identifiers ("prometheus.remote_write": each
// segment a River identifier, none of true, false or null), a name already
// registered, and a name that is a whole-segment prefix of another or has one
// as its prefix ("a.b" with "a.b.c"): a reference such as a.b.c.d could then
// mean component a.b labelled c or component a.b.c labelled d.
func (r *Registry) Register(reg Registration) error {
	if err := checkName(reg.Name); err != nil {
		return err
	}
	if reg.Build == nil || reg.Args == nil {
		return fmt.Errorf("component: registration of %s needs Build and Args", reg.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.regs[reg.Name]; dup {
		return fmt.Errorf("component: %s is already registered", reg.Name)
	}
	for other := range r.regs {
		if strings.HasPrefix(other+".", reg.Name+".") || strings.HasPrefix(reg.Name+".", other+".") {
			return fmt.Errorf("component: %s cannot be registered alongside %s: one name is a prefix of the other, so a reference to either would be ambiguous", reg.Name, other)
		}
	}
	r.regs[reg.Name] = reg
	return nil
}

// checkName checks that name is dotted identifiers.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("component: registration without a name")
	}
	for _, seg := range strings.Split(name, ".") {
		if !syntax.IsIdentifier(seg) {
			return fmt.Errorf("component: invalid name %q: segment %q is not an identifier (a letter or _, then letters, digits or _; not true, false or null)", name, seg)
		}
	}
	return nil
}

// Get returns the registration for name.
func (r *Registry) Get(name string) (Registration, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	reg, ok := r.regs[name]
	return reg, ok
}

// Names returns every registered name, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.regs))
}

// Clone returns a new registry holding r's registrations, to which a test
// can add its own components without touching r.
func (r *Registry) Clone() *Registry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return &Registry{regs: maps.Clone(r.regs)}
}
