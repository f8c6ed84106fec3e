package write

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/loki/write/internal/wal"
)

// A record is what one Send becomes, in the WAL and in the memory queue:
//
//	byte      version (1)
//	uvarint   number of streams, then per stream: string tenant, string labels
//	uvarint   number of entries, then per entry:
//	          uvarint stream index, varint Unix nanoseconds, string line,
//	          uvarint number of structured metadata pairs, then string name, string value each
//
// where string is a uvarint length and the bytes. Labels are stored already
// in the form Loki's push API takes ({a="b", c="d"}), computed once per
// distinct label set in a Send, so endpoints never touch label maps.
const recordVersion = 1

// streamKey identifies a stream in a push: its tenant and labels.
type streamKey struct {
	tenant string
	labels string
}

// encoder turns entries into records. It is not safe for concurrent use;
// Send takes one from a pool.
type encoder struct {
	buf     []byte
	streams []streamKey
	index   map[streamKey]int
}

// encode returns the record for entries with external labels added (entry
// labels win), the tenant taken from loki.TenantLabel, and internal and
// invalid labels removed. The first wal.HeaderSize bytes are left free for the
// WAL's header. Entries left with no labels are dropped and counted.
func (e *encoder) encode(entries []loki.Entry, external model.LabelSet) (rec []byte, n int, dropped int) {
	e.streams = e.streams[:0]
	if e.index == nil {
		e.index = map[streamKey]int{}
	}
	clear(e.index)
	// First pass: resolve each run of entries with equal labels to a stream,
	// so the label work is done once per run rather than once per entry.
	idx := make([]int32, len(entries))
	var prev model.LabelSet
	prevIdx := int32(-1)
	for i, en := range entries {
		// Sources give the entries of one request one shared map: most
		// runs are told by a pointer comparison.
		if i > 0 && (loki.SameLabelSet(en.Labels, prev) || en.Labels.Equal(prev)) {
			idx[i] = prevIdx
			continue
		}
		prev = en.Labels
		k, ok := streamFor(en.Labels, external)
		if !ok {
			prevIdx = -2 // sentinel: dropped
			idx[i] = -2
			continue
		}
		j, seen := e.index[k]
		if !seen {
			j = len(e.streams)
			e.streams = append(e.streams, k)
			e.index[k] = j
		}
		prevIdx = int32(j)
		idx[i] = prevIdx
	}

	b := e.buf[:0]
	b = append(b, make([]byte, wal.HeaderSize)...)
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(len(e.streams)))
	for _, s := range e.streams {
		b = appendString(b, s.tenant)
		b = appendString(b, s.labels)
	}
	kept := 0
	for _, j := range idx {
		if j >= 0 {
			kept++
		}
	}
	b = binary.AppendUvarint(b, uint64(kept))
	for i, en := range entries {
		if idx[i] < 0 {
			continue
		}
		b = binary.AppendUvarint(b, uint64(idx[i]))
		b = binary.AppendVarint(b, en.Timestamp.UnixNano())
		b = appendString(b, en.Line)
		b = binary.AppendUvarint(b, uint64(len(en.StructuredMetadata)))
		for _, l := range en.StructuredMetadata {
			b = appendString(b, l.Name)
			b = appendString(b, l.Value)
		}
	}
	e.buf = b
	return b, kept, len(entries) - kept
}

// streamFor computes an entry's tenant and Loki label string. It reports
// false if no valid label is left.
func streamFor(ls, external model.LabelSet) (streamKey, bool) {
	var k streamKey
	merged := ls
	if len(external) > 0 {
		merged = make(model.LabelSet, len(ls)+len(external))
		for n, v := range external {
			merged[n] = v
		}
		for n, v := range ls {
			merged[n] = v
		}
	}
	if t, ok := merged[loki.TenantLabel]; ok {
		k.tenant = string(t)
	}
	clean := loki.DropInternal(merged)
	if _, ok := clean[loki.TenantLabel]; ok {
		clean = clean.Clone()
		delete(clean, loki.TenantLabel)
	}
	if len(clean) == 0 {
		return k, false
	}
	k.labels = clean.String()
	return k, true
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodedEntry is an entry of a decoded record. Its bytes are in the
// record's buffer.
type decodedEntry struct {
	stream int
	ts     int64 // Unix nanoseconds
	line   []byte
	// meta0 and meta1 delimit its structured metadata in decodedRecord.meta.
	meta0, meta1 int
}

// metaPair is a structured metadata label of a decoded entry.
type metaPair struct{ name, value []byte }

// decodedRecord is a record read back. Its entries point into buf, a copy of
// the payload, reused from record to record.
type decodedRecord struct {
	buf     []byte
	streams []streamKey
	entries []decodedEntry
	meta    []metaPair
}

var errCorruptRecord = errors.New("corrupt record")

// maxKeptRecordBuffer is the largest record copy kept for the next record
// when that one is much smaller.
const maxKeptRecordBuffer = 4 << 20

// decode parses payload into r, reusing r's slices. The entries it produces
// point into r's own copy of payload, so payload may be reused afterwards;
// they are valid until the next decode.
func (r *decodedRecord) decode(payload []byte) error {
	if cap(r.buf) > maxKeptRecordBuffer && len(payload) < maxKeptRecordBuffer/4 {
		r.buf = nil
	}
	r.buf = append(r.buf[:0], payload...)
	s := r.buf
	d := decoder{s: s}
	if d.byte() != recordVersion {
		return fmt.Errorf("%w: unknown version", errCorruptRecord)
	}
	ns := d.uvarint()
	if ns > uint64(len(s)) {
		return fmt.Errorf("%w: stream count %d", errCorruptRecord, ns)
	}
	r.streams = r.streams[:0]
	for i := uint64(0); i < ns && d.err == nil; i++ {
		tenant := d.string()
		r.streams = append(r.streams, streamKey{tenant: string(tenant), labels: string(d.string())})
	}
	ne := d.uvarint()
	if ne > uint64(len(s)) {
		return fmt.Errorf("%w: entry count %d", errCorruptRecord, ne)
	}
	r.entries = r.entries[:0]
	r.meta = r.meta[:0]
	for i := uint64(0); i < ne && d.err == nil; i++ {
		st := d.uvarint()
		if st >= ns {
			return fmt.Errorf("%w: stream index %d of %d", errCorruptRecord, st, ns)
		}
		e := decodedEntry{stream: int(st)}
		e.ts = d.varint()
		e.line = d.string()
		nm := d.uvarint()
		if nm > uint64(len(s)) {
			return fmt.Errorf("%w: metadata count %d", errCorruptRecord, nm)
		}
		e.meta0 = len(r.meta)
		for j := uint64(0); j < nm && d.err == nil; j++ {
			name := d.string()
			r.meta = append(r.meta, metaPair{name: name, value: d.string()})
		}
		e.meta1 = len(r.meta)
		r.entries = append(r.entries, e)
	}
	if d.err != nil {
		return d.err
	}
	if d.i != len(s) {
		return fmt.Errorf("%w: %d trailing bytes", errCorruptRecord, len(s)-d.i)
	}
	return nil
}

// decoder reads the primitive fields of a record.
type decoder struct {
	s   []byte
	i   int
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated at byte %d", errCorruptRecord, d.i)
	}
	d.i = len(d.s)
}

func (d *decoder) byte() byte {
	if d.i >= len(d.s) {
		d.fail()
		return 0
	}
	d.i++
	return d.s[d.i-1]
}

func (d *decoder) uvarint() uint64 {
	var x uint64
	var shift uint
	for j := 0; j < binary.MaxVarintLen64; j++ {
		if d.i >= len(d.s) {
			d.fail()
			return 0
		}
		c := d.s[d.i]
		d.i++
		if c < 0x80 {
			if j == binary.MaxVarintLen64-1 && c > 1 {
				d.fail()
				return 0
			}
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	d.fail()
	return 0
}

func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) string() []byte {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.i) {
		d.fail()
		return nil
	}
	s := d.s[d.i : d.i+int(n) : d.i+int(n)]
	d.i += int(n)
	return s
}
