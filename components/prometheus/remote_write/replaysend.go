package remotewrite

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb/record"
)

// replaySender is flow's own queue for a replay (replay.go): it takes the
// samples (and, with send_exemplars, exemplars) replay reads from the WAL,
// groups them into requests of at most
// max_samples_per_send samples (one time series entry per series and
// request), encodes them as Remote-Write 1.0 (prompb) or 2.0 (writev2,
// with each series' type, help and unit), compresses them with snappy and
// sends them through the endpoint's client, wrapped in the splitting
// client and the delivery accounting. A recoverable failure (5xx, 429,
// network; 401/403 with retry_on_http_auth_error) is retried with backoff
// from min_backoff, doubling up to max_backoff, and never sooner than the
// Retry-After the endpoint asked for (capped at max_backoff).
//
// Series are spread over up to replayMaxShards shards by series, each
// sending one request at a time, so a series' samples reach the receiver
// in WAL order. Only Prometheus' public types are used: the WAL records
// (tsdb/record), the wire formats (prompb, writev2) and its HTTP client
// (remote.WriteClient).
type replaySender struct {
	ctx    context.Context
	client remote.WriteClient
	tr     *tracker
	v2     bool
	max    int
	minB   time.Duration
	maxB   time.Duration
	shards []*replayShard
	seed   maphash.Seed
	wg     sync.WaitGroup

	// series are the labels each WAL series is sent with (nil entry:
	// dropped by the endpoint's rules); meta is its metadata (2.0).
	// Both are used by add only; samples carry the pointers to shards
	// (a pointer is replaced, never changed in place).
	series map[uint64]*labels.Labels
	raw    func(ref uint64) labels.Labels
	meta   map[uint64]*metadata.Metadata

	errMu sync.Mutex
	err   error
}

// replayMaxShards bounds the requests a replay has in flight.
const replayMaxShards = 4

// replaySample is one sample (float, histogram or float histogram) or one
// exemplar (ex set) of a series.
type replaySample struct {
	ref uint64
	// Set by add: what the series is sent with.
	lbls *labels.Labels
	md   *metadata.Metadata
	t    int64
	v    float64
	h    *histogram.Histogram
	fh   *histogram.FloatHistogram
	ex   *labels.Labels // an exemplar's labels: t and v are the exemplar's
}

type replayShard struct {
	pending []replaySample
	batches chan []replaySample
}

type replaySenderOptions struct {
	v2                     bool
	maxSamples, maxShards  int
	minBackoff, maxBackoff time.Duration
}

func newReplaySender(ctx context.Context, client remote.WriteClient, tr *tracker, raw func(uint64) labels.Labels, o replaySenderOptions) *replaySender {
	s := &replaySender{
		ctx: ctx, client: client, tr: tr, v2: o.v2, max: max(o.maxSamples, 1),
		minB: max(o.minBackoff, 10*time.Millisecond), maxB: max(o.maxBackoff, o.minBackoff, 10*time.Millisecond),
		seed: maphash.MakeSeed(), series: map[uint64]*labels.Labels{}, raw: raw, meta: map[uint64]*metadata.Metadata{},
	}
	n := min(max(o.maxShards, 1), replayMaxShards)
	for i := 0; i < n; i++ {
		sh := &replayShard{batches: make(chan []replaySample, 1)}
		s.shards = append(s.shards, sh)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for b := range sh.batches {
				s.send(b)
			}
		}()
	}
	return s
}

// storeMetadata keeps the metadata of WAL series, sent with 2.0.
func (s *replaySender) storeMetadata(md []record.RefMetadata) {
	if !s.v2 {
		return
	}
	for _, m := range md {
		s.meta[uint64(m.Ref)] = &metadata.Metadata{Type: record.ToMetricType(m.Type), Unit: m.Unit, Help: m.Help}
	}
}

// labelsOf returns the labels series ref is sent with (nil: not sent).
func (s *replaySender) labelsOf(ref uint64) *labels.Labels {
	if l, ok := s.series[ref]; ok {
		return l
	}
	var out *labels.Labels
	if l, ok := s.tr.sendLabels(s.raw(ref)); ok && !l.IsEmpty() {
		out = &l
	}
	s.series[ref] = out
	return out
}

// add queues samples; it blocks while the shard's previous request is in
// flight and its next one is full. It reports false once the replay is
// cancelled.
func (s *replaySender) add(samples ...replaySample) bool {
	// Samples older than sample_age_limit are left out, as Prometheus'
	// queue drops them; the marker counts them as done (tracker.tooOld).
	tooOld := s.tr.tooOld(time.Now())
	for _, x := range samples {
		if x.t < tooOld {
			continue
		}
		if x.lbls = s.labelsOf(x.ref); x.lbls == nil {
			continue
		}
		x.md = s.meta[x.ref]
		sh := s.shards[0]
		if len(s.shards) > 1 {
			sh = s.shards[maphash.Comparable(s.seed, x.ref)%uint64(len(s.shards))]
		}
		sh.pending = append(sh.pending, x)
		if len(sh.pending) >= s.max {
			if !s.hand(sh) {
				return false
			}
		}
	}
	return s.ctx.Err() == nil
}

func (s *replaySender) hand(sh *replayShard) bool {
	b := sh.pending
	sh.pending = nil
	select {
	case sh.batches <- b:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// finish sends what is queued and waits until every request reached a
// final outcome (or the replay was cancelled).
func (s *replaySender) finish() error {
	for _, sh := range s.shards {
		if len(sh.pending) > 0 {
			s.hand(sh)
		}
		close(sh.batches)
	}
	s.wg.Wait()
	if err := s.ctx.Err(); err != nil {
		return err
	}
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// send encodes one batch and sends it until it reaches a final outcome.
func (s *replaySender) send(batch []replaySample) {
	if s.ctx.Err() != nil {
		return
	}
	req, err := s.encode(batch)
	if err != nil {
		s.fail(err)
		return
	}
	// Delivered, or refused for good (the splitting client and the
	// endpoint's client have accounted for it), or stopping.
	_ = storeWithRetry(s.ctx, s.client, req, s.minB, s.maxB)
}

// storeWithRetry sends a request until it reaches a final outcome: it
// retries recoverable failures with backoff from minB, doubling up to
// maxB, waiting at least the Retry-After the endpoint asked for. It returns
// the last error (nil: delivered), or ctx's.
func storeWithRetry(ctx context.Context, client remote.WriteClient, req []byte, minB, maxB time.Duration) error {
	backoff := max(minB, 10*time.Millisecond)
	for attempt := 0; ; attempt++ {
		_, err := client.Store(ctx, req, attempt)
		if err == nil || !recoverable(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := max(backoff, retryAfterOf(err))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, max(maxB, minB))
	}
}

func (s *replaySender) fail(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// encode builds the snappy-compressed request of a batch: one time series
// entry per series, its samples in WAL order.
func (s *replaySender) encode(batch []replaySample) ([]byte, error) {
	order := make([]uint64, 0, len(batch))
	bySeries := make(map[uint64][]replaySample, len(batch))
	// The series' labels and metadata as of its first sample here.
	for _, x := range batch {
		if _, ok := bySeries[x.ref]; !ok {
			order = append(order, x.ref)
		}
		bySeries[x.ref] = append(bySeries[x.ref], x)
	}
	var raw []byte
	var err error
	if s.v2 {
		st := writev2.NewSymbolTable()
		req := writev2.Request{Timeseries: make([]writev2.TimeSeries, 0, len(order))}
		for _, ref := range order {
			first := bySeries[ref][0]
			ts := writev2.TimeSeries{LabelsRefs: st.SymbolizeLabels(*first.lbls, nil)}
			if md := first.md; md != nil {
				ts.Metadata = writev2.Metadata{Type: writev2.FromMetadataType(md.Type), HelpRef: st.Symbolize(md.Help), UnitRef: st.Symbolize(md.Unit)}
			}
			for _, x := range bySeries[ref] {
				switch {
				case x.ex != nil:
					ts.Exemplars = append(ts.Exemplars, writev2.Exemplar{LabelsRefs: st.SymbolizeLabels(*x.ex, nil), Value: x.v, Timestamp: x.t})
				case x.h != nil:
					ts.Histograms = append(ts.Histograms, writev2.FromIntHistogram(0, x.t, x.h))
				case x.fh != nil:
					ts.Histograms = append(ts.Histograms, writev2.FromFloatHistogram(0, x.t, x.fh))
				default:
					ts.Samples = append(ts.Samples, writev2.Sample{Value: x.v, Timestamp: x.t})
				}
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		req.Symbols = st.Symbols()
		raw, err = req.Marshal()
	} else {
		req := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, len(order))}
		for _, ref := range order {
			ts := prompb.TimeSeries{Labels: prompb.FromLabels(*bySeries[ref][0].lbls, nil)}
			for _, x := range bySeries[ref] {
				switch {
				case x.ex != nil:
					ts.Exemplars = append(ts.Exemplars, prompb.Exemplar{Labels: prompb.FromLabels(*x.ex, nil), Value: x.v, Timestamp: x.t})
				case x.h != nil:
					ts.Histograms = append(ts.Histograms, prompb.FromIntHistogram(x.t, x.h))
				case x.fh != nil:
					ts.Histograms = append(ts.Histograms, prompb.FromFloatHistogram(x.t, x.fh))
				default:
					ts.Samples = append(ts.Samples, prompb.Sample{Value: x.v, Timestamp: x.t})
				}
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		raw, err = req.Marshal()
	}
	if err != nil {
		return nil, errors.Join(errors.New("encoding a replay request"), err)
	}
	return snappy.Encode(nil, raw), nil
}
