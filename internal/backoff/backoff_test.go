package backoff

import (
	"math"
	"testing"
	"time"
)

func TestExponentialDoublesUpToTheCap(t *testing.T) {
	for i, want := range []time.Duration{1, 2, 4, 8, 16, 32, 60, 60} {
		if got := Exponential(time.Second, time.Minute, i+1); got != want*time.Second {
			t.Errorf("failure %d: %v, want %v", i+1, got, want*time.Second)
		}
	}
	if got := Exponential(time.Second, time.Minute, 0); got != time.Second {
		t.Errorf("0 failures: %v, want the first wait", got)
	}
	if got := Exponential(time.Second, time.Minute, math.MaxInt); got != time.Minute {
		t.Errorf("MaxInt failures: %v, want the cap", got)
	}
	if got := Exponential(time.Minute, time.Second, 3); got != time.Second {
		t.Errorf("lo above hi: %v, want hi", got)
	}
}
