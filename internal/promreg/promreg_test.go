package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestUnregisterAllTakesBackWhatWasRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	tr := NewTracking(reg)
	a := prometheus.NewCounter(prometheus.CounterOpts{Name: "a_total", Help: "a"})
	b := prometheus.NewCounter(prometheus.CounterOpts{Name: "b_total", Help: "b"})
	tr.MustRegister(a, b)
	if !tr.Unregister(a) {
		t.Fatal("Unregister(a) = false")
	}
	if err := reg.Register(a); err != nil {
		t.Fatalf("a is still registered after Unregister: %v", err)
	}
	reg.Unregister(a)
	tr.UnregisterAll()
	if err := reg.Register(b); err != nil {
		t.Fatalf("b is still registered after UnregisterAll: %v", err)
	}
	if err := tr.Register(b); err == nil {
		t.Fatal("registering a duplicate through Tracking succeeded")
	}
}

func TestNilRegistererIsANoOp(t *testing.T) {
	tr := NewTracking(nil)
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "c_total", Help: "c"})
	tr.MustRegister(c)
	if tr.Unregister(c) {
		t.Fatal("Unregister on a nil registerer = true")
	}
	tr.UnregisterAll()
}
