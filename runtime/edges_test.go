package runtime

import (
	"math"
	"testing"
	"time"
)

func TestEdgeCounterRateOverWindow(t *testing.T) {
	t.Parallel()
	var c edgeCounter
	t0 := time.Unix(1000, 0)
	if r := c.rate(t0); r != 0 {
		t.Fatalf("rate with no samples = %v", r)
	}
	// 100 items per second for 10 seconds, sampled every second.
	for s := 0; s <= 10; s++ {
		c.sample(t0.Add(time.Duration(s) * time.Second))
		c.total.Add(100)
	}
	now := t0.Add(10 * time.Second)
	if r := c.rate(now); math.Abs(r-100) > 25 {
		t.Fatalf("steady rate = %v, want about 100/s", r)
	}
	if len(c.samples) > 7 {
		t.Fatalf("kept %d samples; the window needs about 6", len(c.samples))
	}
	// The flow stops: after a full window without items the rate is 0.
	for s := 11; s <= 17; s++ {
		c.sample(t0.Add(time.Duration(s) * time.Second))
	}
	if r := c.rate(t0.Add(17 * time.Second)); r != 0 {
		t.Fatalf("rate after the flow stopped = %v", r)
	}
}
