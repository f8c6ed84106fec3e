package scrapeloop

import (
	"io"
	"sync"
)

// bodyBuffers is a pool's free list of scrape body buffers.
//
// Why not Prometheus' bucketed pool (util/pool, sizes ×3 apart, one
// sync.Pool per bucket): a body of 1.27 MB got a 2.19 MB bucket buffer;
// Put files a slice under the first bucket at least its capacity, so a
// bucket also holds slices smaller than its size, and a Get from it then
// grew the slice by doubling inside bytes.Buffer (garbage, and a larger
// slice kept); and each P kept its own buffers, and the collector's victim
// cache kept the previous cycle's, so that at 100k series (10 targets) the
// buffers held 8–15 MB, 80–150 B per series, a tenth of the live heap
// (BENCHMARKS.md, "Metrics peak RSS (issue 14, rss14)").
//
// Here a scrape asks for the size it needs (the response's Content-Length
// when it is known, else the last body's size with an eighth more), gets the
// smallest free buffer of at least that capacity or a new one of exactly
// that capacity, and returns it after the body is parsed and appended. At
// most maxIdle buffers stay free; when the list is full the smallest
// buffer goes (a larger one serves any smaller request). Memory held is
// thus the bodies in flight plus at most maxIdle × the largest body (itself
// bounded by body_size_limit).
type bodyBuffers struct {
	mu      sync.Mutex
	free    [][]byte
	maxIdle int
}

func newBodyBuffers(maxIdle int) *bodyBuffers {
	return &bodyBuffers{maxIdle: max(1, maxIdle)}
}

// get returns an empty buffer of capacity at least size.
func (b *bodyBuffers) get(size int) []byte {
	size = max(size, minBodyBuffer)
	b.mu.Lock()
	best := -1
	for i, f := range b.free {
		if cap(f) >= size && (best < 0 || cap(f) < cap(b.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		f := b.free[best]
		last := len(b.free) - 1
		b.free[best] = b.free[last]
		b.free[last] = nil
		b.free = b.free[:last]
		b.mu.Unlock()
		return f[:0]
	}
	b.mu.Unlock()
	return make([]byte, 0, size)
}

// put returns a buffer to the free list.
func (b *bodyBuffers) put(buf []byte) {
	if cap(buf) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.free) < b.maxIdle {
		b.free = append(b.free, buf[:0])
		return
	}
	smallest := 0
	for i, f := range b.free {
		if cap(f) < cap(b.free[smallest]) {
			smallest = i
		}
	}
	if cap(buf) > cap(b.free[smallest]) {
		b.free[smallest] = buf[:0]
	}
}

// idle returns the number of free buffers and their total capacity.
func (b *bodyBuffers) idle() (n, bytes int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.free {
		bytes += cap(f)
	}
	return len(b.free), bytes
}

const (
	// minBodyBuffer is the smallest buffer made (a first scrape of a
	// target whose size is not known yet starts there).
	minBodyBuffer = 4 << 10
	// readSlack is the room kept free for a read: a read into a full
	// buffer grows it, so a body of exactly the buffer's size needs one
	// more read to see the end.
	readSlack = 512
)

// readBody appends r's content to buf until EOF and returns it. A full
// buffer grows by half (the old one is dropped: a buffer grows only when a
// body is larger than asked for, on a target's first scrape or when its
// size grew).
func readBody(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if cap(buf)-len(buf) < readSlack {
			nb := make([]byte, len(buf), cap(buf)+cap(buf)/2+readSlack)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// maxTrustedLength is the largest Content-Length taken as the buffer size
// without a previous body at least a quarter as large: a target cannot
// have a buffer allocated by declaring a length it does not send (beyond
// it, the buffer grows with what arrives, up to body_size_limit).
const maxTrustedLength = 16 << 20

// bodySizeHint is the buffer size to ask for a response: its length when
// the body arrives as sent (not compressed) and says it, plus the slack a
// read needs to see the end; else the last body's size with an eighth
// more.
func bodySizeHint(contentLength int64, encoded bool, last int, limit int64) int {
	trusted := max(int64(maxTrustedLength), 4*int64(last))
	if !encoded && contentLength >= 0 && contentLength <= trusted && (limit <= 0 || contentLength < limit) {
		return int(contentLength) + readSlack
	}
	return last + last/8 + readSlack
}
