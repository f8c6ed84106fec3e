package write

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"time"

	"github.com/klauspost/compress/s2"
)

// batch collects entries for one push per tenant. Entries keep their arrival
// order within each stream, which is the order Loki needs.
//
// Each stream holds its entries already in the protobuf form of Loki's push
// API (the EntryAdapter fields of a StreamAdapter, see appendEntry), written
// as they are added: a batch holds bytes, not entry structs pointing into
// decoded records, and pushing it is a concatenation and a compression.
// Batches are recycled once pushed (see delivery.getBatch), with their
// buffers.
type batch struct {
	tenants []*tenantBatch
	byName  map[string]*tenantBatch
	bytes   int
	entries int
	streams int
	created time.Time
	// gen changes at every reset, so that a shardRef taken on an earlier
	// use of this batch is not mistaken for one into the current.
	gen uint64
	// freeChunks (of chunkSize bytes) and freeSmall (smaller: the first
	// pieces of small streams) are the stream buffers of earlier uses,
	// emptied, for this use's streams.
	freeChunks [][]byte
	freeSmall  [][]byte
}

// tenantBatch is the part of a batch going to one tenant: one push request.
type tenantBatch struct {
	tenant  string
	streams []streamBuf
	index   map[string]int // labels -> position in streams
	entries int
	bytes   int
	done    bool // pushed or dropped, during a flush that is retried
}

// streamBuf is one stream of a push request: its labels and its entries,
// encoded, in pieces: full, then buf, which entries are appended to.
type streamBuf struct {
	labels  string
	full    [][]byte
	fullLen int // bytes in full
	buf     []byte
}

// size is the length of the stream's encoded entries.
func (s *streamBuf) size() int { return s.fullLen + len(s.buf) }

// chunkSize bounds the pieces a stream's encoded entries are held in. A
// stream's first piece grows by doubling up to it, so the many streams of
// a batch with many are small; a large stream is a list of pieces of this
// size, so that a batch holds its entries and less than a piece per stream
// more. (One growing buffer per stream held up to twice its entries and,
// reused from batch to batch, came to hold the largest share any stream
// ever had: with 4 streams, 2 MiB for 1 MiB batches.) 64 KiB is also the
// block size at which s2's Snappy encoder is fastest, and Snappy matches
// within 64 KiB anyway, so compressing a stream piece by piece costs
// nothing.
const chunkSize = 64 << 10

func newBatch() *batch {
	return &batch{byName: map[string]*tenantBatch{}}
}

func (b *batch) empty() bool { return b.entries == 0 }

// reset empties b for reuse, keeping stream buffers up to keep bytes in
// all (the rest, and any larger than chunkSize, are left to the GC).
func (b *batch) reset(keep int) {
	kept := 0
	for _, bb := range b.freeChunks {
		kept += cap(bb)
	}
	for _, bb := range b.freeSmall {
		kept += cap(bb)
	}
	recycle := func(bb []byte) {
		switch c := cap(bb); {
		case c == 0 || c > chunkSize || kept+c > keep:
		case c == chunkSize:
			b.freeChunks = append(b.freeChunks, bb[:0])
			kept += c
		default:
			b.freeSmall = append(b.freeSmall, bb[:0])
			kept += c
		}
	}
	for _, tb := range b.tenants {
		for i := range tb.streams {
			s := &tb.streams[i]
			for j, c := range s.full {
				recycle(c)
				s.full[j] = nil
			}
			recycle(s.buf)
		}
	}
	clear(b.tenants)
	b.tenants = b.tenants[:0]
	clear(b.byName)
	b.bytes, b.entries, b.streams = 0, 0, 0
	b.created = time.Time{}
	b.gen++
}

// pop takes the last buffer of a free list, or nil.
func pop(free *[][]byte) []byte {
	n := len(*free)
	if n == 0 {
		return nil
	}
	bb := (*free)[n-1]
	(*free)[n-1] = nil
	*free = (*free)[:n-1]
	return bb
}

// grow makes room in s.buf for need more bytes: within the first piece
// by doubling it, then by starting a new piece.
func (b *batch) grow(s *streamBuf, need int) {
	if len(s.full) == 0 && len(s.buf)+need <= chunkSize {
		c := min(max(2*cap(s.buf), len(s.buf)+need, 512), chunkSize)
		var nb []byte
		if c == chunkSize {
			nb = pop(&b.freeChunks)
		}
		if nb == nil {
			nb = make([]byte, 0, c)
		}
		s.buf = append(nb, s.buf...)
		return
	}
	if len(s.buf) > 0 {
		s.full = append(s.full, s.buf)
		s.fullLen += len(s.buf)
	}
	if need > chunkSize {
		// An entry larger than a piece gets one of its own, not kept.
		s.buf = make([]byte, 0, need)
		return
	}
	if s.buf = pop(&b.freeChunks); s.buf == nil {
		s.buf = make([]byte, 0, chunkSize)
	}
}

// entrySize is what counts against batch_size, as in Loki's clients: the
// line and structured metadata bytes.
func entrySize(de *decodedEntry, meta []metaPair) int {
	n := len(de.line)
	for _, m := range meta[de.meta0:de.meta1] {
		n += len(m.name) + len(m.value)
	}
	return n
}

// streamRef resolves a record's stream to its slot in the batch once, so
// adding each entry is an append to that slot's buffer.
type streamRef struct {
	tb  *tenantBatch
	i   int
	gen uint64 // the batch's gen when the ref was taken
}

// ref returns the slot for k, creating it; ok is false if the batch already
// has maxStreams streams and k is not among them.
func (b *batch) ref(k streamKey, maxStreams int) (streamRef, bool) {
	tb := b.byName[k.tenant]
	if tb == nil {
		tb = &tenantBatch{tenant: k.tenant, index: map[string]int{}}
		b.byName[k.tenant] = tb
		b.tenants = append(b.tenants, tb)
	}
	i, ok := tb.index[k.labels]
	if !ok {
		if maxStreams > 0 && b.streams >= maxStreams {
			return streamRef{}, false
		}
		// A small buffer first: most streams of a batch with many
		// are small.
		buf := pop(&b.freeSmall)
		if buf == nil {
			buf = pop(&b.freeChunks)
		}
		i = len(tb.streams)
		tb.streams = append(tb.streams, streamBuf{labels: k.labels, buf: buf})
		tb.index[k.labels] = i
		b.streams++
	}
	return streamRef{tb: tb, i: i, gen: b.gen}, true
}

// add appends an entry of a decoded record to the stream r refers to.
func (b *batch) add(r streamRef, de *decodedEntry, meta []metaPair, size int) {
	if b.entries == 0 {
		b.created = time.Now()
	}
	st := &r.tb.streams[r.i]
	m := meta[de.meta0:de.meta1]
	if need := entryLen(de.ts, len(de.line), m); len(st.buf)+need > cap(st.buf) {
		b.grow(st, need)
	}
	st.buf = appendEntry(st.buf, de.ts, de.line, m)
	r.tb.entries++
	r.tb.bytes += size
	b.entries++
	b.bytes += size
}

// Protobuf wire format of Loki's push API (pkg/push/push.proto):
//
//	PushRequest   { repeated StreamAdapter streams = 1; }
//	StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; }
//	EntryAdapter  { google.protobuf.Timestamp timestamp = 1; string line = 2;
//	                repeated LabelPairAdapter structuredMetadata = 3; }
//	LabelPairAdapter { string name = 1; string value = 2; }
//	Timestamp     { int64 seconds = 1; int32 nanos = 2; }
//
// Fields are written in field order and empty scalars are left out, as the
// generated gogo code writes them: the bytes are the same as
// push.PushRequest's Marshal (TestPushBodyIsGogoMarshal).
const (
	tagField1Bytes = 1<<3 | 2 // field 1, length-delimited
	tagField2Bytes = 2<<3 | 2
	tagField3Bytes = 3<<3 | 2
	//lint:ignore SA4016 the varint wire type (0) is spelled out, as the other tags' is
	tagField1Int = 1<<3 | 0 // field 1, varint
	//lint:ignore SA4016 as above
	tagField2Int = 2<<3 | 0
)

// uvarintLen is the length of x as a protobuf varint.
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// bytesFieldLen is the length of a length-delimited field holding n bytes,
// 0 when n is 0 (an empty string is not written).
func bytesFieldLen(n int) int {
	if n == 0 {
		return 0
	}
	return 1 + uvarintLen(uint64(n)) + n
}

func appendBytesField(b []byte, tag byte, s []byte) []byte {
	if len(s) == 0 {
		return b
	}
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// entryFields returns the lengths of an entry's EntryAdapter message (n)
// and of its Timestamp (tsLen), and the Timestamp's fields: the entry at ts
// (Unix nanoseconds) is time.Unix(0, ts), seconds rounded down,
// nanoseconds in [0, 1e9).
func entryFields(ts int64, lineLen int, meta []metaPair) (n, tsLen int, sec, nsec int64) {
	sec, nsec = ts/1e9, ts%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	if sec != 0 {
		tsLen += 1 + uvarintLen(uint64(sec))
	}
	if nsec != 0 {
		tsLen += 1 + uvarintLen(uint64(nsec))
	}
	n = 1 + uvarintLen(uint64(tsLen)) + tsLen + bytesFieldLen(lineLen)
	for _, m := range meta {
		// A message in a repeated field is written even when empty.
		ml := bytesFieldLen(len(m.name)) + bytesFieldLen(len(m.value))
		n += 1 + uvarintLen(uint64(ml)) + ml
	}
	return n, tsLen, sec, nsec
}

// entryLen is how many bytes appendEntry appends.
func entryLen(ts int64, lineLen int, meta []metaPair) int {
	n, _, _, _ := entryFields(ts, lineLen, meta)
	return 1 + uvarintLen(uint64(n)) + n
}

// appendEntry appends an EntryAdapter, as field 2 of a StreamAdapter, for
// an entry at ts (Unix nanoseconds).
func appendEntry(b []byte, ts int64, line []byte, meta []metaPair) []byte {
	n, tsLen, sec, nsec := entryFields(ts, len(line), meta)
	b = append(b, tagField2Bytes)
	b = binary.AppendUvarint(b, uint64(n))
	b = append(b, tagField1Bytes, byte(tsLen)) // tsLen < 128
	if sec != 0 {
		b = append(b, tagField1Int)
		b = binary.AppendUvarint(b, uint64(sec))
	}
	if nsec != 0 {
		b = append(b, tagField2Int)
		b = binary.AppendUvarint(b, uint64(nsec))
	}
	b = appendBytesField(b, tagField2Bytes, line)
	for _, m := range meta {
		ml := bytesFieldLen(len(m.name)) + bytesFieldLen(len(m.value))
		b = append(b, tagField3Bytes)
		b = binary.AppendUvarint(b, uint64(ml))
		b = appendBytesField(b, tagField1Bytes, m.name)
		b = appendBytesField(b, tagField2Bytes, m.value)
	}
	return b
}

// encoder buffers for push bodies, reused by one endpoint.
type pushEncoder struct {
	body []byte
	hdr  []byte
}

// encode returns the snappy-compressed protobuf body of tb's push request,
// valid until the next call.
//
// The request is not assembled before it is compressed: each stream's
// header and encoded entries are compressed where they lie, one after the
// other, into one Snappy block. A block is its uncompressed length and then
// literals and back-references into what is already decoded; the elements
// of separately compressed pieces, concatenated, decode to the pieces
// concatenated (a piece's back-references stay within it). Snappy's encoder
// works on 64 KiB blocks in any case, so this costs no compression, and it
// saves holding and copying a second batch-sized buffer.
func (p *pushEncoder) encode(tb *tenantBatch) []byte {
	n := 0
	for _, s := range tb.streams {
		sl := bytesFieldLen(len(s.labels)) + s.size()
		n += 1 + uvarintLen(uint64(sl)) + sl
	}
	body := binary.AppendUvarint(p.body[:0], uint64(n))
	for _, s := range tb.streams {
		h := append(p.hdr[:0], tagField1Bytes)
		h = binary.AppendUvarint(h, uint64(bytesFieldLen(len(s.labels))+s.size()))
		if len(s.labels) > 0 {
			h = append(h, tagField1Bytes)
			h = binary.AppendUvarint(h, uint64(len(s.labels)))
			h = append(h, s.labels...)
		}
		p.hdr = h
		body = appendSnappyElements(body, h)
		for _, c := range s.full {
			body = appendSnappyElements(body, c)
		}
		body = appendSnappyElements(body, s.buf)
	}
	p.body = body
	// Keep the buffer of one unusually large batch from being held forever.
	if cap(p.body) > 16<<20 {
		p.body = nil
	}
	return body
}

// appendSnappyElements appends src compressed as the elements of a Snappy
// block, without the block's length: s2's Snappy-compatible encoder, the
// format Loki decodes, at about twice the speed of github.com/golang/snappy's
// (BenchmarkSnappyEncoders).
func appendSnappyElements(dst, src []byte) []byte {
	if len(src) == 0 {
		return dst
	}
	dst = slices.Grow(dst, s2.MaxEncodedLen(len(src)))
	at := len(dst)
	block := s2.EncodeSnappy(dst[at:cap(dst)], src)
	h := uvarintLen(uint64(len(src))) // the block's own length
	m := copy(dst[at:cap(dst)], block[h:])
	return dst[:at+m]
}
