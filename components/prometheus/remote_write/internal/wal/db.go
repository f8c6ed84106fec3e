package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/prometheus/prometheus/tsdb/wlog"
	"github.com/prometheus/prometheus/util/compression"
)

// Options are the WAL's settings; zero values take agent's defaults.
type Options struct {
	// SegmentSize is the size of a WAL segment file (wlog.DefaultSegmentSize).
	SegmentSize int
	// Compression of records (none).
	Compression compression.Type
	// TruncateFrequency is how often the WAL is truncated (2h).
	TruncateFrequency time.Duration
	// MinWALTime and MaxWALTime (milliseconds) bound how long data stays
	// in the WAL (5m, 4h): see truncationTime.
	MinWALTime, MaxWALTime int64
	// Metadata makes UpdateMetadata write metadata records.
	Metadata bool
}

// Agent's defaults.
const (
	DefaultTruncateFrequency = 2 * time.Hour
	DefaultMinWALTime        = int64(5 * time.Minute / time.Millisecond)
	DefaultMaxWALTime        = int64(4 * time.Hour / time.Millisecond)
)

// withDefaults is agent's validateOptions.
func (o Options) withDefaults() Options {
	if o.SegmentSize <= 0 {
		o.SegmentSize = wlog.DefaultSegmentSize
	}
	if o.Compression == "" {
		o.Compression = compression.None
	}
	if o.TruncateFrequency <= 0 {
		o.TruncateFrequency = DefaultTruncateFrequency
	}
	if o.MinWALTime <= 0 {
		o.MinWALTime = DefaultMinWALTime
	}
	if o.MaxWALTime <= 0 {
		o.MaxWALTime = DefaultMaxWALTime
	}
	if o.MinWALTime > o.MaxWALTime {
		o.MaxWALTime = o.MinWALTime
	}
	if t := int64(o.TruncateFrequency / time.Millisecond); o.MaxWALTime < t {
		o.MaxWALTime = t
	}
	return o
}

// DB is an open WAL. Its appenders may be used concurrently; Close ends it.
type DB struct {
	logger *slog.Logger
	opts   Options
	wal    *wlog.WL
	locker *tsdbutil.DirLocker
	m      *metrics

	lowestSent func() int64
	notify     wlog.WriteNotified

	// mtx: commits and truncations hold it for reading, Close for writing.
	mtx sync.RWMutex
	// truncMu serialises truncations.
	truncMu sync.Mutex

	nextRef atomic.Uint64
	txIDs   atomic.Int64
	ix      *index
	// deleted holds the refs of series garbage-collected from memory,
	// with the last segment that may hold their samples: their series
	// records stay in checkpoints until then. Truncations only.
	deleted map[chunks.HeadSeriesRef]int

	appenders sync.Pool

	stopc chan struct{}
	donec chan struct{}
}

// Open opens (or creates) the WAL in dir/wal, reads the series of what is
// there (new series get refs above theirs), starts a new segment and
// truncates the WAL every opts.TruncateFrequency. lowestSent returns the
// newest timestamp every consumer of the WAL has sent (0 while unknown): the
// WAL keeps opts.MinWALTime of data behind it (see truncationTime).
func Open(logger *slog.Logger, reg prometheus.Registerer, dir string, opts Options, lowestSent func() int64) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if lowestSent == nil {
		lowestSent = func() int64 { return 0 }
	}
	opts = opts.withDefaults()
	// The lock file keeps two processes from writing one WAL; it and its
	// metric (prometheus_agent_clean_start) are agent's.
	locker, err := tsdbutil.NewDirLocker(dir, "agent", logger, reg)
	if err != nil {
		return nil, err
	}
	if err := locker.Lock(); err != nil {
		unregisterLocker(reg)
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		_ = locker.Release()
		unregisterLocker(reg)
		return nil, err
	}
	w, err := wlog.NewSize(logger, reg, filepath.Join(dir, "wal"), opts.SegmentSize, opts.Compression)
	if err != nil {
		m.unregister()
		_ = locker.Release()
		unregisterLocker(reg)
		return nil, fmt.Errorf("creating WAL: %w", err)
	}
	db := &DB{
		logger: logger, opts: opts, wal: w, locker: locker, m: m, lowestSent: lowestSent,
		ix: newIndex(), deleted: map[chunks.HeadSeriesRef]int{},
		stopc: make(chan struct{}), donec: make(chan struct{}),
	}
	db.appenders.New = func() any { return &appender{db: db} }

	if err := db.replay(); err != nil {
		// The same messages as agent's: flow's log tap watches for them.
		db.logger.Warn("encountered WAL read error, attempting repair", "err", err)
		if _, ok := errors.AsType[*wlog.CorruptionErr](err); ok {
			m.corruptions.Inc()
		}
		if err := w.Repair(err); err != nil {
			_ = w.Close()
			m.unregister()
			_ = locker.Release()
			unregisterLocker(reg)
			return nil, fmt.Errorf("repair corrupted WAL: %w", err)
		}
		db.logger.Info("successfully repaired WAL")
	}
	go db.run()
	return db, nil
}

// unregisterLocker removes the lock's gauge, which NewDirLocker registered.
func unregisterLocker(reg prometheus.Registerer) {
	if reg != nil {
		reg.Unregister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "prometheus_agent_clean_start", Help: "-1: lockfile is disabled. 0: a lockfile from a previous execution was replaced. 1: lockfile creation was clean"}))
	}
}

// SetWriteNotified sets who is told after every commit (WAL watchers).
// Call it before the first append.
func (db *DB) SetWriteNotified(wn wlog.WriteNotified) { db.notify = wn }

// SharedLabels returns the labels the writer holds for series ref if they
// equal l, else l: a reader of the WAL (the queue) keeps the writer's
// labels instead of a second copy of every series' labels.
func (db *DB) SharedLabels(ref chunks.HeadSeriesRef, l labels.Labels) labels.Labels {
	return db.ix.sharedLabels(ref, l)
}

// Dir is the WAL's directory (dir/wal).
func (db *DB) Dir() string { return db.wal.Dir() }

// Close stops truncating and closes the WAL. Appenders must be done.
func (db *DB) Close() error {
	// The truncation loop stops first: a truncation takes mtx for reading,
	// and one that started while Close waited for mtx would wait for Close
	// while Close waits for the loop (as tsdb/agent's Close can).
	close(db.stopc)
	<-db.donec
	db.mtx.Lock()
	defer db.mtx.Unlock()
	db.m.unregister()
	return errors.Join(db.locker.Release(), db.wal.Close())
}

func (db *DB) newRef() chunks.HeadSeriesRef { return chunks.HeadSeriesRef(db.nextRef.Add(1)) }

// replay reads the series of the WAL's checkpoint and segments, and the
// newest timestamp of each, as agent does.
func (db *DB) replay() error {
	db.logger.Info("replaying WAL, this may take a while", "dir", db.wal.Dir())
	start := time.Now()
	rp := replayState{dups: map[chunks.HeadSeriesRef]chunks.HeadSeriesRef{}, dec: record.NewDecoder(labels.NewSymbolTable(), db.logger)}

	dir, startFrom, err := wlog.LastCheckpoint(db.wal.Dir())
	if err != nil && !errors.Is(err, record.ErrNotFound) {
		return fmt.Errorf("find last checkpoint: %w", err)
	}
	if err == nil {
		sr, err := wlog.NewSegmentsReader(dir)
		if err != nil {
			return fmt.Errorf("open checkpoint: %w", err)
		}
		err = db.load(&rp, wlog.NewReader(sr), startFrom)
		_ = sr.Close()
		if err != nil {
			return fmt.Errorf("backfill checkpoint: %w", err)
		}
		startFrom++
		db.logger.Info("WAL checkpoint loaded")
	}
	_, last, err := wlog.Segments(db.wal.Dir())
	if err != nil {
		return fmt.Errorf("finding WAL segments: %w", err)
	}
	for i := startFrom; i <= last; i++ {
		seg, err := wlog.OpenReadSegment(wlog.SegmentName(db.wal.Dir(), i))
		if err != nil {
			return fmt.Errorf("open WAL segment: %d: %w", i, err)
		}
		sr := wlog.NewSegmentBufReader(seg)
		err = db.load(&rp, wlog.NewReader(sr), i)
		_ = sr.Close()
		if err != nil {
			return err
		}
		db.logger.Info("WAL segment loaded", "segment", i, "maxSegment", last)
	}
	if rp.unknown > 0 {
		db.logger.Warn("found sample referencing non-existing series", "skipped_series", rp.unknown)
	}
	db.m.replayDuration.Set(time.Since(start).Seconds())
	return nil
}

type replayState struct {
	dec record.Decoder
	// dups maps a second ref written for labels already known (an agent
	// race) to the first.
	dups    map[chunks.HeadSeriesRef]chunks.HeadSeriesRef
	unknown int
	series  []record.RefSeries
	samples []record.RefSample
	hists   []record.RefHistogramSample
	fhists  []record.RefFloatHistogramSample
	meta    []record.RefMetadata
}

// resolve maps a duplicate ref to its series' first ref, keeping the
// duplicate's series record until segment seg is truncated.
func (db *DB) resolve(rp *replayState, ref chunks.HeadSeriesRef, seg int) chunks.HeadSeriesRef {
	valid, ok := rp.dups[ref]
	if !ok {
		return ref
	}
	if last, ok := db.deleted[ref]; ok && last <= seg {
		db.deleted[ref] = seg
	}
	return valid
}

func (db *DB) seen(ref chunks.HeadSeriesRef, t int64, rp *replayState) {
	ms := db.ix.getByRef(ref, labels.EmptyLabels())
	if ms == nil {
		rp.unknown++
		return
	}
	if t > ms.lastTs.Load() {
		ms.lastTs.Store(t)
	}
}

func (db *DB) load(rp *replayState, r *wlog.Reader, seg int) error {
	lastRef := chunks.HeadSeriesRef(db.nextRef.Load())
	corrupt := func(what string, err error) error {
		return &wlog.CorruptionErr{Err: fmt.Errorf("decode %s: %w", what, err), Segment: r.Segment(), Offset: r.Offset()}
	}
	var err error
	for r.Next() {
		rec := r.Record()
		switch rp.dec.Type(rec) {
		case record.Series:
			if rp.series, err = rp.dec.Series(rec, rp.series[:0]); err != nil {
				return corrupt("series", err)
			}
			for _, e := range rp.series {
				if e.Ref == 0 || e.Ref > maxRef {
					return corrupt("series", fmt.Errorf("series ref %d out of range", e.Ref))
				}
				lastRef = max(lastRef, e.Ref)
				if old := db.ix.getByRef(e.Ref, labels.EmptyLabels()); old != nil && !labels.Equal(old.lset, e.Labels) {
					// The ref was given to other labels before (agent can
					// reuse the refs of series it dropped): the newer
					// record wins, as it does for every WAL reader.
					db.ix.remove(e.Ref, old.lset)
					db.m.activeSeries.Dec()
				}
				ref, _, created := db.ix.getOrSet(e.Labels.Hash(), e.Labels, math.MinInt64, func() chunks.HeadSeriesRef { return e.Ref })
				if created {
					db.m.activeSeries.Inc()
					continue
				}
				if ref == e.Ref {
					continue
				}
				rp.dups[e.Ref] = ref
				if last := db.deleted[e.Ref]; last <= seg {
					db.deleted[e.Ref] = seg
				}
			}
			clear(rp.series)
		case record.Samples, record.SamplesV2:
			if rp.samples, err = rp.dec.Samples(rec, rp.samples[:0]); err != nil {
				return corrupt("samples", err)
			}
			for _, s := range rp.samples {
				db.seen(db.resolve(rp, s.Ref, seg), s.T, rp)
			}
		case record.HistogramSamples, record.CustomBucketsHistogramSamples, record.HistogramSamplesV2:
			if rp.hists, err = rp.dec.HistogramSamples(rec, rp.hists[:0]); err != nil {
				return corrupt("histogram samples", err)
			}
			for _, s := range rp.hists {
				db.seen(db.resolve(rp, s.Ref, seg), s.T, rp)
			}
			clear(rp.hists)
		case record.FloatHistogramSamples, record.CustomBucketsFloatHistogramSamples, record.FloatHistogramSamplesV2:
			if rp.fhists, err = rp.dec.FloatHistogramSamples(rec, rp.fhists[:0]); err != nil {
				return corrupt("float histogram samples", err)
			}
			for _, s := range rp.fhists {
				db.seen(db.resolve(rp, s.Ref, seg), s.T, rp)
			}
			clear(rp.fhists)
		case record.Metadata:
			if rp.meta, err = rp.dec.Metadata(rec, rp.meta[:0]); err != nil {
				return corrupt("metadata", err)
			}
			for _, e := range rp.meta {
				orig := e.Ref
				ref := db.resolve(rp, e.Ref, seg)
				ms := db.ix.getByRef(ref, labels.EmptyLabels())
				if ms == nil {
					rp.unknown++
					continue
				}
				// A checkpoint writes active series before deleted ones: an
				// older duplicate must not overwrite the active one's.
				if orig < ref && !metadata.IsZeroHandle(db.ix.metadataOf(ref, ms)) {
					continue
				}
				db.ix.setMetadata(ref, ms, unique.Make(metadata.Metadata{Type: record.ToMetricType(e.Type), Unit: e.Unit, Help: e.Help}))
			}
			clear(rp.meta)
		default:
			// Tombstones, exemplars and unknown records carry nothing the
			// writer needs.
		}
	}
	db.nextRef.Store(uint64(lastRef))
	if r.Err() != nil {
		return fmt.Errorf("read records: %w", r.Err())
	}
	return nil
}

func (db *DB) run() {
	defer close(db.donec)
	for {
		select {
		case <-db.stopc:
			return
		case <-time.After(db.opts.TruncateFrequency):
			ts := truncationTime(db.opts, db.lowestSent(), timestamp.FromTime(time.Now()))
			db.logger.Debug("truncating the WAL", "ts", ts)
			if err := db.truncate(ts); err != nil {
				db.logger.Warn("failed to truncate WAL", "err", err)
			}
		}
	}
}

// truncationTime is agent's walTruncationTime: the time before which
// series without samples are dropped and samples are left out of the
// checkpoint. It keeps MinWALTime of data behind what has been sent, but
// no more than MaxWALTime in all, and never less than MinWALTime.
func truncationTime(opts Options, lowestSent, now int64) int64 {
	ts := max(lowestSent-opts.MinWALTime, 0)
	ts = max(ts, now-opts.MaxWALTime)
	return min(ts, max(now-opts.MinWALTime, 0))
}

// Truncate runs a truncation at mint now, as the periodic one does.
func (db *DB) Truncate(mint int64) error { return db.truncate(mint) }

func (db *DB) truncate(mint int64) error {
	db.logger.Info("series GC started")
	db.mtx.RLock()
	defer db.mtx.RUnlock()
	db.truncMu.Lock()
	defer db.truncMu.Unlock()
	start := time.Now()

	db.gc(mint)
	db.logger.Info("series GC completed", "duration", time.Since(start))

	first, last, err := wlog.Segments(db.wal.Dir())
	if err != nil {
		return fmt.Errorf("get segment range: %w", err)
	}
	// A new segment, so that a WAL written slowly does not keep more than
	// it needs.
	if _, err := db.wal.NextSegment(); err != nil {
		return fmt.Errorf("next segment: %w", err)
	}
	last-- // never the segment being written
	if last < 0 {
		return nil
	}
	// The lower two thirds of the segments hold mostly obsolete samples;
	// fewer than two are not worth a checkpoint.
	last = first + (last-first)*2/3
	if last <= first {
		return nil
	}
	db.m.checkpointCreateTotal.Inc()
	keep := func(id chunks.HeadSeriesRef) bool {
		if db.ix.exists(id) {
			return true
		}
		seg, ok := db.deleted[id]
		return ok && seg > last
	}
	// No min-valid-time record: agent does not write one (older readers
	// would take it for corruption).
	if _, err := wlog.Checkpoint(db.logger, db.wal, first, last, keep, mint, false, false); err != nil {
		db.m.checkpointCreateFail.Inc()
		if _, ok := errors.AsType[*wlog.CorruptionErr](err); ok {
			db.m.corruptions.Inc()
		}
		return fmt.Errorf("create checkpoint: %w", err)
	}
	if err := db.wal.Truncate(last + 1); err != nil {
		// Tried again at the next truncation; segments a checkpoint
		// supersedes are ignored meanwhile.
		db.logger.Error("truncating segments failed", "err", err)
	}
	for ref, seg := range db.deleted {
		if seg <= last {
			delete(db.deleted, ref)
		}
	}
	db.m.checkpointDeleteTotal.Inc()
	db.m.deletedSeries.Set(float64(len(db.deleted)))
	if err := wlog.DeleteCheckpoints(db.wal.Dir(), last); err != nil {
		db.logger.Error("delete old checkpoints", "err", err)
		db.m.checkpointDeleteFail.Inc()
	}
	db.m.truncateDuration.Observe(time.Since(start).Seconds())
	db.logger.Info("WAL checkpoint complete", "first", first, "last", last, "duration", time.Since(start))
	return nil
}

// gc drops the series without a sample since mint from memory, keeping
// their series records in checkpoints until the current last segment is
// truncated.
func (db *DB) gc(mint int64) {
	deleted := db.ix.gc(mint)
	db.m.activeSeries.Sub(float64(len(deleted)))
	_, last, _ := wlog.Segments(db.wal.Dir())
	for _, ref := range deleted {
		db.deleted[ref] = last
	}
	db.m.deletedSeries.Set(float64(len(db.deleted)))
}
