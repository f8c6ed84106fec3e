package queue

import (
	"sync"
	"sync/atomic"
	"time"
)

// shard sends the samples of its series, one request at a time.
type shard struct {
	q   *Queue
	cfg Config

	mu      sync.Mutex
	pending []item
	first   time.Time // when the oldest pending sample came (roughly)

	notify   chan struct{} // a batch may be ready
	space    chan struct{} // room was made
	haltCh   chan struct{}
	haltOnce sync.Once
	flushCh  chan struct{}
	flushing atomic.Bool
	done     chan struct{}

	enc    encoder
	batch  []item
	counts map[int64]int64
}

func newShard(q *Queue, cfg Config) *shard {
	return &shard{
		q: q, cfg: cfg,
		notify: make(chan struct{}, 1), space: make(chan struct{}, 1),
		haltCh: make(chan struct{}), flushCh: make(chan struct{}), done: make(chan struct{}),
		enc: encoder{v2: cfg.V2}, counts: map[int64]int64{},
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

type enqueueResult int

const (
	enqueued enqueueResult = iota
	halted
	stopped
)

// enqueueMany adds the first k items, as many as fit, waiting while
// the shard is full and none fit.
func (s *shard) enqueueMany(items []item) (int, enqueueResult) {
	for {
		s.mu.Lock()
		if s.isHalted() {
			s.mu.Unlock()
			return 0, halted
		}
		if room := s.cfg.Capacity - len(s.pending); room > 0 {
			k := min(room, len(items))
			was := len(s.pending)
			if was == 0 {
				s.first = time.Now()
			}
			s.pending = append(s.pending, items[:k]...)
			n := len(s.pending)
			s.mu.Unlock()
			s.q.m.pending.Add(float64(k))
			if was == 0 || n >= s.cfg.MaxSamplesPerSend {
				signal(s.notify)
			}
			return k, enqueued
		}
		s.mu.Unlock()
		s.q.m.enqueueRetries.Inc()
		select {
		case <-s.space:
		case <-s.haltCh:
		case <-s.q.ctx.Done():
			return 0, stopped
		}
	}
}

func (s *shard) isHalted() bool {
	select {
	case <-s.haltCh:
		return true
	default:
		return false
	}
}

// halt stops the shard once its request in flight has an outcome (a
// backoff wait is cut short); what it holds stays in pending.
func (s *shard) halt() { s.haltOnce.Do(func() { close(s.haltCh) }) }

// flush has the shard send everything it holds without waiting for
// batch_send_deadline, then stop.
func (s *shard) flush() {
	if !s.flushing.Swap(true) {
		close(s.flushCh)
	}
}

func (s *shard) run() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		batch := s.take(timer)
		if batch == nil {
			return
		}
		if !s.send(batch) {
			// Interrupted: the batch goes back in front, in order.
			s.mu.Lock()
			s.pending = append(batch, s.pending...)
			s.batch = nil
			s.mu.Unlock()
			s.q.m.pending.Add(float64(len(batch)))
			return
		}
	}
}

// take waits for a batch: max_samples_per_send samples, or fewer once
// batch_send_deadline passed since the oldest came. nil: stop.
func (s *shard) take(timer *time.Timer) []item {
	for {
		s.mu.Lock()
		if s.isHalted() || s.q.ctx.Err() != nil {
			s.mu.Unlock()
			return nil
		}
		n := len(s.pending)
		flushing := s.flushing.Load()
		wait := s.cfg.BatchSendDeadline - time.Since(s.first)
		if n >= s.cfg.MaxSamplesPerSend || (n > 0 && (flushing || wait <= 0)) {
			k := min(n, s.cfg.MaxSamplesPerSend)
			b := append(s.batch[:0], s.pending[:k]...)
			rest := copy(s.pending, s.pending[k:])
			clear(s.pending[rest:n])
			s.pending = s.pending[:rest]
			if rest > 0 {
				s.first = time.Now()
			}
			s.q.m.pending.Sub(float64(k))
			s.mu.Unlock()
			signal(s.space)
			s.batch = b
			return b
		}
		s.mu.Unlock()
		if n == 0 && flushing {
			return nil
		}
		if n == 0 {
			wait = time.Hour
		}
		timer.Reset(wait)
		select {
		case <-s.notify:
		case <-timer.C:
		case <-s.haltCh:
		case <-s.flushCh:
		case <-s.q.ctx.Done():
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// send sends one batch until it reaches a final outcome (true), or is
// interrupted (false).
func (s *shard) send(batch []item) bool {
	cfg := &s.cfg
	q := s.q
	clear(s.counts)
	var n counts
	var highest int64
	keep := batch
	if cfg.SampleAgeLimit > 0 {
		tooOld := time.Now().Add(-cfg.SampleAgeLimit).UnixMilli()
		keep = batch[:0:0]
		for _, it := range batch {
			if it.t < tooOld {
				if it.counted() {
					q.m.droppedTooOld.Inc()
					s.counts[it.t]++
				}
				continue
			}
			keep = append(keep, it)
		}
	}
	for i := range keep {
		it := &keep[i]
		switch {
		case it.ex != nil:
			n.exemplars++
			continue
		case it.h != nil || it.fh != nil:
			n.histograms++
		default:
			n.samples++
		}
		s.counts[it.t]++
		highest = max(highest, it.t)
	}
	if len(keep) > 0 {
		req := s.enc.encode(keep, &q.gen)
		failing := false
		res := q.sendRequest(q.ctx, s.haltCh, cfg, req, n, func() {
			if !failing {
				failing = true
				q.failing.Add(1)
			}
		})
		if failing {
			q.failing.Add(-1)
		}
		switch res {
		case interrupted:
			return false
		case delivered:
			n.sent(q.m, len(req))
			for {
				h := q.highestSent.Load()
				if highest <= h || q.highestSent.CompareAndSwap(h, highest) {
					break
				}
			}
			q.m.highestSent.Set(float64(q.highestSent.Load()) / 1000)
		}
	}
	q.out.Add(int64(n.samples + n.histograms))
	if cfg.OnDone != nil && len(s.counts) > 0 {
		cfg.OnDone(s.counts)
	}
	return true
}
