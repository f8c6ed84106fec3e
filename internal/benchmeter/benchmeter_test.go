package benchmeter

import (
	"testing"
	"time"
)

func TestCPUTimeGrowsWithWork(t *testing.T) {
	before := CPUTime()
	x := 0
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		x++
	}
	if d := CPUTime() - before; d <= 0 {
		t.Fatalf("CPU time did not grow after 50 ms of busy work (%d iterations): %v", x, d)
	}
}

var sink [][]byte

func TestPeakHeapSeesAnAllocation(t *testing.T) {
	stop := PeakHeap()
	sink = append(sink, make([]byte, 64<<20))
	time.Sleep(20 * time.Millisecond)
	peak := stop()
	sink = nil
	if peak < 64<<20 {
		t.Fatalf("peak live heap %d bytes, want at least the 64 MiB held during the sample", peak)
	}
}
