package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/storage/remote"
)

// splittingClient is the replay queue's client (replay.go). Replay sends,
// in ordinary batches, samples of which some may already be at the
// receiver (those at or below H). A receiver may refuse a whole request
// for one such sample: Prometheus (Remote-Write 1.0) answers 400 "out of
// order sample" and writes nothing of the request when a sample is older
// than the newest it holds for the series (an equal one, with the same
// value, it accepts as a duplicate).
//
// So a request refused with 400 is split in two by series and each half
// sent again, down to single series. A single series refused has its
// oldest sample dropped and the rest sent again: Prometheus' queue
// delivers each series' samples in order, so what reached the receiver
// before a restart is the oldest part of the series' uncertain samples,
// and a refusal means at least the oldest one is there. A single sample
// refused is final, as the queue would have it. Refused samples at or
// below H are taken to be at the receiver already; refused samples above H
// (which cannot be) are drops, counted and shown as the queue's are.
//
// A request accepted whole costs one request, as before: after a kill -9
// each series typically has one uncertain sample (the scrape that was in
// flight), which the receiver takes either as new or as an exact
// duplicate, so nothing is refused. Other refusals (404, 413, …) are not
// about particular samples and are not split. A recoverable error (5xx,
// 429, network) on any part is returned as it is: the queue retries the
// whole request later, and parts that arrived meanwhile are then
// duplicates or refused and split off again. Splitting stops after
// splitBudget extra requests per replay; refusals after that are final.
type splittingClient struct {
	ep *endpointClient
	v2 bool
	h  int64 // samples at or below H may be at the receiver already
	// Counters for the replay's log line and tests.
	requests atomic.Int64 // requests sent, parts included
	refused  atomic.Int64 // samples refused with 400 and taken to be at the receiver already
	extra    atomic.Int64 // requests sent for parts
}

// splitBudget bounds the requests one replay sends for parts of refused
// requests.
const splitBudget = 2000

var _ remote.WriteClient = (*splittingClient)(nil)

func (s *splittingClient) Name() string     { return s.ep.Name() }
func (s *splittingClient) Endpoint() string { return s.ep.Endpoint() }

func (s *splittingClient) Store(ctx context.Context, req []byte, attempt int) (remote.WriteResponseStats, error) {
	s.requests.Add(1)
	stats, err := s.ep.Store(context.WithValue(ctx, probeKey{}, true), req, attempt)
	if err == nil || recoverable(err) || ctx.Err() != nil {
		return stats, err
	}
	r, derr := decodeSplitRequest(req, s.v2)
	if derr != nil {
		// Cannot tell which samples: all of them are drops.
		if counts, cerr := requestTimestamps(req, s.v2, true); cerr == nil {
			var n int64
			for _, k := range counts {
				n += k
			}
			s.ep.dropped(n, statusOf(err), err.Error())
		}
		return stats, err
	}
	var total remote.WriteResponseStats
	if err := s.settle(ctx, r, attempt, err, &total); err != nil {
		return total, err
	}
	return total, nil
}

// settle handles a request the receiver refused for good with refusal:
// split by series, or, for a single series, dropping its oldest sample
// until the rest is accepted. It returns only recoverable errors (and
// ctx's).
func (s *splittingClient) settle(ctx context.Context, r splitRequest, attempt int, refusal error, total *remote.WriteResponseStats) error {
	if statusOf(refusal) != http.StatusBadRequest || s.extra.Load() >= splitBudget {
		s.giveUp(r, refusal)
		return nil
	}
	if r.series() > 1 {
		for _, h := range r.halves() {
			if h.samples() == 0 {
				continue
			}
			err, refused := s.send(ctx, h, attempt, total)
			if err != nil {
				return err
			}
			if refused != nil {
				if err := s.settle(ctx, h, attempt, refused, total); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for r.samples() > 1 {
		s.giveUp(r.dropOldest(), refusal)
		err, refused := s.send(ctx, r, attempt, total)
		if err != nil || refused == nil {
			return err
		}
		if statusOf(refused) != http.StatusBadRequest || s.extra.Load() >= splitBudget {
			s.giveUp(r, refused)
			return nil
		}
		refusal = refused
	}
	s.giveUp(r, refusal)
	return nil
}

// giveUp accounts for samples refused for good. Refused with 400, those at
// or below H are taken to be at the receiver already; the others are
// drops.
func (s *splittingClient) giveUp(r splitRequest, refusal error) {
	if r == nil {
		return
	}
	above, below := r.around(s.h)
	if statusOf(refusal) != http.StatusBadRequest {
		above, below = above+below, 0
	}
	s.refused.Add(int64(below))
	if above > 0 {
		s.ep.dropped(int64(above), statusOf(refusal), refusal.Error())
	}
}

// send sends r once. It returns a recoverable error, or the refusal if the
// receiver refused r for good (both nil: accepted).
func (s *splittingClient) send(ctx context.Context, r splitRequest, attempt int, total *remote.WriteResponseStats) (err, refused error) {
	body, err := r.encode()
	if err != nil {
		return nil, err
	}
	s.requests.Add(1)
	s.extra.Add(1)
	stats, err := s.ep.Store(context.WithValue(ctx, probeKey{}, true), body, attempt)
	switch {
	case err == nil:
		addStats(total, stats)
		return nil, nil
	case recoverable(err) || ctx.Err() != nil:
		return err, nil
	default:
		return nil, err
	}
}

func recoverable(err error) bool {
	var rec remote.RecoverableError
	return errors.As(err, &rec)
}

func addStats(t *remote.WriteResponseStats, s remote.WriteResponseStats) {
	t.Samples += s.Samples
	t.Histograms += s.Histograms
	t.Exemplars += s.Exemplars
	t.Confirmed = t.Confirmed || s.Confirmed
}

// splitRequest is a decoded Remote-Write request that can be cut.
type splitRequest interface {
	series() int
	samples() int // floats and histograms
	// halves splits by series (a single series: itself).
	halves() []splitRequest
	// dropOldest removes the oldest sample of a single-series request and
	// returns it as a request of its own.
	dropOldest() splitRequest
	// around counts the samples above h and at or below it.
	around(h int64) (above, atOrBelow int)
	encode() ([]byte, error)
}

func decodeSplitRequest(body []byte, v2 bool) (splitRequest, error) {
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, fmt.Errorf("decoding snappy: %w", err)
	}
	if v2 {
		var r writev2.Request
		if err := r.Unmarshal(raw); err != nil {
			return nil, err
		}
		return &splitV2{r: r}, nil
	}
	var r prompb.WriteRequest
	if err := r.Unmarshal(raw); err != nil {
		return nil, err
	}
	return &splitV1{r: r}, nil
}

// splitV1 is a Remote-Write 1.0 request.
type splitV1 struct{ r prompb.WriteRequest }

func (s *splitV1) series() int { return len(s.r.Timeseries) }

func (s *splitV1) samples() int {
	n := 0
	for _, ts := range s.r.Timeseries {
		n += len(ts.Samples) + len(ts.Histograms)
	}
	return n
}

func (s *splitV1) halves() []splitRequest {
	if len(s.r.Timeseries) < 2 {
		return []splitRequest{s}
	}
	h := len(s.r.Timeseries) / 2
	a := &splitV1{r: prompb.WriteRequest{Timeseries: s.r.Timeseries[:h], Metadata: s.r.Metadata}}
	b := &splitV1{r: prompb.WriteRequest{Timeseries: s.r.Timeseries[h:]}}
	return []splitRequest{a, b}
}

func (s *splitV1) dropOldest() splitRequest {
	ts := &s.r.Timeseries[0]
	one := prompb.TimeSeries{Labels: ts.Labels}
	fi, hi := oldest(len(ts.Samples), func(i int) int64 { return ts.Samples[i].Timestamp },
		len(ts.Histograms), func(i int) int64 { return ts.Histograms[i].Timestamp })
	if fi >= 0 {
		one.Samples = []prompb.Sample{ts.Samples[fi]}
		ts.Samples = append(ts.Samples[:fi:fi], ts.Samples[fi+1:]...)
	} else if hi >= 0 {
		one.Histograms = []prompb.Histogram{ts.Histograms[hi]}
		ts.Histograms = append(ts.Histograms[:hi:hi], ts.Histograms[hi+1:]...)
	}
	return &splitV1{r: prompb.WriteRequest{Timeseries: []prompb.TimeSeries{one}}}
}

func (s *splitV1) around(h int64) (above, atOrBelow int) {
	for _, ts := range s.r.Timeseries {
		countAround(h, ts.Samples, (*prompb.Sample).GetTimestamp, &above, &atOrBelow)
		countAround(h, ts.Histograms, (*prompb.Histogram).GetTimestamp, &above, &atOrBelow)
	}
	return above, atOrBelow
}

func (s *splitV1) encode() ([]byte, error) { return snappyMarshal(&s.r) }

// splitV2 is a Remote-Write 2.0 request; every part keeps the whole symbol
// table.
type splitV2 struct{ r writev2.Request }

func (s *splitV2) series() int { return len(s.r.Timeseries) }

func (s *splitV2) samples() int {
	n := 0
	for _, ts := range s.r.Timeseries {
		n += len(ts.Samples) + len(ts.Histograms)
	}
	return n
}

func (s *splitV2) halves() []splitRequest {
	if len(s.r.Timeseries) < 2 {
		return []splitRequest{s}
	}
	h := len(s.r.Timeseries) / 2
	a := &splitV2{r: writev2.Request{Symbols: s.r.Symbols, Timeseries: s.r.Timeseries[:h]}}
	b := &splitV2{r: writev2.Request{Symbols: s.r.Symbols, Timeseries: s.r.Timeseries[h:]}}
	return []splitRequest{a, b}
}

func (s *splitV2) dropOldest() splitRequest {
	ts := &s.r.Timeseries[0]
	one := writev2.TimeSeries{LabelsRefs: ts.LabelsRefs, Metadata: ts.Metadata}
	fi, hi := oldest(len(ts.Samples), func(i int) int64 { return ts.Samples[i].Timestamp },
		len(ts.Histograms), func(i int) int64 { return ts.Histograms[i].Timestamp })
	if fi >= 0 {
		one.Samples = []writev2.Sample{ts.Samples[fi]}
		ts.Samples = append(ts.Samples[:fi:fi], ts.Samples[fi+1:]...)
	} else if hi >= 0 {
		one.Histograms = []writev2.Histogram{ts.Histograms[hi]}
		ts.Histograms = append(ts.Histograms[:hi:hi], ts.Histograms[hi+1:]...)
	}
	return &splitV2{r: writev2.Request{Symbols: s.r.Symbols, Timeseries: []writev2.TimeSeries{one}}}
}

func (s *splitV2) around(h int64) (above, atOrBelow int) {
	for _, ts := range s.r.Timeseries {
		countAround(h, ts.Samples, (*writev2.Sample).GetTimestamp, &above, &atOrBelow)
		countAround(h, ts.Histograms, (*writev2.Histogram).GetTimestamp, &above, &atOrBelow)
	}
	return above, atOrBelow
}

func (s *splitV2) encode() ([]byte, error) { return snappyMarshal(&s.r) }

// oldest finds the oldest of a series' float samples and histograms: the
// index of the float (fi) or of the histogram (hi), the other -1.
func oldest(nf int, tf func(int) int64, nh int, th func(int) int64) (fi, hi int) {
	fi, hi = -1, -1
	var best int64
	for i := 0; i < nf; i++ {
		if t := tf(i); fi < 0 || t < best {
			fi, best = i, t
		}
	}
	for i := 0; i < nh; i++ {
		if t := th(i); (fi < 0 && hi < 0) || t < best {
			fi, hi, best = -1, i, t
		}
	}
	return fi, hi
}

// countAround counts the timestamps of xs above h and at or below it, for
// either protocol's samples or histograms.
func countAround[E any](h int64, xs []E, ts func(*E) int64, above, atOrBelow *int) {
	for i := range xs {
		if ts(&xs[i]) > h {
			*above++
		} else {
			*atOrBelow++
		}
	}
}

// snappyMarshal encodes a request of either protocol for sending.
func snappyMarshal(r interface{ Marshal() ([]byte, error) }) ([]byte, error) {
	b, err := r.Marshal()
	if err != nil {
		return nil, err
	}
	return snappy.Encode(nil, b), nil
}
