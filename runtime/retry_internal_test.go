package runtime

import (
	"testing"
	"time"
)

func TestBuildRetryDelayDoublesToTheCap(t *testing.T) {
	t.Parallel()
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i, w := range want {
		if got := buildRetryDelay(time.Second, time.Minute, i+1); got != w*time.Second {
			t.Errorf("wait after %d failures = %v, want %v", i+1, got, w*time.Second)
		}
	}
	// Many failures must not overflow into a negative or zero wait.
	if got := buildRetryDelay(time.Second, time.Minute, 1000); got != time.Minute {
		t.Errorf("wait after 1000 failures = %v, want 1m", got)
	}
}
