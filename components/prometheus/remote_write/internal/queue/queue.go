// Package queue is prometheus.remote_write's sending queue: flow's own
// shards, batching, retry and Remote-Write 1.0/2.0 encoding, fed from the
// WAL by a Tailer (tail.go), on Prometheus' public packages only (the WAL
// record format, prompb and writev2 for the wire types, snappy).
//
// One Queue serves one endpoint. Samples are spread over shards by series,
// so each series' samples reach the receiver in WAL order; each shard
// sends one request at a time, of at most max_samples_per_send samples,
// once it has that many or batch_send_deadline has passed since its oldest
// waiting sample. A shard holds at most capacity samples; beyond that the
// tailer waits (and the samples wait in the WAL). A recoverable failure
// (as Config.Classify says: 5xx, 429, network errors) is retried with
// exponential backoff from min_backoff to max_backoff, never sooner than
// the Retry-After the endpoint gave (capped at max_backoff); any other
// failure drops the request, counted. Every request's samples are reported
// to Config.OnDone once they reached a final outcome (delivered or
// dropped), for exact delivery markers.
//
// Resharding: every ReshardInterval the queue computes the shards it
// needs as Prometheus does (time spent sending per sample × samples
// coming in per second, plus the backlog to catch up within the
// interval), within [min_shards, max_shards], and reshards when that is
// more than 30% away from the current number and no request is failing:
// shards finish the request they are sending, hand back what they hold,
// and new shards take it in the same order.
package queue

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/tsdb/record"

	"github.com/flow-telemetry/flow/internal/backoff"
)

// Sender sends one snappy-compressed request; attempt counts the earlier
// attempts of the same request.
type Sender interface {
	Send(ctx context.Context, req []byte, attempt int) error
}

// Config configures a queue.
type Config struct {
	Name, URL string // for metrics (remote_name, url); URL redacted
	V2        bool   // Remote-Write 2.0 (io.prometheus.write.v2.Request)

	Capacity, MaxSamplesPerSend, MinShards, MaxShards int
	BatchSendDeadline, MinBackoff, MaxBackoff         time.Duration
	SendExemplars, SendHistograms                     bool
	// SampleAgeLimit drops samples older than this at send time (0: none).
	SampleAgeLimit time.Duration

	// Labels maps a WAL series' labels to the labels sent (external
	// labels, write_relabel_config); false drops the series. nil sends
	// them unchanged.
	Labels func(labels.Labels) (labels.Labels, bool)
	// SharedLabels returns the labels the WAL writer holds for series ref
	// if they equal l, else l: a series then keeps the writer's labels
	// instead of the copy decoded from the WAL. It is called without the
	// queue's locks held and must not block on the queue. nil: keep l.
	SharedLabels func(ref uint64, l labels.Labels) labels.Labels
	// Classify says whether a failed send is retried, and after how long
	// at least (the endpoint's Retry-After; 0: none). nil retries nothing.
	Classify func(error) (retry bool, after time.Duration)
	// OnDone receives, per timestamp, the samples and histograms
	// (exemplars are not counted) of a request that reached its final
	// outcome. The map is reused after the call.
	OnDone func(counts map[int64]int64)
	// ReshardInterval is how often the shards needed are computed
	// (default 10 s).
	ReshardInterval time.Duration
	// Logger logs failed sends with Prometheus' messages ("Failed to send
	// batch, retrying", "non-recoverable error"); errors are the Sender's,
	// which must not carry secrets. nil: none.
	Logger *slog.Logger
}

func (c *Config) withDefaults() Config {
	o := *c
	o.MaxSamplesPerSend = max(o.MaxSamplesPerSend, 1)
	o.Capacity = max(o.Capacity, o.MaxSamplesPerSend)
	o.MinShards = max(o.MinShards, 1)
	o.MaxShards = max(o.MaxShards, o.MinShards)
	if o.BatchSendDeadline <= 0 {
		o.BatchSendDeadline = 5 * time.Second
	}
	o.MinBackoff = max(o.MinBackoff, time.Millisecond)
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.ReshardInterval <= 0 {
		o.ReshardInterval = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Queue is one endpoint's queue.
type Queue struct {
	sender Sender
	m      *queueMetrics

	cfgMu sync.RWMutex
	cfg   Config

	seriesMu sync.RWMutex
	series   seriesTable
	dict     *dict
	// metas interns metadata: the series of a family share one.
	metas map[seriesMetaKey]*seriesMeta

	// shardMu guards shards: held for reading by appends, for writing
	// while shards are replaced.
	shardMu sync.RWMutex
	shards  []*shard

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// stopping is closed when Stop begins: from then on a failed attempt
	// is not retried (see sendRequest).
	stopping     chan struct{}
	stoppingOnce sync.Once

	// For resharding.
	in        atomic.Int64 // samples enqueued
	out       atomic.Int64 // samples sent (final outcome)
	sendNanos atomic.Int64 // time spent in requests
	failing   atomic.Int64 // shards whose last attempt failed

	highestSent atomic.Int64
	gen         atomic.Uint64 // requests encoded (encoder scratch marks)
	// seriesGen counts rebuilds of the series (rebuildLocked).
	seriesGen atomic.Uint64
	// appendMu guards appendBuf, the scratch of appendItems.
	appendMu  sync.Mutex
	appendBuf []item
	buckets   [][]item
	// reshardMu serialises replacing the shards (reshard, Reconfigure,
	// dictionary rebuilds).
	reshardMu sync.Mutex
}

// New starts a queue with cfg.MinShards shards.
func New(cfg Config, sender Sender, m *Metrics) *Queue {
	c := cfg.withDefaults()
	q := &Queue{
		sender: sender, cfg: c,
		metas: map[seriesMetaKey]*seriesMeta{},
		dict:  newDict(), done: make(chan struct{}), stopping: make(chan struct{}),
	}
	q.m = m.forQueue(c.Name, c.URL, &c)
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.startShardsLocked(c.MinShards, nil)
	go q.reshardLoop()
	return q
}

func (q *Queue) config() Config {
	q.cfgMu.RLock()
	defer q.cfgMu.RUnlock()
	return q.cfg
}

// SetSegment shows the WAL segment the queue's tailer reads
// (prometheus_wal_watcher_current_segment{consumer=<name>}).
func (q *Queue) SetSegment(seg int) {
	q.m.m.currentSegment.WithLabelValues(q.m.lv[0]).Set(float64(seg))
}

// HighestSent is the newest timestamp of a sample delivered (0: none yet).
func (q *Queue) HighestSent() int64 { return q.highestSent.Load() }

// Shards is the number of shards running.
func (q *Queue) Shards() int {
	q.shardMu.RLock()
	defer q.shardMu.RUnlock()
	return len(q.shards)
}

// Reconfigure applies new settings without losing what the queue holds:
// the shards finish their requests in flight and stop, the series are
// prepared again for the new labels and protocol, and new shards take
// the samples held, in order.
func (q *Queue) Reconfigure(cfg Config) {
	c := cfg.withDefaults()
	q.replaceShards(func(n int) int { return min(max(n, c.MinShards), c.MaxShards) }, &c)
}

// replaceShards stops the shards (after their requests in flight), and
// starts shards(n) new ones with what they held. With cfg, the series are
// prepared again (new settings, or a fresh dictionary) first.
func (q *Queue) replaceShards(shards func(n int) int, cfg *Config) {
	q.reshardMu.Lock()
	defer q.reshardMu.Unlock()
	// Halt first, so that appends waiting on a full shard let go of
	// shardMu.
	q.shardMu.RLock()
	for _, s := range q.shards {
		s.halt()
	}
	q.shardMu.RUnlock()
	q.shardMu.Lock()
	defer q.shardMu.Unlock()
	held := q.stopShardsLocked()
	if cfg != nil {
		q.cfgMu.Lock()
		q.cfg = *cfg
		q.cfgMu.Unlock()
		q.m.configured(cfg)
		q.seriesMu.Lock()
		q.rebuildLocked(cfg)
		// Held samples point at the old series: point them at the new
		// ones; those of series now dropped are final.
		kept := held[:0]
		gone := map[int64]int64{}
		for _, it := range held {
			if s := q.series.get(it.s.ref); s != nil && !s.dropped() {
				it.s = s
				kept = append(kept, it)
			} else if it.counted() {
				gone[it.t]++
			}
		}
		clear(held[len(kept):])
		held = kept
		q.seriesMu.Unlock()
		if len(gone) > 0 && cfg.OnDone != nil {
			cfg.OnDone(gone)
		}
	}
	n := len(q.shards)
	if q.ctx.Err() == nil {
		n = shards(n)
	}
	q.startShardsLocked(n, held)
}

// reresolve points items at the current series of their refs and returns
// them; those whose series is dropped now are left out, and final.
func (q *Queue) reresolve(items []item) []item {
	gone := map[int64]int64{}
	kept := items[:0]
	q.seriesMu.RLock()
	for _, it := range items {
		it.s = q.series.get(it.s.ref)
		if it.s != nil && !it.s.dropped() {
			kept = append(kept, it)
		} else if it.counted() {
			gone[it.t]++
		}
	}
	q.seriesMu.RUnlock()
	if cfg := q.config(); len(gone) > 0 && cfg.OnDone != nil {
		cfg.OnDone(gone)
	}
	return kept
}

// rebuildLocked prepares every series again, with a new dictionary.
func (q *Queue) rebuildLocked(cfg *Config) {
	q.seriesGen.Add(1)
	q.dict = newDict()
	q.metas = map[seriesMetaKey]*seriesMeta{}
	old := q.series
	q.series = seriesTable{}
	old.each(func(ref uint64, o *series) {
		s := q.prepareLocked(ref, o.raw, cfg)
		s.seg = o.seg
		if m := o.meta.Load(); m != nil && cfg.V2 && !s.dropped() {
			q.setMetaLocked(s, m.typ, m.help, m.unit)
		}
	})
}

// Stop sends what the queue holds until ctx ends, then stops. What was not
// delivered stays in the WAL (and the delivery marker says so).
func (q *Queue) Stop(ctx context.Context) {
	q.stop(ctx)
	<-q.done // the reshard loop
	q.m.delete()
}

func (q *Queue) stop(ctx context.Context) {
	q.stoppingOnce.Do(func() { close(q.stopping) })
	q.reshardMu.Lock()
	defer q.reshardMu.Unlock()
	q.shardMu.RLock()
	shards := q.shards
	q.shardMu.RUnlock()
	for _, s := range shards {
		s.flush()
	}
	all := make(chan struct{})
	go func() {
		for _, s := range shards {
			<-s.done
		}
		close(all)
	}()
	select {
	case <-all:
	case <-ctx.Done():
	}
	q.cancel()
	<-all
}

// StoreSeries records series read from WAL segment seg. With
// Config.SharedLabels, it replaces the labels in ss by the shared ones.
func (q *Queue) StoreSeries(ss []record.RefSeries, seg int) {
	cfg := q.config()
	if cfg.SharedLabels != nil {
		// ss is the tailer's decoding buffer: the copy decoded is garbage
		// once replaced.
		for i := range ss {
			ss[i].Labels = cfg.SharedLabels(uint64(ss[i].Ref), ss[i].Labels)
		}
	}
	q.seriesMu.Lock()
	defer q.seriesMu.Unlock()
	for _, s := range ss {
		ref := uint64(s.Ref)
		q.prepareLocked(ref, s.Labels, &cfg).seg = int32(seg)
	}
}

// prepareLocked builds (or drops) the series sent for ref.
func (q *Queue) prepareLocked(ref uint64, raw labels.Labels, cfg *Config) *series {
	lbls, ok := raw, true
	if cfg.Labels != nil {
		lbls, ok = cfg.Labels(raw)
	}
	var s *series
	if !ok || lbls.IsEmpty() {
		// Dropped: kept, so its samples are known to be dropped.
		s = &series{ref: ref, raw: raw, sent: &dropSeries}
	} else {
		s = newSeries(ref, raw, lbls, cfg.V2, q.dict)
	}
	if old := q.series.get(ref); old != nil {
		s.seg = old.seg
		if !s.dropped() {
			s.meta.Store(old.meta.Load())
		}
	}
	q.series.set(ref, s)
	return s
}

// StoreMetadata records metric metadata of series (sent with 2.0).
func (q *Queue) StoreMetadata(md []record.RefMetadata) {
	if !q.config().V2 {
		return
	}
	q.seriesMu.Lock()
	defer q.seriesMu.Unlock()
	for _, m := range md {
		ref := uint64(m.Ref)
		s := q.series.get(ref)
		if s == nil || s.dropped() {
			continue
		}
		q.setMetaLocked(s, record.ToMetricType(m.Type), m.Help, m.Unit)
	}
}

func (q *Queue) setMetaLocked(s *series, typ model.MetricType, help, unit string) {
	if m := s.meta.Load(); m != nil && m.typ == typ && m.help == help && m.unit == unit {
		return
	}
	k := seriesMetaKey{typ: typ, help: help, unit: unit}
	m := q.metas[k]
	if m == nil {
		if len(q.metas) >= maxMetas {
			clear(q.metas) // bounded; series keep theirs
		}
		m = &seriesMeta{typ: typ, help: help, unit: unit, hid: q.dict.id(help), uid: q.dict.id(unit)}
		q.metas[k] = m
	}
	s.meta.Store(m)
}

// seriesMetaKey is a series' metadata, for interning.
type seriesMetaKey struct {
	typ        model.MetricType
	help, unit string
}

// maxMetas bounds the metadata interned.
const maxMetas = 100_000

// UpdateSeriesSegment notes that series are (still) in checkpoint seg.
func (q *Queue) UpdateSeriesSegment(ss []record.RefSeries, seg int) {
	q.seriesMu.Lock()
	defer q.seriesMu.Unlock()
	for _, s := range ss {
		if x := q.series.get(uint64(s.Ref)); x != nil {
			x.seg = int32(seg)
		}
	}
}

// SeriesReset forgets the series last seen before segment seg (the WAL
// was checkpointed and they are not in the checkpoint: gone).
func (q *Queue) SeriesReset(seg int) {
	q.seriesMu.Lock()
	q.series.each(func(ref uint64, s *series) {
		if int(s.seg) < seg {
			q.series.delete(ref)
		}
	})
	// The 2.0 dictionary only grows: rebuild it once it is much larger
	// than what the series use (series churn). Shards hold samples of
	// series with the old ids, so this goes through replaceShards.
	rebuild := q.config().V2 && q.dict.size() > 2*symbolsPerSeries*q.series.len()+1024
	q.seriesMu.Unlock()
	if rebuild {
		cfg := q.config()
		q.replaceShards(func(n int) int { return n }, &cfg)
	}
}

// symbolsPerSeries is a generous estimate of the distinct strings a
// series adds to the dictionary.
const symbolsPerSeries = 8

// Append queues samples; it blocks while their shards are full and
// reports false once the queue stopped.
func (q *Queue) Append(ss []record.RefSample) bool {
	return appendItems(q, ss, func(s record.RefSample) (uint64, item) {
		return uint64(s.Ref), item{t: s.T, v: s.V}
	})
}

// AppendHistograms queues native histograms (with SendHistograms).
func (q *Queue) AppendHistograms(hs []record.RefHistogramSample) bool {
	if !q.config().SendHistograms {
		return true
	}
	return appendItems(q, hs, func(h record.RefHistogramSample) (uint64, item) {
		return uint64(h.Ref), item{t: h.T, h: h.H}
	})
}

// AppendFloatHistograms queues float histograms (with SendHistograms).
func (q *Queue) AppendFloatHistograms(hs []record.RefFloatHistogramSample) bool {
	if !q.config().SendHistograms {
		return true
	}
	return appendItems(q, hs, func(h record.RefFloatHistogramSample) (uint64, item) {
		return uint64(h.Ref), item{t: h.T, fh: h.FH}
	})
}

// AppendExemplars queues exemplars (with SendExemplars).
func (q *Queue) AppendExemplars(es []record.RefExemplar) bool {
	if !q.config().SendExemplars {
		return true
	}
	return appendItems(q, es, func(e record.RefExemplar) (uint64, item) {
		l := e.Labels
		return uint64(e.Ref), item{t: e.T, v: e.V, ex: &l}
	})
}

func appendItems[S any](q *Queue, in []S, conv func(S) (uint64, item)) bool {
	q.appendMu.Lock()
	defer q.appendMu.Unlock()
	// Resolve the series of every sample under one read lock, then queue
	// them without it (a full shard may block; resharding needs the
	// series lock).
	items := q.appendBuf[:0]
	var unknown map[int64]int64
	q.seriesMu.RLock()
	gen := q.seriesGen.Load()
	for _, x := range in {
		ref, it := conv(x)
		s := q.series.get(ref)
		if s == nil || s.dropped() {
			if it.counted() {
				if s == nil {
					q.m.droppedUnknown.Inc()
				}
				// Dropped by relabelling, or of a series never seen:
				// never sent, so final now.
				if unknown == nil {
					unknown = map[int64]int64{}
				}
				unknown[it.t]++
			}
			continue
		}
		it.s = s
		items = append(items, it)
	}
	q.seriesMu.RUnlock()
	defer func() {
		clear(items)
		if cap(items) > 1<<14 {
			items = nil // a large record's scratch is not kept
		}
		q.appendBuf = items[:0]
	}()
	if unknown != nil {
		if cfg := q.config(); cfg.OnDone != nil {
			cfg.OnDone(unknown)
		}
	}
	q.shardMu.RLock()
	defer q.shardMu.RUnlock()
	var counted, highest int64
	for i := range items {
		highest = max(highest, items[i].t)
	}
	q.m.m.noteIn(highest)
	pending := items
	for len(pending) > 0 {
		if g := q.seriesGen.Load(); g != gen {
			// The series were prepared again meanwhile (Reconfigure):
			// the rest must point at the new ones.
			gen = g
			pending = q.reresolve(pending)
		}
		// Each shard's samples, in order, queued under one lock.
		n := len(q.shards)
		var buckets [][]item
		if n == 1 {
			buckets = [][]item{pending}
		} else {
			buckets = q.buckets[:0]
			for i := 0; i < n; i++ {
				var b []item
				if i < cap(q.buckets) {
					b = q.buckets[:cap(q.buckets)][i][:0]
				}
				buckets = append(buckets, b)
			}
			for _, it := range pending {
				i := it.s.ref % uint64(n)
				buckets[i] = append(buckets[i], it)
			}
		}
		var rest []item
		for i, b := range buckets {
			for len(b) > 0 {
				k, r := q.shards[i].enqueueMany(b)
				for _, it := range b[:k] {
					if it.counted() {
						counted++
					}
				}
				b = b[k:]
				if r == stopped {
					return false
				}
				if r == halted {
					rest = append(rest, b...)
					break
				}
			}
		}
		if n > 1 {
			for i := range buckets {
				clear(buckets[i])
			}
			q.buckets = buckets
		}
		pending = rest
		if len(rest) > 0 {
			// Halted for resharding: wait for the new shards.
			q.shardMu.RUnlock()
			q.shardMu.RLock()
		}
	}
	q.in.Add(counted)
	return q.ctx.Err() == nil
}

func (q *Queue) startShardsLocked(n int, held []item) {
	cfg := q.config()
	q.shards = make([]*shard, n)
	for i := range q.shards {
		q.shards[i] = newShard(q, cfg)
	}
	for _, it := range held {
		q.shards[it.s.ref%uint64(n)].pending = append(q.shards[it.s.ref%uint64(n)].pending, it)
	}
	for _, s := range q.shards {
		if len(s.pending) > 0 {
			s.first = time.Now()
		}
		go s.run()
	}
	q.m.shards.Set(float64(n))
}

// stopShardsLocked stops every shard after its request in flight and
// returns what they held, shard by shard, in order.
func (q *Queue) stopShardsLocked() []item {
	for _, s := range q.shards {
		s.halt()
	}
	var held []item
	for _, s := range q.shards {
		<-s.done
		held = append(held, s.pending...)
		s.pending = nil
	}
	return held
}

func (q *Queue) reshardLoop() {
	defer close(q.done)
	cfg := q.config()
	tk := time.NewTicker(cfg.ReshardInterval)
	defer tk.Stop()
	last := time.Now()
	var lastIn, lastOut, lastNanos int64
	for {
		select {
		case <-q.ctx.Done():
			return
		case now := <-tk.C:
			in, out, nanos := q.in.Load(), q.out.Load(), q.sendNanos.Load()
			secs := now.Sub(last).Seconds()
			want := desiredShards(float64(in-lastIn)/secs, float64(out-lastOut), time.Duration(nanos-lastNanos), q.pending(), secs)
			last, lastIn, lastOut, lastNanos = now, in, out, nanos
			cfg := q.config()
			want = min(max(want, cfg.MinShards), cfg.MaxShards)
			q.m.desired.Set(float64(want))
			cur := q.Shards()
			if q.failing.Load() > 0 || math.Abs(float64(want-cur)) <= 0.3*float64(cur) {
				continue
			}
			q.replaceShards(func(int) int { return want }, nil)
		}
	}
}

// desiredShards is the shards needed to send inRate samples per second
// when the samples sent meanwhile (sent) took busy in requests, plus the
// backlog within one interval.
func desiredShards(inRate, sent float64, busy time.Duration, backlog int, interval float64) int {
	if sent <= 0 || busy <= 0 {
		return 0 // nothing measured: keep within bounds
	}
	perSample := busy.Seconds() / sent
	return int(math.Ceil(perSample * (inRate + float64(backlog)/interval)))
}

func (q *Queue) pending() int {
	q.shardMu.RLock()
	defer q.shardMu.RUnlock()
	n := 0
	for _, s := range q.shards {
		s.mu.Lock()
		n += len(s.pending)
		s.mu.Unlock()
	}
	return n
}

// outcome of one request.
type outcome int

const (
	delivered outcome = iota
	dropped
	interrupted // halted or stopped: the batch is handed back or stays in the WAL
)

// sendRequest sends req until it reaches a final outcome, the shard is
// halted (between attempts) or the queue stops.
func (q *Queue) sendRequest(ctx context.Context, halt <-chan struct{}, cfg *Config, req []byte, n counts, onRetry func()) outcome {
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := q.sender.Send(ctx, req, attempt)
		d := time.Since(start)
		q.m.batchDuration.Observe(d.Seconds())
		q.sendNanos.Add(int64(d))
		if err == nil {
			return delivered
		}
		if ctx.Err() != nil {
			return interrupted
		}
		retry, after := false, time.Duration(0)
		if cfg.Classify != nil {
			retry, after = cfg.Classify(err)
		}
		if !retry {
			cfg.Logger.Error("non-recoverable error", "count", n.samples+n.histograms, "exemplarCount", n.exemplars, "metadataCount", n.metadata, "err", err)
			n.failed(q.m)
			return dropped
		}
		select {
		case <-q.stopping:
			// Stopping: the batch stays in the WAL, undelivered, and is
			// sent after the next start. Retrying now would only hold
			// up the shutdown (a SIGTERM, a reload) for the whole flush
			// deadline against an endpoint that is failing.
			cfg.Logger.Warn("Failed to send batch while stopping; it stays in the WAL for the next start", "err", err)
			return interrupted
		default:
		}
		cfg.Logger.Warn("Failed to send batch, retrying", "err", err)
		n.retried(q.m)
		if onRetry != nil {
			onRetry()
		}
		wait := max(backoff.Exponential(cfg.MinBackoff, cfg.MaxBackoff, attempt+1), min(after, cfg.MaxBackoff))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return interrupted
		case <-halt:
			t.Stop()
			return interrupted
		case <-q.stopping:
			t.Stop()
			return interrupted
		}
	}
}

// counts are what one request carries, for the metrics.
type counts struct{ samples, histograms, exemplars, metadata int }

func (n counts) failed(m *queueMetrics) {
	m.samplesFailed.Add(float64(n.samples))
	m.histFailed.Add(float64(n.histograms))
	m.exemplarsFailed.Add(float64(n.exemplars))
	m.mdFailed.Add(float64(n.metadata))
}

func (n counts) retried(m *queueMetrics) {
	m.samplesRetried.Add(float64(n.samples))
	m.histRetried.Add(float64(n.histograms))
	m.exemplarsRetried.Add(float64(n.exemplars))
	m.mdRetr.Add(float64(n.metadata))
}

func (n counts) sent(m *queueMetrics, bytes int) {
	m.samples.Add(float64(n.samples))
	m.histograms.Add(float64(n.histograms))
	m.exemplars.Add(float64(n.exemplars))
	if n.metadata > 0 {
		m.metadata.Add(float64(n.metadata))
		m.mdBytes.Add(float64(bytes))
	} else {
		m.bytes.Add(float64(bytes))
	}
}

// SendMetadata sends metric metadata (Remote-Write 1.0 metadata_config) in
// requests of at most perRequest entries, each retried like samples until
// it reaches a final outcome or ctx ends.
func (q *Queue) SendMetadata(ctx context.Context, md []scrape.MetricMetadata, perRequest int) error {
	cfg := q.config()
	perRequest = max(perRequest, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(q.ctx, cancel)
	defer stop()
	var buf []byte
	for len(md) > 0 {
		part := md[:min(perRequest, len(md))]
		md = md[len(part):]
		req := prompb.WriteRequest{Metadata: make([]prompb.MetricMetadata, 0, len(part))}
		for _, m := range part {
			req.Metadata = append(req.Metadata, prompb.MetricMetadata{
				Type: prompb.FromMetadataType(m.Type), MetricFamilyName: m.MetricFamily, Help: m.Help, Unit: m.Unit,
			})
		}
		raw, err := req.Marshal()
		if err != nil {
			return err
		}
		buf = snappy.Encode(buf[:cap(buf)], raw)
		n := counts{metadata: len(part)}
		switch q.sendRequest(ctx, nil, &cfg, buf, n, nil) {
		case delivered:
			n.sent(q.m, len(buf))
		case interrupted:
			return ctx.Err()
		case dropped:
			// Counted; the next part may fare better.
		}
	}
	return nil
}
