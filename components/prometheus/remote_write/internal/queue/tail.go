package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/prometheus/prometheus/tsdb/wlog"
)

// Tailing the WAL.
//
// flow reads the WAL with its own tailer on wlog.LiveReader rather than
// Prometheus' wlog.Watcher: the watcher sends only samples newer than the
// moment it starts, which it notes in its own goroutine, so whoever sends
// the older ones (flow's replay) cannot know exactly where to stop without
// watching the process's open files or sleeping; and a sample scraped
// before that moment but committed after it is lost between the two. The
// tailer instead starts at a WAL position: it sends every sample of
// segment From and later (those this process committed, at start-up),
// and reads the segments before From only for series and metadata. The
// samples before From are the replay's. The boundary is a segment number,
// so nothing is sent twice or skipped, whatever the timestamps.

// Consumer receives what a Tailer reads (a *Queue).
type Consumer interface {
	StoreSeries([]record.RefSeries, int)
	StoreMetadata([]record.RefMetadata)
	UpdateSeriesSegment([]record.RefSeries, int)
	SetSegment(int)
	SeriesReset(int)
	Append([]record.RefSample) bool
	AppendHistograms([]record.RefHistogramSample) bool
	AppendFloatHistograms([]record.RefFloatHistogramSample) bool
	AppendExemplars([]record.RefExemplar) bool
}

// TailOptions configure a Tailer.
type TailOptions struct {
	Dir string // the WAL directory
	// From is the first segment whose samples are sent.
	From int
	// After: samples with this timestamp or older are not sent
	// (math.MinInt64: all are).
	After   int64
	Logger  *slog.Logger
	Metrics *wlog.LiveReaderMetrics // nil: unregistered ones
	// Poll is how often the WAL is read without a Notify (default 1 s).
	Poll time.Duration
	// OnError hears of every failure to read the WAL (nil: logged only).
	OnError func(error)
}

// Tailer reads the WAL and hands what it reads to a Consumer.
type Tailer struct {
	o      TailOptions
	c      Consumer
	notify chan struct{}
	lastCp int
	// position, for tests and debug: the segment being read.
	seg int
}

// NewTailer returns a tailer; Run starts it.
func NewTailer(o TailOptions, c Consumer) *Tailer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = wlog.NewLiveReaderMetrics(nil)
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	return &Tailer{o: o, c: c, notify: make(chan struct{}, 1), lastCp: -1}
}

// Notify tells the tailer that the WAL was written (wlog.WriteNotified).
func (t *Tailer) Notify() { signal(t.notify) }

// errStop ends Run: ctx ended or the consumer stopped.
var errStop = errors.New("tailer stopped")

// Run tails the WAL until ctx ends or the consumer stops.
func (t *Tailer) Run(ctx context.Context) error {
	cpDir, cpIdx, err := wlog.LastCheckpoint(t.o.Dir)
	switch {
	case err == nil:
		if err := t.readCheckpoint(cpDir, cpIdx, false); err != nil {
			return err
		}
		t.lastCp = cpIdx
	case errors.Is(err, record.ErrNotFound):
	default:
		return fmt.Errorf("looking for a WAL checkpoint: %w", err)
	}
	seg := t.lastCp + 1
	for {
		err := t.tail(ctx, seg)
		switch {
		case err == nil:
			seg++
		case errors.Is(err, errStop):
			return nil
		case errors.Is(err, os.ErrNotExist):
			// Truncated away, or not created yet.
			first, last, lerr := wlog.Segments(t.o.Dir)
			if lerr != nil {
				return lerr
			}
			if first >= 0 && seg < first {
				seg = first
				continue
			}
			if first >= 0 && seg < last {
				seg++ // a gap: the segment was removed by a repair
				continue
			}
			if !t.wait(ctx) {
				return nil
			}
		default:
			return err
		}
	}
}

func (t *Tailer) wait(ctx context.Context) bool {
	tk := time.NewTimer(t.o.Poll)
	defer tk.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.notify:
	case <-tk.C:
	}
	return true
}

// tail reads segment seg until a later segment exists and seg is read to
// its end (nil), or ctx ends (errStop).
func (t *Tailer) tail(ctx context.Context, seg int) error {
	f, err := wlog.OpenReadSegment(wlog.SegmentName(t.o.Dir, seg))
	if err != nil {
		return err
	}
	defer f.Close()
	t.seg = seg
	t.c.SetSegment(seg)
	r := wlog.NewLiveReader(t.o.Logger, t.o.Metrics, f)
	rs := newRecordState(t.o.Logger)
	lastGC := time.Now()
	for {
		rerr := t.read(r, seg, rs)
		if errors.Is(rerr, errStop) {
			return rerr
		}
		if ctx.Err() != nil {
			return t.drain(r, seg, rs)
		}
		_, last, err := wlog.Segments(t.o.Dir)
		if err != nil {
			return err
		}
		if last > seg {
			// seg is complete: read what is left and move on.
			if rerr == nil {
				rerr = t.read(r, seg, rs)
			}
			if errors.Is(rerr, errStop) {
				return rerr
			}
			if rerr != nil {
				t.failed(fmt.Errorf("skipping the rest of corrupt WAL segment %d: %w", seg, rerr))
			}
			return nil
		}
		if rerr != nil {
			// A corrupt record in the segment being written: wait for the
			// writer to move on (a repair reopens the WAL in a new one).
			t.failed(fmt.Errorf("reading WAL segment %d: %w", seg, rerr))
		}
		if time.Since(lastGC) > 5*time.Second {
			lastGC = time.Now()
			t.collectSeries()
		}
		if !t.wait(ctx) {
			return t.drain(r, seg, rs)
		}
	}
}

// drain reads, once more, what the segment holds when the tailer is told to
// stop, so a clean stop sends every sample committed before it: the last
// commit's notification may not have been seen yet (the stop and the
// commit race), and the queue is flushed only after the tailer returns.
func (t *Tailer) drain(r *wlog.LiveReader, seg int, rs *recordState) error {
	if err := t.read(r, seg, rs); err != nil && !errors.Is(err, errStop) {
		t.failed(fmt.Errorf("reading WAL segment %d at stop: %w", seg, err))
	}
	return errStop
}

func (t *Tailer) failed(err error) {
	t.o.Logger.Error("tailing the WAL", "err", err)
	if t.o.OnError != nil {
		t.o.OnError(err)
	}
}

// collectSeries drops the series of segments a new checkpoint replaced.
func (t *Tailer) collectSeries() {
	cpDir, cpIdx, err := wlog.LastCheckpoint(t.o.Dir)
	if err != nil || cpIdx <= t.lastCp {
		return
	}
	if err := t.readCheckpoint(cpDir, cpIdx, true); err != nil {
		t.o.Logger.Warn("reading a WAL checkpoint for series", "err", err)
		return
	}
	t.c.SeriesReset(cpIdx)
	t.lastCp = cpIdx
}

// readCheckpoint hands the checkpoint's series (and metadata) to the
// consumer: as new series at start, as still alive for collection.
func (t *Tailer) readCheckpoint(dir string, idx int, gc bool) error {
	rc, err := wlog.NewSegmentsReader(dir)
	if err != nil {
		return err
	}
	defer rc.Close()
	r := wlog.NewReader(rc)
	dec := record.NewDecoder(labels.NewSymbolTable(), t.o.Logger)
	var series []record.RefSeries
	var md []record.RefMetadata
	for r.Next() {
		rec := r.Record()
		switch dec.Type(rec) {
		case record.Series:
			series, err = dec.Series(rec, series[:0])
			if err != nil {
				return err
			}
			if gc {
				t.c.UpdateSeriesSegment(series, idx)
			} else {
				t.c.StoreSeries(series, idx)
			}
		case record.Metadata:
			if gc {
				continue
			}
			md, err = dec.Metadata(rec, md[:0])
			if err != nil {
				return err
			}
			t.c.StoreMetadata(md)
		}
	}
	return r.Err()
}

// recordState is one segment's decoder.
type recordState struct {
	dec record.Decoder
}

func newRecordState(logger *slog.Logger) *recordState {
	// One symbol table per segment, so it does not grow without end.
	return &recordState{dec: record.NewDecoder(labels.NewSymbolTable(), logger)}
}

// Decoding buffers are pooled rather than kept by each tailer: a record
// holds a whole commit (a scrape of a target), and a buffer the size of
// the largest one per tailer would stay allocated for good.
var (
	seriesBufs  = sync.Pool{New: func() any { return new([]record.RefSeries) }}
	sampleBufs  = sync.Pool{New: func() any { return new([]record.RefSample) }}
	histBufs    = sync.Pool{New: func() any { return new([]record.RefHistogramSample) }}
	fhistBufs   = sync.Pool{New: func() any { return new([]record.RefFloatHistogramSample) }}
	exemplarBuf = sync.Pool{New: func() any { return new([]record.RefExemplar) }}
	metaBufs    = sync.Pool{New: func() any { return new([]record.RefMetadata) }}
)

// decodeWith decodes a record into a pooled buffer and hands it to use.
func decodeWith[T any](pool *sync.Pool, rec []byte, dec func([]byte, []T) ([]T, error), use func([]T) bool) (bool, error) {
	bp := pool.Get().(*[]T)
	defer pool.Put(bp)
	var err error
	*bp, err = dec(rec, (*bp)[:0])
	if err != nil {
		return true, err
	}
	ok := use(*bp)
	clear(*bp) // no references kept in the pool
	return ok, nil
}

// read hands the records available in r to the consumer: nil at the end
// of what is written so far, errStop if the consumer stopped, or the
// reader's error.
func (t *Tailer) read(r *wlog.LiveReader, seg int, rs *recordState) error {
	send := seg >= t.o.From
	after := t.o.After
	for r.Next() {
		rec := r.Record()
		var err error
		ok := true
		d := &rs.dec
		switch d.Type(rec) {
		case record.Series:
			ok, err = decodeWith(&seriesBufs, rec, d.Series, func(ss []record.RefSeries) bool {
				t.c.StoreSeries(ss, seg)
				return true
			})
		case record.Metadata:
			ok, err = decodeWith(&metaBufs, rec, d.Metadata, func(md []record.RefMetadata) bool {
				t.c.StoreMetadata(md)
				return true
			})
		case record.Samples, record.SamplesV2:
			if !send {
				continue
			}
			ok, err = decodeWith(&sampleBufs, rec, d.Samples, func(ss []record.RefSample) bool {
				return t.c.Append(newer(ss, after, func(s record.RefSample) int64 { return s.T }))
			})
		case record.HistogramSamples, record.CustomBucketsHistogramSamples, record.HistogramSamplesV2:
			if !send {
				continue
			}
			ok, err = decodeWith(&histBufs, rec, d.HistogramSamples, func(hs []record.RefHistogramSample) bool {
				return t.c.AppendHistograms(newer(hs, after, func(s record.RefHistogramSample) int64 { return s.T }))
			})
		case record.FloatHistogramSamples, record.CustomBucketsFloatHistogramSamples, record.FloatHistogramSamplesV2:
			if !send {
				continue
			}
			ok, err = decodeWith(&fhistBufs, rec, d.FloatHistogramSamples, func(hs []record.RefFloatHistogramSample) bool {
				return t.c.AppendFloatHistograms(newer(hs, after, func(s record.RefFloatHistogramSample) int64 { return s.T }))
			})
		case record.Exemplars:
			if !send {
				continue
			}
			ok, err = decodeWith(&exemplarBuf, rec, d.Exemplars, func(es []record.RefExemplar) bool {
				return t.c.AppendExemplars(newer(es, after, func(s record.RefExemplar) int64 { return s.T }))
			})
		}
		if err != nil {
			return fmt.Errorf("decoding a WAL record in segment %d: %w", seg, err)
		}
		if !ok {
			return errStop
		}
	}
	if err := r.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// newer keeps the samples with a timestamp above after, in place.
func newer[S any](in []S, after int64, ts func(S) int64) []S {
	if after == math.MinInt64 {
		return in
	}
	out := in[:0]
	for _, s := range in {
		if ts(s) > after {
			out = append(out, s)
		}
	}
	return out
}
