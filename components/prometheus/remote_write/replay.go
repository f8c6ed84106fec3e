package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"time"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/prometheus/prometheus/tsdb/wlog"
)

// Replay sends the samples of the WAL that an endpoint has not yet
// received (newer than its marker M, see tracker.go) before the endpoint's
// live queue sends anything: the endpoint's tailer starts only after it
// (endpoints.go), so each series still reaches the receiver in timestamp order.
//
// Samples newer than M but not newer than H (the newest timestamp any
// delivered request carried) may or may not have arrived. They go in
// ordinary batches with the rest: a receiver such as Prometheus refuses a
// whole request if one of its samples is older than what it holds for the
// series, and the replay queue's client then splits that request until
// only the samples already there are left out (replaysplit.go). The
// tracker moves M with every delivery, so after a kill -9 the uncertain
// samples are about the requests that were in flight: typically one
// sample per series, which the receiver takes either as new or as an exact
// duplicate, so nothing needs splitting (20,000 series: 10 requests, not
// 20,000).
//
// Replay sends through flow's own replay sender (replaysend.go: batching,
// Remote-Write 1.0/2.0 encoding, retries with backoff honouring
// Retry-After), fed from the WAL read here.

// replayJob describes one endpoint's replay.
type replayJob struct {
	name   string
	ep     EndpointOptions
	client *endpointClient
	tr     *tracker
	// firstOwnSegment is the first WAL segment this process wrote: the
	// replay reads the segments before it (an earlier run's), the live
	// tailer the rest. The replayed samples are registered with the
	// tracker as they are read (this run's are already).
	firstOwnSegment int
}

// errOwnSegments ends the replay's WAL read at the first segment of this
// run.
var errOwnSegments = errors.New("reached this run's segments")

// replay runs a job to its end (or ctx's), then opens the live queue.
func (c *Component) replay(ctx context.Context, job replayJob) {
	log := c.opts.Logger.With("endpoint", job.name)
	// The marker as of now, not as of the last periodic flush: after a
	// queue restart the old queue has just delivered what it held.
	job.tr.advance(time.Now())
	m, h := job.tr.state()
	start := time.Now()
	res, err := c.replayRange(ctx, job, m, h, math.MaxInt64)
	if err != nil && ctx.Err() == nil {
		log.Error("replaying undelivered samples failed; continuing with live data", "err", err)
	}
	if res.sent > 0 {
		log.Info("replayed samples left in the WAL", "samples", res.sent, "maybe_delivered_before", res.uncertain,
			"requests", res.requests, "already_there_or_refused", res.refused, "duration", time.Since(start))
	}
}

// replayResult is what a replay sent.
type replayResult struct {
	sent      int   // samples handed to the replay queue
	uncertain int   // of them, those that may have arrived before (≤ H)
	requests  int64 // requests sent, parts of split ones included
	refused   int64 // samples the receiver refused for good (already there)
}

// replayRange sends the WAL's samples with from < t ≤ to through a
// replay sender (replaysend.go), and waits until every one of them has
// reached a final outcome. Samples at or below h may already be at the
// receiver.
func (c *Component) replayRange(ctx context.Context, job replayJob, from, h, to int64) (replayResult, error) {
	var res replayResult
	if to <= from {
		return res, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	byRef := map[uint64]labels.Labels{}
	labelsOf := func(ref uint64) labels.Labels { return byRef[ref] }
	withHist := job.tr.sendsHistograms()
	v2 := job.ep.ProtobufMessage != string(remoteapi.WriteV1MessageType)
	split := &splittingClient{ep: job.client, v2: v2, h: h}
	qc := job.ep.QueueOptions
	s := newReplaySender(ctx, &countingClient{WriteClient: split, v2: v2, tr: job.tr, onError: c.accountingError}, job.tr, labelsOf,
		replaySenderOptions{v2: v2, maxSamples: qc.MaxSamplesPerSend, maxShards: qc.MaxShards,
			minBackoff: qc.MinBackoff, maxBackoff: qc.MaxBackoff})
	nothing := func() error { return nil }
	count := func(n, uncertain int, err error) error {
		res.sent += n
		res.uncertain += uncertain
		return err
	}
	err := readWAL(filepath.Join(c.opts.DataPath, "wal"), c.opts.Logger, func(seg int, typ record.Type, rec []byte, dec *record.Decoder) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if seg >= job.firstOwnSegment {
			return errOwnSegments
		}
		const register = true
		switch typ {
		case record.Series:
			series, err := dec.Series(rec, nil)
			if err != nil {
				return err
			}
			for _, sr := range series {
				byRef[uint64(sr.Ref)] = sr.Labels
			}
		case record.Samples, record.SamplesV2:
			samples, err := dec.Samples(rec, nil)
			if err != nil {
				return err
			}
			return count(replayInRange(samples, func(x record.RefSample) (uint64, int64) { return uint64(x.Ref), x.T },
				from, h, to, nothing, register, job.tr, labelsOf, func(k []record.RefSample) bool {
					out := make([]replaySample, len(k))
					for i, x := range k {
						out[i] = replaySample{ref: uint64(x.Ref), t: x.T, v: x.V}
					}
					return s.add(out...)
				}))
		case record.HistogramSamples, record.CustomBucketsHistogramSamples, record.HistogramSamplesV2:
			if !withHist {
				return nil
			}
			hs, err := dec.HistogramSamples(rec, nil)
			if err != nil {
				return err
			}
			return count(replayInRange(hs, func(x record.RefHistogramSample) (uint64, int64) { return uint64(x.Ref), x.T },
				from, h, to, nothing, register, job.tr, labelsOf, func(k []record.RefHistogramSample) bool {
					out := make([]replaySample, len(k))
					for i, x := range k {
						out[i] = replaySample{ref: uint64(x.Ref), t: x.T, h: x.H}
					}
					return s.add(out...)
				}))
		case record.FloatHistogramSamples, record.CustomBucketsFloatHistogramSamples, record.FloatHistogramSamplesV2:
			if !withHist {
				return nil
			}
			hs, err := dec.FloatHistogramSamples(rec, nil)
			if err != nil {
				return err
			}
			return count(replayInRange(hs, func(x record.RefFloatHistogramSample) (uint64, int64) { return uint64(x.Ref), x.T },
				from, h, to, nothing, register, job.tr, labelsOf, func(k []record.RefFloatHistogramSample) bool {
					out := make([]replaySample, len(k))
					for i, x := range k {
						out[i] = replaySample{ref: uint64(x.Ref), t: x.T, fh: x.FH}
					}
					return s.add(out...)
				}))
		case record.Exemplars:
			if !job.ep.SendExemplars {
				return nil
			}
			es, err := dec.Exemplars(rec, nil)
			if err != nil {
				return err
			}
			// Exemplars are not counted by the delivery marker: sent with
			// the samples of their window, they are not waited for.
			var out []replaySample
			for _, e := range es {
				if e.T > from && e.T <= to {
					out = append(out, replaySample{ref: uint64(e.Ref), t: e.T, v: e.V, ex: &e.Labels})
				}
			}
			if len(out) > 0 && !s.add(out...) {
				return errors.New("replay queue stopped")
			}
		case record.Metadata:
			md, err := dec.Metadata(rec, nil)
			if err != nil {
				return err
			}
			s.storeMetadata(md)
		}
		return nil
	})
	if errors.Is(err, errOwnSegments) {
		err = nil
	}
	if err != nil {
		cancel()
	}
	ferr := s.finish()
	res.requests, res.refused = split.requests.Load(), split.refused.Load()
	if err != nil {
		return res, err
	}
	return res, ferr
}

func toCounts(m map[int64]int64) []tsCount {
	out := make([]tsCount, 0, len(m))
	for t, n := range m {
		out = append(out, tsCount{t: t, n: n})
	}
	return out
}

// replayInRange hands the samples of one WAL record (floats, histograms or
// float histograms: refT reads a sample's series and timestamp) that fall in
// (from, to] to the replay queue through send. When register is set, the
// segment predates this run and the samples the endpoint's rules keep are
// first registered with the tracker, so their delivery moves the marker.
// It returns how many samples it sent, and how many of them were at or
// below h (may have arrived before).
func replayInRange[S any](samples []S, refT func(S) (uint64, int64), from, h, to int64, ensure func() error,
	register bool, tr *tracker, labelsOf func(ref uint64) labels.Labels, send func([]S) bool) (int, int, error) {
	keep := samples[:0]
	uncertain := 0
	for _, s := range samples {
		if _, t := refT(s); t > from && t <= to {
			keep = append(keep, s)
			if t <= h {
				uncertain++
			}
		}
	}
	if len(keep) == 0 {
		return 0, 0, nil
	}
	if err := ensure(); err != nil {
		return 0, 0, err
	}
	if register {
		counts := map[int64]int64{}
		rules := tr.hasRules()
		for _, s := range keep {
			ref, t := refT(s)
			if rules && !tr.keeps(storage.SeriesRef(ref), labelsOf(ref)) {
				continue
			}
			counts[t]++
		}
		if err := tr.expect(toCounts(counts)); err != nil {
			return 0, 0, err
		}
	}
	if !send(keep) {
		return 0, 0, errors.New("replay queue stopped")
	}
	return len(keep), uncertain, nil
}

// readWAL reads every record of the WAL in dir: the last checkpoint, then
// the segments after it. seg is the segment a record comes from (the
// checkpoint's index for checkpoint records). A torn record at the very end (the segment being written)
// ends the read without error.
func readWAL(dir string, logger *slog.Logger, f func(seg int, typ record.Type, rec []byte, dec *record.Decoder) error) error {
	dec := record.NewDecoder(labels.NewSymbolTable(), logger)
	cpDir, cpIdx, err := wlog.LastCheckpoint(dir)
	switch {
	case err == nil:
		if err := readSegments(cpDir, -1, -1, cpIdx, &dec, f); err != nil {
			return fmt.Errorf("reading checkpoint %s: %w", cpDir, err)
		}
	case errors.Is(err, record.ErrNotFound):
		cpIdx = -1
	default:
		return err
	}
	first, last, err := wlog.Segments(dir)
	if err != nil {
		return err
	}
	if first < 0 {
		return nil
	}
	first = max(first, cpIdx+1)
	for s := first; s <= last; s++ {
		err := readSegments(dir, s, s, s, &dec, f)
		if err != nil && s == last && isTornTail(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading WAL segment %d: %w", s, err)
		}
	}
	return nil
}

func readSegments(dir string, first, last, idx int, dec *record.Decoder, f func(int, record.Type, []byte, *record.Decoder) error) error {
	var rc io.ReadCloser
	var err error
	if first < 0 {
		rc, err = wlog.NewSegmentsReader(dir)
	} else {
		rc, err = wlog.NewSegmentsRangeReader(wlog.SegmentRange{Dir: dir, First: first, Last: last})
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	r := wlog.NewReader(rc)
	for r.Next() {
		rec := r.Record()
		if err := f(idx, dec.Type(rec), rec, dec); err != nil {
			return err
		}
	}
	return r.Err()
}

// isTornTail reports whether err is what reading a record that is still
// being written looks like.
func isTornTail(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ce *wlog.CorruptionErr
	if errors.As(err, &ce) {
		return strings.Contains(ce.Error(), "unexpected") || strings.Contains(ce.Error(), "last record")
	}
	return false
}
