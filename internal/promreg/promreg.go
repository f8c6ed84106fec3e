// Package promreg has the one prometheus.Registerer wrapper that remembers
// what was registered through it, so that its owner can take it all back:
// the runtime when a component is removed or its Build fails, a WAL when it
// is reopened.
package promreg

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Tracking registers with reg and remembers each collector until it is
// unregistered. A nil reg registers nothing. It is safe for concurrent use.
type Tracking struct {
	reg prometheus.Registerer

	mu         sync.Mutex
	collectors []prometheus.Collector
}

// NewTracking returns a Tracking registerer over reg (nil: a no-op).
func NewTracking(reg prometheus.Registerer) *Tracking {
	return &Tracking{reg: reg}
}

// Register registers c with the wrapped registerer and remembers it.
func (t *Tracking) Register(c prometheus.Collector) error {
	if t.reg == nil {
		return nil
	}
	if err := t.reg.Register(c); err != nil {
		return err
	}
	t.mu.Lock()
	t.collectors = append(t.collectors, c)
	t.mu.Unlock()
	return nil
}

// MustRegister registers each collector, panicking on the first error (the
// prometheus.Registerer contract).
func (t *Tracking) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := t.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister unregisters c and forgets it.
func (t *Tracking) Unregister(c prometheus.Collector) bool {
	if t.reg == nil {
		return false
	}
	t.mu.Lock()
	for i, x := range t.collectors {
		if x == c {
			t.collectors = append(t.collectors[:i], t.collectors[i+1:]...)
			break
		}
	}
	t.mu.Unlock()
	return t.reg.Unregister(c)
}

// UnregisterAll unregisters every collector still registered through t.
func (t *Tracking) UnregisterAll() {
	t.mu.Lock()
	cs := t.collectors
	t.collectors = nil
	t.mu.Unlock()
	for _, c := range cs {
		t.reg.Unregister(c)
	}
}
