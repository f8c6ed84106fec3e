package queue

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"google.golang.org/protobuf/encoding/protowire"
)

// Encoding: what is per series is computed once per series, when the
// series is first seen, not per sample or per request, unless keeping it
// would cost more memory than computing it costs time.
//
//   - Remote-Write 1.0: a request encodes the series' labels (the repeated
//     Label fields of a TimeSeries) from the labels themselves. Keeping
//     them encoded per series saved ~0.1 µs per sample but cost ~170 bytes
//     per series, the largest part of the queue's memory.
//   - Remote-Write 2.0: every label name and value (and help and unit) is
//     interned once in the queue's dictionary, so a series holds global
//     symbol ids. A request maps them to its own symbol table through a
//     shard-local array indexed by id (no hashing of strings per request).
//
// The labels a series keeps are, when the WAL writer still holds the
// series, the writer's own (Config.SharedLabels): the queue adds 16 bytes
// per series for them, not a second copy of every label.
//
// Requests are written with protowire straight into a buffer the shard
// reuses, then compressed with snappy into a second reused buffer (s2's
// Snappy-compatible encoder: the same block format, about twice as fast as
// github.com/golang/snappy's).

// series is what the queue keeps of one WAL series: 80 bytes (a Go size
// class) plus, with 2.0, its symbol ids.
type series struct {
	ref uint64
	// gen and idx are scratch of the one shard that sends the series (a
	// series always goes to one shard; resharding stops all shards
	// first).
	gen uint64
	raw labels.Labels // as read from the WAL, for reconfiguring
	// sent is the labels sent if they are not raw (write_relabel_config,
	// external labels), or dropSeries (write relabelling drops the
	// series: its samples are final without being sent).
	sent *labels.Labels
	ids  []uint32                   // 2.0: global symbol ids of the labels sent
	meta atomic.Pointer[seriesMeta] // 2.0: type, help and unit (nil: none)
	seg  int32                      // the newest WAL segment (or checkpoint) its record was seen in
	idx  int32
}

// dropSeries marks a dropped series (series.sent).
var dropSeries labels.Labels

func (s *series) dropped() bool { return s.sent == &dropSeries }

// labels returns the labels sent.
func (s *series) labels() labels.Labels {
	if s.sent != nil {
		return *s.sent
	}
	return s.raw
}

type seriesMeta struct {
	typ        model.MetricType
	help, unit string
	hid, uid   uint32
}

// dict interns strings for Remote-Write 2.0: id 0 is "".
type dict struct {
	mu  sync.Mutex
	ids map[string]uint32
	n   uint32
}

func newDict() *dict { return &dict{ids: map[string]uint32{"": 0}, n: 1} }

func (d *dict) id(s string) uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id, ok := d.ids[s]; ok {
		return id
	}
	id := d.n
	d.ids[s] = id
	d.n++
	return id
}

func (d *dict) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return int(d.n)
}

// newSeries prepares a series of WAL labels raw, sent as lbls, for the
// configured protocol's encoder.
func newSeries(ref uint64, raw, lbls labels.Labels, v2 bool, d *dict) *series {
	s := &series{ref: ref, raw: raw}
	if !labels.Equal(raw, lbls) {
		s.sent = &lbls
	}
	if v2 {
		s.ids = make([]uint32, 0, 2*lbls.Len())
		lbls.Range(func(l labels.Label) {
			s.ids = append(s.ids, d.id(l.Name), d.id(l.Value))
		})
	}
	return s
}

// rw1LabelInner is the size of a Label message.
func rw1LabelInner(l labels.Label) int {
	return 2 + sov(len(l.Name)) + len(l.Name) + 2 + sov(len(l.Value)) + len(l.Value)
}

func appendRW1Labels(b []byte, lbls labels.Labels) []byte {
	lbls.Range(func(l labels.Label) {
		n, v := len(l.Name), len(l.Value)
		if n+v+4 < 0x80 {
			// Every length fits in one byte (nearly every label): the
			// field tags are constants.
			b = append(b, 0x0a, byte(n+v+4), 0x0a, byte(n))
			b = append(b, l.Name...)
			b = append(b, 0x12, byte(v))
			b = append(b, l.Value...)
			return
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(rw1LabelInner(l)))
		b = appendString(b, 1, l.Name)
		b = appendString(b, 2, l.Value)
	})
	return b
}

// sov is the size of a length prefix: protobuf tags here are one byte.
func sov(n int) int { return protowire.SizeVarint(uint64(n)) - 1 }

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// item is one sample, histogram or exemplar waiting in a shard.
type item struct {
	s  *series
	t  int64
	v  float64
	h  *histogram.Histogram
	fh *histogram.FloatHistogram
	ex *labels.Labels // an exemplar: t and v are the exemplar's
}

func (it *item) counted() bool { return it.ex == nil }

// encoder builds requests; one per shard, reused.
type encoder struct {
	v2    bool
	gen   uint64
	order []int32 // item indexes grouped by series
	count []int32
	heads []*series
	buf   []byte // the request, uncompressed
	ts    []byte // one TimeSeries
	sub   []byte // a nested message
	out   []byte // compressed
	// 2.0: the request's symbols, and global id → request ref.
	syms  []string
	loc   []symLoc
	lgen  uint32            // the request's mark in loc
	extra map[string]uint32 // strings not in the dictionary (exemplar labels)
	refs  []uint32
}

// symLoc is a global symbol id's ref in the request being encoded: ref
// is valid while gen is the encoder's lgen. One array of both (not two) is
// one cache miss per symbol, not two, on a dictionary of 100k strings; 8
// bytes per symbol and shard (a 64-bit mark made it 16): lgen is the
// encoder's own count of requests, and the array is cleared when it wraps.
type symLoc struct {
	gen uint32
	ref uint32
}

// encode returns the snappy-compressed request for items, valid until the
// next call. gen is the queue's request counter: series scratch is marked
// with it, and a series may move between shards' encoders.
func (e *encoder) encode(items []item, gen *atomic.Uint64) []byte {
	e.gen = gen.Add(1)
	e.group(items)
	e.buf = e.buf[:0]
	if e.v2 {
		if e.lgen++; e.lgen == 0 {
			clear(e.loc)
			e.lgen = 1
		}
		e.syms = append(e.syms[:0], "")
		clear(e.extra)
		e.eachGroup(items, e.appendV2Series)
		// Fields may come in any order: the symbols follow the series.
		for _, s := range e.syms {
			e.buf = appendString(e.buf, 4, s)
		}
	} else {
		e.eachGroup(items, e.appendV1Series)
	}
	e.out = s2.EncodeSnappy(e.out[:cap(e.out)], e.buf)
	return e.out
}

// group orders items by series (first appearance), keeping each series'
// items in their order: a stable counting sort over per-series scratch.
func (e *encoder) group(items []item) {
	e.heads = e.heads[:0]
	e.count = e.count[:0]
	for i := range items {
		s := items[i].s
		if s.gen != e.gen {
			s.gen, s.idx = e.gen, int32(len(e.heads))
			e.heads = append(e.heads, s)
			e.count = append(e.count, 0)
		}
		e.count[s.idx]++
	}
	// Prefix sums: count[g] becomes the start of group g.
	var sum int32
	for g, n := range e.count {
		e.count[g] = sum
		sum += n
	}
	if cap(e.order) < len(items) {
		e.order = make([]int32, len(items))
	}
	e.order = e.order[:len(items)]
	for i := range items {
		g := items[i].s.idx
		e.order[e.count[g]] = int32(i)
		e.count[g]++
	}
}

func (e *encoder) eachGroup(items []item, f func(items []item, idx []int32)) {
	start := 0
	for g := range e.heads {
		end := int(e.count[g])
		f(items, e.order[start:end])
		start = end
	}
}

func appendSampleMsg(b []byte, num protowire.Number, v float64, t int64) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	size := 9
	if t != 0 {
		size += 1 + protowire.SizeVarint(uint64(t))
	}
	b = protowire.AppendVarint(b, uint64(size))
	b = protowire.AppendTag(b, 1, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(v))
	if t != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(t))
	}
	return b
}

type marshaler interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
}

// appendMsg appends a gogo-generated message as field num.
func appendMsg(b []byte, num protowire.Number, m marshaler) []byte {
	n := m.Size()
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	start := len(b)
	b = append(b, make([]byte, n)...)
	_, _ = m.MarshalToSizedBuffer(b[start : start+n])
	return b
}

func (e *encoder) appendV1Series(items []item, idx []int32) {
	s := items[idx[0]].s
	ts := appendRW1Labels(e.ts[:0], s.labels())
	for _, i := range idx {
		it := &items[i]
		switch {
		case it.ex != nil:
			e.sub = appendRW1Labels(e.sub[:0], *it.ex)
			e.sub = appendValueTime(e.sub, it.v, it.t)
			ts = protowire.AppendTag(ts, 3, protowire.BytesType)
			ts = protowire.AppendBytes(ts, e.sub)
		case it.h != nil:
			h := prompb.FromIntHistogram(it.t, it.h)
			ts = appendMsg(ts, 4, &h)
		case it.fh != nil:
			h := prompb.FromFloatHistogram(it.t, it.fh)
			ts = appendMsg(ts, 4, &h)
		default:
			ts = appendSampleMsg(ts, 2, it.v, it.t)
		}
	}
	e.ts = ts
	e.buf = protowire.AppendTag(e.buf, 1, protowire.BytesType)
	e.buf = protowire.AppendBytes(e.buf, ts)
}

// ref returns the request's symbol ref of global id (string s).
func (e *encoder) ref(id uint32, s string) uint32 {
	if id == 0 {
		return 0
	}
	if int(id) >= len(e.loc) {
		// append's growth (1.25× for large arrays), not doubling: the
		// array is as long as the dictionary.
		e.loc = append(e.loc, make([]symLoc, int(id)+1-len(e.loc))...)
		e.loc = e.loc[:cap(e.loc)]
	}
	l := &e.loc[id]
	if l.gen != e.lgen {
		l.gen = e.lgen
		l.ref = uint32(len(e.syms))
		e.syms = append(e.syms, s)
	}
	return l.ref
}

// refExtra returns the ref of a string outside the dictionary.
func (e *encoder) refExtra(s string) uint32 {
	if s == "" {
		return 0
	}
	if e.extra == nil {
		e.extra = map[string]uint32{}
	}
	if r, ok := e.extra[s]; ok {
		return r
	}
	r := uint32(len(e.syms))
	e.syms = append(e.syms, s)
	e.extra[s] = r
	return r
}

func appendPacked(b []byte, num protowire.Number, refs []uint32) []byte {
	if len(refs) == 0 {
		return b
	}
	n := 0
	for _, r := range refs {
		n += (bits.Len32(r|1) + 6) / 7
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	for _, r := range refs {
		// protowire.AppendVarint, for 32 bits and inlined: refs are on
		// the per-sample path (16 per series of the realistic shape).
		for r >= 0x80 {
			b = append(b, byte(r)|0x80)
			r >>= 7
		}
		b = append(b, byte(r))
	}
	return b
}

func (e *encoder) appendV2Series(items []item, idx []int32) {
	s := items[idx[0]].s
	e.refs = e.refs[:0]
	i := 0
	s.labels().Range(func(l labels.Label) {
		e.refs = append(e.refs, e.ref(s.ids[i], l.Name), e.ref(s.ids[i+1], l.Value))
		i += 2
	})
	ts := appendPacked(e.ts[:0], 1, e.refs)
	for _, i := range idx {
		it := &items[i]
		switch {
		case it.ex != nil:
			e.refs = e.refs[:0]
			it.ex.Range(func(l labels.Label) {
				e.refs = append(e.refs, e.refExtra(l.Name), e.refExtra(l.Value))
			})
			e.sub = appendPacked(e.sub[:0], 1, e.refs)
			e.sub = appendValueTime(e.sub, it.v, it.t)
			ts = protowire.AppendTag(ts, 4, protowire.BytesType)
			ts = protowire.AppendBytes(ts, e.sub)
		case it.h != nil:
			h := writev2.FromIntHistogram(0, it.t, it.h)
			ts = appendMsg(ts, 3, &h)
		case it.fh != nil:
			h := writev2.FromFloatHistogram(0, it.t, it.fh)
			ts = appendMsg(ts, 3, &h)
		default:
			ts = appendSampleMsg(ts, 2, it.v, it.t)
		}
	}
	if m := s.meta.Load(); m != nil {
		e.sub = e.sub[:0]
		if t := writev2.FromMetadataType(m.typ); t != 0 {
			e.sub = protowire.AppendTag(e.sub, 1, protowire.VarintType)
			e.sub = protowire.AppendVarint(e.sub, uint64(t))
		}
		if r := e.ref(m.hid, m.help); r != 0 {
			e.sub = protowire.AppendTag(e.sub, 3, protowire.VarintType)
			e.sub = protowire.AppendVarint(e.sub, uint64(r))
		}
		if r := e.ref(m.uid, m.unit); r != 0 {
			e.sub = protowire.AppendTag(e.sub, 4, protowire.VarintType)
			e.sub = protowire.AppendVarint(e.sub, uint64(r))
		}
		ts = protowire.AppendTag(ts, 5, protowire.BytesType)
		ts = protowire.AppendBytes(ts, e.sub)
	}
	e.ts = ts
	e.buf = protowire.AppendTag(e.buf, 5, protowire.BytesType)
	e.buf = protowire.AppendBytes(e.buf, ts)
}

// appendValueTime appends an exemplar's value (field 2) and timestamp
// (field 3), numbered alike in Remote-Write 1.0 and 2.0.
func appendValueTime(b []byte, v float64, t int64) []byte {
	b = protowire.AppendTag(b, 2, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(v))
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(t))
}
