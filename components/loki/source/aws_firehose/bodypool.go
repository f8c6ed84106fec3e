package awsfirehose

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The body buffer pool (bodyBuffers, decode.go) empties itself once a whole
// garbage collection cycle has passed without a request: after a burst of
// large bodies it would otherwise keep up to 8 MiB live for good, which the
// collector's headroom doubles in RSS. Under load a cycle lasts well under
// a second and every one sees requests, so nothing changes there; an idle
// process is still collected every two minutes (the runtime forces it), so
// its pool is gone within about four.

var (
	// bodyBuffersUsed is set at every use of the pool and cleared by the
	// check after each collection.
	bodyBuffersUsed atomic.Bool
	bodyTrimArmed   sync.Once
)

// noteBodyBufferUse records a use of the pool and, the first time, starts
// the check after each collection.
func noteBodyBufferUse() {
	bodyBuffersUsed.Store(true)
	bodyTrimArmed.Do(armBodyTrim)
}

// gcTick is an object nothing keeps, whose cleanup therefore runs after the
// next collection. It holds a pointer so that it is not batched with other
// small objects (a tiny allocation's cleanup may never run).
type gcTick struct{ _ *byte }

func armBodyTrim() {
	runtime.AddCleanup(new(gcTick), func(struct{}) {
		trimIdleBodyBuffers()
		armBodyTrim()
	}, struct{}{})
}

// trimIdleBodyBuffers empties the pool if it was not used since the last
// check, and reports whether it did.
func trimIdleBodyBuffers() bool {
	if bodyBuffersUsed.Swap(false) {
		return false
	}
	for {
		select {
		case <-bodyBuffers:
		default:
			return true
		}
	}
}
