package awsfirehose

import (
	"runtime"
	"testing"
	"time"
)

// A pool not used for a whole collection cycle is emptied, and the check
// goes on after that, cycle after cycle.
func TestBodyBuffersEmptiedWhenIdle(t *testing.T) {
	for round := 0; round < 2; round++ {
		getBodyBuffer() // a use: also arms the check
		for i := 0; i < maxPooledBodies; i++ {
			putBodyBuffer(make([]byte, 0, 64<<10))
		}
		if len(bodyBuffers) == 0 {
			t.Fatalf("round %d: no buffer pooled", round)
		}
		deadline := time.Now().Add(20 * time.Second)
		for len(bodyBuffers) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d buffers still pooled after collections without a request", round, len(bodyBuffers))
			}
			runtime.GC()
			time.Sleep(5 * time.Millisecond)
		}
	}
}
