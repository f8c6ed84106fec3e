package write

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/flow-telemetry/flow/components/loki/write/internal/wal"
)

// source is where an endpoint's worker reads records from: the WAL, or a
// memory queue when the WAL is off. A source outlives workers: when an
// endpoint is reconfigured its new worker continues from the same source.
type source interface {
	// next returns the next record and a position to commit once it and
	// everything before it is delivered. ok is false when deadline (zero:
	// none) passes first.
	next(ctx context.Context, deadline time.Time) (payload []byte, pos wal.Position, ok bool, err error)
	// commit records that everything up to pos is delivered (or dropped).
	commit(pos wal.Position)
	// rewind makes every record read since the last commit readable again,
	// when a worker stops without delivering them.
	rewind()
	// backlog is what is not yet delivered (committed).
	backlog() backlog
	// backlogBytes is backlog().bytes, cheaply (checked on every Send).
	backlogBytes() int64
	close()
}

// walSource reads an endpoint's records from the WAL.
type walSource struct {
	c      *Component
	w      *wal.WAL
	ledger *ledger
	name   string
	r      *wal.Reader

	mu        sync.Mutex // committed is read by debug info
	committed wal.Position
}

func (s *walSource) next(ctx context.Context, deadline time.Time) ([]byte, wal.Position, bool, error) {
	return s.r.Next(ctx, deadline)
}

func (s *walSource) commit(pos wal.Position) {
	s.c.commitPosition(s.w, s.name, pos)
	s.mu.Lock()
	s.committed = pos
	s.mu.Unlock()
}

func (s *walSource) rewind() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.r.Seek(s.committed)
}

func (s *walSource) backlog() backlog {
	s.mu.Lock()
	from := s.committed
	s.mu.Unlock()
	return s.ledger.of(s.w, from, s.w.Durable())
}

func (s *walSource) backlogBytes() int64 {
	s.mu.Lock()
	from := s.committed
	s.mu.Unlock()
	return s.w.SizeBetween(from, s.w.Durable())
}

func (s *walSource) close() { s.r.Close() }

// memQueue holds records in memory for one endpoint when the WAL is off. It
// is bounded in bytes: Send blocks while it is full, which pushes back on
// the source (a Firehose source then answers 503 and Firehose retries).
type memQueue struct {
	capacity int64

	mu       sync.Mutex
	records  [][]byte
	inflight [][]byte // read since the last commit
	// meta holds, for inflight then records, each record's entries and
	// when it was accepted.
	meta     []recordMeta
	bytes    int64
	entries  int64
	closed   bool
	readable chan struct{} // closed and replaced when a record is added
	space    chan struct{} // closed and replaced when bytes shrink
	seq      int64         // records handed out, the "position" committed
}

func newMemQueue(capacity int64) *memQueue {
	return &memQueue{capacity: capacity, readable: make(chan struct{}), space: make(chan struct{})}
}

// setCapacity changes the bound (queue_config { capacity } on a reload);
// a larger one wakes senders waiting for space.
func (q *memQueue) setCapacity(capacity int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if capacity > q.capacity {
		close(q.space)
		q.space = make(chan struct{})
	}
	q.capacity = capacity
}

type recordMeta struct {
	entries int64
	at      time.Time
}

var errQueueClosed = errors.New("endpoint removed")

// push adds a record, waiting for space until ctx ends. A record larger than
// the whole capacity is accepted when the queue is empty, so it cannot block
// forever.
func (q *memQueue) push(ctx context.Context, rec []byte) error {
	n := int64(len(rec))
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return errQueueClosed
		}
		if q.bytes == 0 || q.bytes+n <= q.capacity {
			q.records = append(q.records, rec)
			m := recordMeta{entries: int64(recordEntries(rec)), at: time.Now()}
			q.meta = append(q.meta, m)
			q.bytes += n
			q.entries += m.entries
			close(q.readable)
			q.readable = make(chan struct{})
			q.mu.Unlock()
			return nil
		}
		space := q.space
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-space:
		}
	}
}

func (q *memQueue) next(ctx context.Context, deadline time.Time) ([]byte, wal.Position, bool, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		q.mu.Lock()
		if len(q.records) > 0 {
			rec := q.records[0]
			q.records[0] = nil
			q.records = q.records[1:]
			q.inflight = append(q.inflight, rec)
			q.seq++
			pos := wal.Position{Offset: q.seq}
			q.mu.Unlock()
			return rec, pos, true, nil
		}
		if q.closed {
			q.mu.Unlock()
			return nil, wal.Position{}, false, errQueueClosed
		}
		readable := q.readable
		q.mu.Unlock()
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return nil, wal.Position{}, false, nil
			}
			if timer == nil {
				timer = time.NewTimer(d)
			}
			timeout = timer.C
		}
		select {
		case <-ctx.Done():
			return nil, wal.Position{}, false, ctx.Err()
		case <-readable:
		case <-timeout:
			return nil, wal.Position{}, false, nil
		}
	}
}

// commit frees the records up to pos (a count of records handed out).
func (q *memQueue) commit(pos wal.Position) {
	q.mu.Lock()
	defer q.mu.Unlock()
	done := int(int64(len(q.inflight)) - (q.seq - pos.Offset))
	if done <= 0 {
		return
	}
	for i, r := range q.inflight[:done] {
		q.bytes -= int64(len(r))
		q.entries -= q.meta[i].entries
	}
	q.inflight = append(q.inflight[:0], q.inflight[done:]...)
	q.meta = append(q.meta[:0], q.meta[done:]...)
	close(q.space)
	q.space = make(chan struct{})
}

func (q *memQueue) rewind() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.records = append(q.inflight, q.records...)
	q.seq -= int64(len(q.inflight))
	q.inflight = nil
}

func (q *memQueue) backlog() backlog {
	q.mu.Lock()
	defer q.mu.Unlock()
	bl := backlog{bytes: q.bytes, entries: q.entries}
	if len(q.meta) > 0 {
		bl.oldest = q.meta[0].at
	}
	return bl
}

func (q *memQueue) backlogBytes() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

func (q *memQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.readable)
		close(q.space)
		q.readable = make(chan struct{})
		q.space = make(chan struct{})
	}
}
