package write

import (
	"context"
	"fmt"
	"time"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/loki/write/internal/wal"
)

// send is the receiver's Send: it encodes entries into one record and, with
// the WAL, returns once the record is fsynced; without it, once every
// endpoint's queue has taken it (waiting while a queue is full).
func (c *Component) send(ctx context.Context, entries []loki.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	loki.PublishEntries(c.opts.Live(), entries)
	c.mu.RLock()
	w, led, external, none := c.wal, c.ledger, c.external, len(c.endpoints) == 0
	var queues []*memQueue
	if w == nil {
		for _, e := range c.endpoints {
			if q, ok := e.src.(*memQueue); ok {
				queues = append(queues, q)
			}
		}
	}
	c.mu.RUnlock()
	if none {
		// Nothing would ever read these entries (an endpoint added later
		// starts from new entries), so they are not kept.
		return nil
	}
	if w != nil {
		if err := c.full(); err != nil {
			c.m.refusedFull.Add(float64(len(entries)))
			return err
		}
	}

	enc := c.encoders.Get().(*encoder)
	rec, n, dropped := enc.encode(entries, external)
	if dropped > 0 {
		c.m.entriesNoLabels.Add(float64(dropped))
	}
	if n == 0 {
		c.encoders.Put(enc)
		return nil
	}
	if w != nil {
		now, size := time.Now(), len(rec)
		p, err := w.Write(rec, func(start, end wal.Position) { led.appended(start, end, n, now) })
		// The record is in the file: its buffer goes back before the
		// fsync, which concurrent Sends share and which is most of their
		// time, so Sends waiting on it hold no record each.
		c.encoders.Put(enc)
		if err == nil {
			err = w.WaitDurable(p)
		}
		if err != nil {
			c.m.walAppendErrors.Inc()
			c.mu.Lock()
			c.appendErr, c.appendAt = err, time.Now()
			c.mu.Unlock()
			return fmt.Errorf("loki.write: %w", err)
		}
		c.m.walBytes.Add(float64(size))
		c.m.entriesReceived.Add(float64(n))
		c.clearAppendErr()
		return nil
	}
	// The queues keep the record, so it cannot stay in the pooled encoder.
	payload := append([]byte(nil), rec[wal.HeaderSize:]...)
	c.encoders.Put(enc)
	for _, q := range queues {
		if err := q.push(ctx, payload); err != nil {
			return fmt.Errorf("loki.write: queue for an endpoint is full: %w", err)
		}
	}
	c.m.entriesReceived.Add(float64(n))
	return nil
}

// full returns a *loki.FullError while an endpoint's WAL backlog is over
// wal > max_backlog_size, else nil (always nil without a WAL, where Send
// waits for room in the memory queues instead).
func (c *Component) full() error {
	c.mu.RLock()
	w, bound := c.wal, int64(c.args.WAL.MaxBacklogSize)
	var worst string
	var worstN int64
	for _, e := range c.endpoints {
		if n := e.src.backlogBytes(); n > worstN {
			worst, worstN = e.name, n
		}
	}
	c.mu.RUnlock()
	if w == nil || worstN <= bound {
		return nil
	}
	return &loki.FullError{
		Component:  c.opts.ID,
		Reason:     fmt.Sprintf("endpoint %q has %d bytes in the WAL not yet delivered, over wal > max_backlog_size (%d bytes); entries are taken again once delivery catches up", worst, worstN, bound),
		RetryAfter: fullRetryAfter,
	}
}

// fullRetryAfter is the wait a full loki.write asks of sources.
const fullRetryAfter = time.Second

func (c *Component) clearAppendErr() {
	c.mu.RLock()
	failed := c.appendErr != nil
	c.mu.RUnlock()
	if failed {
		c.mu.Lock()
		c.appendErr = nil
		c.mu.Unlock()
	}
}
