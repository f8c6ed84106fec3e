package write

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/flow-telemetry/flow/components/loki/write/internal/wal"
)

// A delivery is one run of an endpoint's worker. Its dispatcher (the
// worker's goroutine) reads records from the source in order, decodes them,
// and adds each entry to the open batch of its stream's shard; each of the
// endpoint's queue_config > min_shards shards has a sender goroutine that
// pushes its sealed batches one at a time, in order, while the dispatcher
// goes on reading. A stream (tenant and labels) always maps to the same
// shard, so its entries reach Loki in the order they were accepted however
// many shards push at once, as in Alloy.
//
// Positions stay exact under parallelism: a record's end is committed only
// once every entry of it and of every earlier record is delivered (or
// dropped), the low watermark across shards that the tracker keeps. After a
// crash, replay starts there: entries of other shards delivered past it are
// sent again (Loki keeps one copy of identical entries), none are lost.
type delivery struct {
	e      *endpoint
	ctx    context.Context // the worker's; stop cancels it
	shards []*shard
	tr     tracker
	wg     sync.WaitGroup // senders
	// free holds batches their senders pushed, for the dispatcher to fill
	// again (with their buffers) rather than allocate new ones.
	free chan *batch

	rec  decodedRecord
	refs []shardRef // the current record's streams, resolved to batch slots
	// partial is set when adding rec stopped before its entry at, so that
	// a queue drained at shutdown finishes it before reading on.
	partial   bool
	recSeq    uint64
	partialAt int
}

// shard is one sender of an endpoint.
type shard struct {
	idx int
	// open gathers entries; held are sealed batches not yet handed over
	// (only when stopping). Both belong to the dispatcher.
	open *batch
	held []*batch
	// ch carries sealed batches to the sender: one can wait while another
	// is pushed, so reading, decoding and batching overlap the HTTP push.
	ch chan *batch
	// Sender-owned: its encoder buffers, and broken, set once a batch could
	// not be delivered while stopping, after which the shard's later
	// batches are not pushed, so no stream gets a gap that a later replay
	// would fill out of order.
	enc    pushEncoder
	broken bool
}

// shardRef is a record stream's shard and, while b is that shard's open
// batch, its slot in it.
type shardRef struct {
	s   *shard
	b   *batch
	ref streamRef
}

func (e *endpoint) newDelivery(ctx context.Context) *delivery {
	n := max(e.args.QueueConfig.MinShards, 1)
	d := &delivery{e: e, ctx: ctx, shards: make([]*shard, n), free: make(chan *batch, 2*n)}
	d.tr = tracker{src: e.src, pending: make([][]uint64, n)}
	for i := range d.shards {
		s := &shard{idx: i, open: d.getBatch(), ch: make(chan *batch, 1)}
		d.shards[i] = s
		d.wg.Add(1)
		go d.send(s)
	}
	return d
}

// run is the worker: dispatch until stopped, then finish as stop asked.
func (e *endpoint) run(ctx context.Context) {
	d := e.newDelivery(ctx)
	d.dispatch()
	d.finish()
}

// dispatch reads, decodes and batches records until the worker is stopped
// or the source closes, sealing batches when they are full and once they
// are batch_wait old.
func (d *delivery) dispatch() {
	e := d.e
	for d.ctx.Err() == nil {
		payload, end, ok, err := e.src.next(d.ctx, d.deadline())
		if err != nil {
			if d.ctx.Err() != nil || errors.Is(err, wal.ErrClosed) || errors.Is(err, errQueueClosed) {
				return
			}
			e.log.Error("reading queued log entries failed; retrying", "endpoint", e.name, "err", err)
			e.recordFailure(fmt.Errorf("reading the WAL: %w", err))
			sleep(d.ctx, time.Second)
			continue
		}
		if !ok { // a batch is batch_wait old
			if !d.sealExpired(d.ctx) {
				return
			}
			continue
		}
		if !d.add(d.ctx, payload, end) {
			return
		}
	}
}

// deadline is when the oldest open batch is batch_wait old (zero: none).
func (d *delivery) deadline() time.Time {
	var t time.Time
	for _, s := range d.shards {
		if s.open.empty() {
			continue
		}
		if at := s.open.created.Add(d.e.args.BatchWait); t.IsZero() || at.Before(t) {
			t = at
		}
	}
	return t
}

func (d *delivery) sealExpired(ctx context.Context) bool {
	now := time.Now()
	for _, s := range d.shards {
		if !s.open.empty() && !now.Before(s.open.created.Add(d.e.args.BatchWait)) {
			if !d.seal(ctx, s) {
				return false
			}
		}
	}
	return true
}

// add puts a record's entries into their shards' batches, sealing a batch
// that would pass batch_size or max_streams first. It returns false if ctx
// ended while a sealed batch waited for its sender; the record is then
// partly batched, and its end is not committed, so it is read again.
func (d *delivery) add(ctx context.Context, payload []byte, end wal.Position) bool {
	e := d.e
	seq := d.tr.read(end)
	if err := d.rec.decode(payload); err != nil {
		// A record that passed its CRC but does not decode was written by
		// a different version; skip it rather than wedge the endpoint.
		e.log.Error("skipping an undecodable WAL record", "endpoint", e.name, "err", err)
		e.m.droppedEntries.WithLabelValues(e.name, "corrupt").Inc()
		d.tr.dispatched(seq)
		return true
	}
	d.refs = d.refs[:0]
	for _, k := range d.rec.streams {
		d.refs = append(d.refs, shardRef{s: d.shardOf(k)})
	}
	d.recSeq = seq
	return d.addEntries(ctx, 0)
}

// addEntries adds the current record's entries from the i-th on.
func (d *delivery) addEntries(ctx context.Context, from int) bool {
	e := d.e
	limit := int(e.args.BatchSize)
	d.partial = false
	for i := from; i < len(d.rec.entries); i++ {
		de := &d.rec.entries[i]
		r := &d.refs[de.stream]
		s := r.s
		size := entrySize(de, d.rec.meta)
		if s.open.bytes+size > limit && !s.open.empty() {
			if !d.seal(ctx, s) {
				d.partial, d.partialAt = true, i
				return false
			}
		}
		if r.b != s.open || r.ref.gen != s.open.gen {
			ref, ok := s.open.ref(d.rec.streams[de.stream], e.maxStreams)
			if !ok { // max_streams reached: push what the batch has first
				if !d.seal(ctx, s) {
					d.partial, d.partialAt = true, i
					return false
				}
				ref, _ = s.open.ref(d.rec.streams[de.stream], e.maxStreams)
			}
			r.b, r.ref = s.open, ref
		}
		if s.open.empty() {
			d.tr.open(s.idx, d.recSeq)
		}
		s.open.add(r.ref, de, d.rec.meta, size)
	}
	d.tr.dispatched(d.recSeq)
	return true
}

// shardOf maps a stream to its shard.
func (d *delivery) shardOf(k streamKey) *shard {
	return d.shards[shardIndex(k, len(d.shards))]
}

// shardIndex hashes a stream's tenant and labels (FNV-1a: fixed, so a
// stream keeps its shard across restarts) onto one of n shards.
func shardIndex(k streamKey, n int) int {
	if n == 1 {
		return 0
	}
	h := uint64(14695981039346656037)
	for i := 0; i < len(k.tenant); i++ {
		h = (h ^ uint64(k.tenant[i])) * 1099511628211
	}
	h = (h ^ 0xff) * 1099511628211
	for i := 0; i < len(k.labels); i++ {
		h = (h ^ uint64(k.labels[i])) * 1099511628211
	}
	return int(h % uint64(n))
}

// seal hands s's open batch to its sender, after any held ones, waiting
// while the sender is busy. It returns false if ctx ended first; the batch
// is then held for finish.
func (d *delivery) seal(ctx context.Context, s *shard) bool {
	if !s.open.empty() {
		s.held = append(s.held, s.open)
		// The next open batch is taken once the sender has taken the
		// sealed one, by when it has freed the batch it pushed before.
		s.open = nil
		defer func() { s.open = d.getBatch() }()
	}
	for len(s.held) > 0 {
		select {
		case s.ch <- s.held[0]:
			s.held[0] = nil
			s.held = s.held[1:]
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// send is a shard's sender: it pushes batches in order and tells the
// tracker about each delivered one.
func (d *delivery) send(s *shard) {
	defer d.wg.Done()
	for b := range s.ch {
		if !s.broken && d.deliver(s, b) {
			d.tr.done(s.idx)
			d.putBatch(b)
			continue
		}
		s.broken = true
		d.tr.lost(b)
	}
}

// getBatch returns an empty batch, a pushed one if one is free.
func (d *delivery) getBatch() *batch {
	select {
	case b := <-d.free:
		return b
	default:
		return newBatch()
	}
}

// putBatch empties a pushed batch and frees it for getBatch, keeping
// buffers up to 1.5 × batch_size: a batch's entries, encoded, are its
// batch_size, one entry more, their protobuf framing (15-20 bytes an
// entry) and less than a chunk per stream (see chunkSize).
func (d *delivery) putBatch(b *batch) {
	b.reset(int(d.e.args.BatchSize) * 3 / 2)
	select {
	case d.free <- b:
	default:
	}
}

// deliver pushes b, retrying while the worker runs; once it is stopped, it
// tries within the drain time as stop asked (see endpoint.stop).
func (d *delivery) deliver(s *shard, b *batch) bool {
	if d.ctx.Err() == nil && d.e.flush(d.ctx, b, &s.enc, true) {
		return true
	}
	dctx, retry := d.e.drainContext()
	return dctx != nil && dctx.Err() == nil && d.e.flush(dctx, b, &s.enc, retry)
}

// finish runs once the worker is stopped: it hands every batch in hand to
// the senders and, at shutdown, the rest of the WAL or queue too, all
// within the drain time; then it waits for the senders and rewinds the
// source to the committed position, so that a successor worker, or the next
// start, delivers what is left.
func (d *delivery) finish() {
	e := d.e
	dctx, drainQueue := e.drainContext()
	if dctx != nil {
		ok := d.sealAll(dctx)
		if ok && drainQueue && d.partial {
			ok = d.addEntries(dctx, d.partialAt)
		}
		for ok && drainQueue && dctx.Err() == nil {
			payload, end, got, err := e.src.next(dctx, time.Now())
			if err != nil || !got {
				break
			}
			ok = d.add(dctx, payload, end)
		}
		if ok {
			d.sealAll(dctx)
		}
	}
	for _, s := range d.shards {
		close(s.ch)
	}
	d.wg.Wait()
	for _, s := range d.shards {
		for _, b := range s.held {
			d.tr.lost(b)
		}
		d.tr.lost(s.open)
	}
	if n := d.tr.lostEntries; drainQueue && !e.durable && n > 0 {
		e.log.Error("log entries not delivered before shutdown were lost (enable the WAL to keep them)", "endpoint", e.name, "entries", n)
		e.m.droppedEntries.WithLabelValues(e.name, "shutdown").Add(float64(n))
	}
	e.src.rewind()
}

func (d *delivery) sealAll(ctx context.Context) bool {
	for _, s := range d.shards {
		if !d.seal(ctx, s) {
			return false
		}
	}
	return true
}

// tracker commits an endpoint's low watermark. Records are numbered in the
// order the dispatcher reads them; each shard lists the first record of
// each of its undelivered batches (open or sealed), oldest first. Every
// record before the smallest of those, and before the first record not yet
// wholly batched, is delivered: its end is committed.
type tracker struct {
	src source

	mu          sync.Mutex
	base        uint64         // number of ends[0]
	ends        []wal.Position // ends of the records read and not committed
	next        uint64         // number of the next record read
	batched     uint64         // records before this one are wholly batched
	committed   uint64         // records before this one are committed
	pending     [][]uint64     // per shard
	lostEntries int64          // entries of batches not delivered when stopping
}

// read numbers a record read from the source and notes its end.
func (t *tracker) read(end wal.Position) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	seq := t.next
	t.next++
	t.ends = append(t.ends, end)
	return seq
}

// open notes a new batch of shard i whose first entry is of record seq.
func (t *tracker) open(i int, seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending[i] = append(t.pending[i], seq)
}

// dispatched notes that record seq is wholly batched.
func (t *tracker) dispatched(seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.batched = seq + 1
	t.advance()
}

// done notes that shard i's oldest batch is delivered or dropped.
func (t *tracker) done(i int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending[i] = t.pending[i][1:]
	t.advance()
}

// lost counts a batch that was not delivered; it stays pending, so the
// watermark never passes it.
func (t *tracker) lost(b *batch) {
	n := 0
	for _, tb := range b.tenants {
		if !tb.done {
			n += tb.entries
		}
	}
	t.mu.Lock()
	t.lostEntries += int64(n)
	t.mu.Unlock()
}

func (t *tracker) advance() {
	low := t.batched
	for _, p := range t.pending {
		if len(p) > 0 && p[0] < low {
			low = p[0]
		}
	}
	if low <= t.committed {
		return
	}
	pos := t.ends[low-1-t.base]
	t.ends = t.ends[low-t.base:]
	t.base, t.committed = low, low
	t.src.commit(pos)
}
