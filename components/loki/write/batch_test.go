package write

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
)

// heldBytes is the capacity of every buffer b holds: its streams' pieces
// and its free lists.
func heldBytes(b *batch) int {
	n := 0
	for _, tb := range b.tenants {
		for _, s := range tb.streams {
			for _, c := range s.full {
				n += cap(c)
			}
			n += cap(s.buf)
		}
	}
	for _, c := range b.freeChunks {
		n += cap(c)
	}
	for _, c := range b.freeSmall {
		n += cap(c)
	}
	return n
}

// A batch reused for batches whose streams' shares change holds about its
// entries: with one growing buffer per stream, each buffer came to hold
// the largest share its stream ever had, 2 MiB (all the reset kept) for
// batches of 1 MiB of 4 streams.
func TestBatchHoldsAboutItsEntries(t *testing.T) {
	const batchSize = 1 << 20
	b := newBatch()
	line := bytes.Repeat([]byte("x"), 200)
	keys := make([]streamKey, 4)
	for i := range keys {
		keys[i] = streamKey{labels: fmt.Sprintf(`{stream="%d"}`, i)}
	}
	for round := 0; round < 12; round++ {
		// Each round, another stream has 85 % of the entries.
		for i := 0; b.bytes+len(line) <= batchSize; i++ {
			k := keys[round%4]
			if i%7 == 0 {
				k = keys[(round+1+i/7)%4]
			}
			ref, _ := b.ref(k, 0)
			de := decodedEntry{ts: int64(1700000000e9 + i), line: line}
			b.add(ref, &de, nil, len(line))
		}
		encoded := 0
		for _, tb := range b.tenants {
			for _, s := range tb.streams {
				encoded += s.size()
			}
		}
		if held := heldBytes(b); held > encoded+4*chunkSize {
			t.Fatalf("round %d: the batch holds %d bytes for %d bytes of encoded entries in 4 streams, want at most a chunk (%d) per stream more", round, held, encoded, chunkSize)
		}
		b.reset(batchSize * 3 / 2)
		if held := heldBytes(b); held > batchSize*3/2 {
			t.Fatalf("round %d: %d bytes kept after reset, over its bound %d", round, held, batchSize*3/2)
		}
	}
}

// Streams of every size in one push: many small ones (first pieces that
// grow by doubling), large ones (many pieces), an entry larger than a
// piece; the body is what the generated Marshal writes, before and after
// the batch is reused.
func TestChunkedStreamsPushBody(t *testing.T) {
	b := newBatch()
	for round := 0; round < 3; round++ {
		want := &push.PushRequest{}
		add := func(st int, line []byte, ts int64) {
			k := streamKey{labels: fmt.Sprintf(`{s="%d"}`, st)}
			for len(want.Streams) <= st {
				want.Streams = append(want.Streams, push.Stream{Labels: fmt.Sprintf(`{s="%d"}`, len(want.Streams))})
			}
			ref, _ := b.ref(k, 0)
			de := decodedEntry{ts: ts, line: line}
			b.add(ref, &de, nil, len(line))
			want.Streams[st].Entries = append(want.Streams[st].Entries, push.Entry{Timestamp: time.Unix(0, ts), Line: string(line)})
		}
		for st := 0; st < 200; st++ { // small streams, in order of creation
			add(st, []byte(fmt.Sprintf("small %d %d", round, st)), int64(st))
		}
		for i := 0; i < 3000; i++ {
			line := bytes.Repeat([]byte{byte('a' + (i+round)%26)}, 50+i%300)
			add(i%3, line, int64(1700000000e9+i))
			if i == 1500 {
				add(1, bytes.Repeat([]byte("L"), 3*chunkSize+17), int64(1700000000e9+i))
			}
		}
		if len(b.tenants[0].streams[1].full) < 3 {
			t.Fatalf("stream 1 is in %d full pieces, want several", len(b.tenants[0].streams[1].full))
		}
		var pe pushEncoder
		got, err := snappy.Decode(nil, pe.encode(b.tenants[0]))
		if err != nil {
			t.Fatal(err)
		}
		w, err := want.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("round %d: push body differs from the generated Marshal's (%d bytes, want %d)", round, len(got), len(w))
		}
		b.reset(1 << 20)
		if heldBytes(b) > 1<<20 {
			t.Fatalf("reset kept %d bytes, over its bound", heldBytes(b))
		}
	}
}
