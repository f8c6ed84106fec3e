package wal

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"unicode/utf8"
	"unique"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/record"
)

// Appender returns a transaction on the WAL. It must end with Commit or
// Rollback.
func (db *DB) Appender(context.Context) storage.Appender {
	a := db.appenders.Get().(*appender)
	a.pending = pendingBase + 1 + int64(db.txIDs.Add(1)%maxPending)
	return a
}

// appender is one transaction. It is pooled with its buffers.
type appender struct {
	db *DB
	// pending is the lastTs of the series this transaction creates.
	pending int64

	series  []record.RefSeries
	samples []record.RefSample
	hists   []record.RefHistogramSample
	fhists  []record.RefFloatHistogramSample
	exs     []record.RefExemplar
	meta    []record.RefMetadata
	// The series of samples, hists, fhists and meta, element by element.
	sampleSeries, histSeries, fhistSeries, metaSeries []*memSeries
	// created are the series of series, element by element.
	created []*memSeries
	// metaHandles are meta's values, for the series once committed.
	metaHandles []unique.Handle[metadata.Metadata]

	nFloat, nHist, nEx, nOOO int

	// bufs are the encoded records of a commit, reused.
	bufs [][]byte
}

var _ storage.Appender = (*appender)(nil)

// SetOptions implements storage.Appender; no option changes what the WAL
// does (as in agent).
func (*appender) SetOptions(*storage.AppendOptions) {}

// getOrCreate returns the series of ref or labels l, creating it (and its
// series record, written at commit) if it is new.
func (a *appender) getOrCreate(ref storage.SeriesRef, l labels.Labels) (chunks.HeadSeriesRef, *memSeries, error) {
	// Fast path: the caller kept the ref of an earlier append (the scrape
	// cache does).
	if ref != 0 {
		if ms := a.db.ix.getByRef(chunks.HeadSeriesRef(ref), l); ms != nil {
			a.othersPending(chunks.HeadSeriesRef(ref), ms)
			return chunks.HeadSeriesRef(ref), ms, nil
		}
	}
	// As tsdb's head appender: no empty labels, no duplicate names.
	l = l.WithoutEmpty()
	if l.IsEmpty() {
		return 0, nil, fmt.Errorf("empty labelset: %w", tsdb.ErrInvalidSample)
	}
	if name, dup := l.HasDuplicateLabelNames(); dup {
		return 0, nil, fmt.Errorf(`label name "%s" is not unique: %w`, name, tsdb.ErrInvalidSample)
	}
	hash := l.Hash()
	if r, ms := a.db.ix.getByHash(hash, l); ms != nil {
		a.othersPending(r, ms)
		return r, ms, nil
	}
	r, ms, created := a.db.ix.getOrSet(hash, l, a.pending, a.db.newRef)
	if ms == nil {
		return 0, nil, fmt.Errorf("no series ref left for %s: this WAL has created %d series; delete its directory to start over", l, maxRef)
	}
	if created {
		a.series = append(a.series, record.RefSeries{Ref: r, Labels: l})
		a.created = append(a.created, ms)
		a.db.m.activeSeries.Inc()
	} else {
		a.othersPending(r, ms)
	}
	return r, ms, nil
}

// othersPending writes the series record of a series another open
// transaction created (see pendingBase).
func (a *appender) othersPending(ref chunks.HeadSeriesRef, ms *memSeries) {
	if ts := ms.lastTs.Load(); isPending(ts) && ts != a.pending {
		a.series = append(a.series, record.RefSeries{Ref: ref, Labels: ms.lset})
	}
}

// Append implements storage.Appender.
func (a *appender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	r, ms, err := a.getOrCreate(ref, l)
	if err != nil {
		return 0, err
	}
	if t <= ms.lastTs.Load() {
		a.nOOO++
		return 0, storage.ErrOutOfOrderSample
	}
	a.samples = append(a.samples, record.RefSample{Ref: r, T: t, V: v})
	a.sampleSeries = append(a.sampleSeries, ms)
	a.nFloat++
	return storage.SeriesRef(r), nil
}

// validateHistogram checks each of h and fh that is set, as agent does
// before appending either.
func validateHistogram(h *histogram.Histogram, fh *histogram.FloatHistogram) error {
	if h != nil {
		if err := h.Validate(); err != nil {
			return err
		}
	}
	if fh != nil {
		return fh.Validate()
	}
	return nil
}

// AppendHistogram implements storage.Appender.
func (a *appender) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	if err := validateHistogram(h, fh); err != nil {
		return 0, err
	}
	r, ms, err := a.getOrCreate(ref, l)
	if err != nil {
		return 0, err
	}
	if t <= ms.lastTs.Load() {
		a.nOOO++
		return 0, storage.ErrOutOfOrderSample
	}
	switch {
	case h != nil:
		a.hists = append(a.hists, record.RefHistogramSample{Ref: r, T: t, H: h})
		a.histSeries = append(a.histSeries, ms)
	case fh != nil:
		a.fhists = append(a.fhists, record.RefFloatHistogramSample{Ref: r, T: t, FH: fh})
		a.fhistSeries = append(a.fhistSeries, ms)
	}
	a.nHist++
	return storage.SeriesRef(r), nil
}

// AppendSTZeroSample implements storage.Appender: a zero sample at the
// series' start time st, as agent writes it (including agent's raising of
// the series' last timestamp to st before the commit).
func (a *appender) AppendSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64) (storage.SeriesRef, error) {
	if st >= t {
		return 0, storage.ErrSTNewerThanSample
	}
	r, ms, err := a.getOrCreate(ref, l)
	if err != nil {
		return 0, err
	}
	last := ms.lastTs.Load()
	if t <= last {
		a.nOOO++
		return 0, storage.ErrOutOfOrderSample
	}
	if st <= last {
		return 0, storage.ErrOutOfOrderST
	}
	ms.lastTs.Store(st)
	a.samples = append(a.samples, record.RefSample{Ref: r, T: st, V: 0})
	a.sampleSeries = append(a.sampleSeries, ms)
	a.nFloat++
	return storage.SeriesRef(r), nil
}

// AppendHistogramSTZeroSample implements storage.Appender, as
// AppendSTZeroSample for histograms.
func (a *appender) AppendHistogramSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	if err := validateHistogram(h, fh); err != nil {
		return 0, err
	}
	if st >= t {
		return 0, storage.ErrSTNewerThanSample
	}
	r, ms, err := a.getOrCreate(ref, l)
	if err != nil {
		return 0, err
	}
	if st <= ms.lastTs.Load() {
		return 0, storage.ErrOutOfOrderST
	}
	ms.lastTs.Store(st)
	switch {
	case h != nil:
		a.hists = append(a.hists, record.RefHistogramSample{Ref: r, T: st, H: &histogram.Histogram{}})
		a.histSeries = append(a.histSeries, ms)
	case fh != nil:
		a.fhists = append(a.fhists, record.RefFloatHistogramSample{Ref: r, T: st, FH: &histogram.FloatHistogram{}})
		a.fhistSeries = append(a.fhistSeries, ms)
	}
	a.nHist++
	return storage.SeriesRef(r), nil
}

// AppendExemplar implements storage.Appender. The series must exist (ref
// from an earlier append); an exemplar equal to the series' last one is
// dropped without error.
func (a *appender) AppendExemplar(ref storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	r := chunks.HeadSeriesRef(ref)
	if a.db.ix.getByRef(r, labels.EmptyLabels()) == nil {
		return 0, fmt.Errorf("unknown series ref when trying to add exemplar: %d", ref)
	}
	e.Labels = e.Labels.WithoutEmpty()
	if name, dup := e.Labels.HasDuplicateLabelNames(); dup {
		return 0, fmt.Errorf(`label name "%s" is not unique: %w`, name, tsdb.ErrInvalidExemplar)
	}
	n := 0
	if err := e.Labels.Validate(func(l labels.Label) error {
		n += utf8.RuneCountInString(l.Name) + utf8.RuneCountInString(l.Value)
		if n > exemplar.ExemplarMaxLabelSetLength {
			return storage.ErrExemplarLabelLength
		}
		return nil
	}); err != nil {
		return 0, err
	}
	if prev, ok := a.db.ix.latestExemplar(r); ok && prev.Equals(e) {
		return 0, nil
	}
	a.db.ix.setLatestExemplar(r, e)
	a.exs = append(a.exs, record.RefExemplar{Ref: r, T: e.Ts, V: e.Value, Labels: e.Labels})
	a.nEx++
	return ref, nil
}

// UpdateMetadata implements storage.Appender: a metadata record when the
// series' metadata changed, if Options.Metadata is set.
func (a *appender) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, m metadata.Metadata) (storage.SeriesRef, error) {
	if !a.db.opts.Metadata || m.IsEmpty() {
		return 0, nil
	}
	r := chunks.HeadSeriesRef(ref)
	var ms *memSeries
	if ref != 0 {
		ms = a.db.ix.getByRef(r, l)
	}
	if ms == nil {
		r, ms = a.db.ix.getByHash(l.Hash(), l)
	}
	if ms == nil {
		return 0, fmt.Errorf("unknown series when trying to add metadata with HeadSeriesRef: %d and labels: %s", ref, l)
	}
	cur := a.db.ix.metadataOf(r, ms)
	if metadata.IsZeroHandle(cur) || !cur.Value().Equals(m) {
		a.meta = append(a.meta, record.RefMetadata{Ref: r, Type: record.GetMetricType(m.Type), Unit: m.Unit, Help: m.Help})
		a.metaSeries = append(a.metaSeries, ms)
		a.metaHandles = append(a.metaHandles, unique.Make(m))
	}
	return storage.SeriesRef(r), nil
}

// Commit writes the transaction's records with one WAL write.
func (a *appender) Commit() error {
	defer a.release()
	if err := a.log(true); err != nil {
		return err
	}
	for i, s := range a.samples {
		if !a.sampleSeries[i].updateTimestamp(s.T) {
			a.nOOO++
		}
	}
	for i, s := range a.hists {
		if !a.histSeries[i].updateTimestamp(s.T) {
			a.nOOO++
		}
	}
	for i, s := range a.fhists {
		if !a.fhistSeries[i].updateTimestamp(s.T) {
			a.nOOO++
		}
	}
	for i, m := range a.meta {
		a.db.ix.setMetadata(m.Ref, a.metaSeries[i], a.metaHandles[i])
	}
	if a.db.notify != nil {
		a.db.notify.Notify()
	}
	return nil
}

// Rollback discards the transaction, but writes the series records of the
// series it created: they are in memory now, and later commits refer to
// them.
func (a *appender) Rollback() error {
	defer a.release()
	return a.log(false)
}

// log writes the pending records (all, or only series) to the WAL.
func (a *appender) log(all bool) error {
	a.db.mtx.RLock()
	defer a.db.mtx.RUnlock()
	var enc record.Encoder
	recs := a.bufs[:0]
	next := func() []byte {
		if len(recs) < cap(recs) {
			recs = recs[:len(recs)+1]
			return recs[len(recs)-1][:0]
		}
		recs = append(recs, nil)
		return nil
	}
	put := func(b []byte) { recs[len(recs)-1] = b }
	// putOrDrop is put, or drops the slot when b is empty (the encoder put
	// every histogram in the custom-buckets record).
	putOrDrop := func(b []byte) {
		if len(b) > 0 {
			put(b)
		} else {
			recs = recs[:len(recs)-1]
		}
	}

	if len(a.series) > 0 {
		put(enc.Series(a.series, sized(next(), seriesRecordSize(a.series))))
	}
	if all {
		if len(a.meta) > 0 {
			put(enc.Metadata(a.meta, sized(next(), metadataRecordSize(a.meta))))
		}
		if len(a.samples) > 0 {
			put(enc.Samples(a.samples, next()))
		}
		if len(a.hists) > 0 {
			b, custom := enc.HistogramSamples(a.hists, next())
			putOrDrop(b)
			if len(custom) > 0 {
				put(enc.CustomBucketsHistogramSamples(custom, next()))
			}
		}
		if len(a.fhists) > 0 {
			b, custom := enc.FloatHistogramSamples(a.fhists, next())
			putOrDrop(b)
			if len(custom) > 0 {
				put(enc.CustomBucketsFloatHistogramSamples(custom, next()))
			}
		}
		if len(a.exs) > 0 {
			put(enc.Exemplars(a.exs, next()))
		}
	}
	a.bufs = recs
	if len(recs) == 0 {
		return nil
	}
	return a.db.wal.Log(recs...)
}

// release counts the transaction's appends, clears it and returns it to
// the pool.
func (a *appender) release() {
	// The series this transaction created are garbage-collectable now.
	for _, ms := range a.created {
		ms.lastTs.CompareAndSwap(a.pending, math.MinInt64)
	}
	m := a.db.m
	if a.nFloat > 0 {
		m.floatSamples.Add(float64(a.nFloat))
	}
	if a.nHist > 0 {
		m.histogramSamples.Add(float64(a.nHist))
	}
	if a.nEx > 0 {
		m.exemplars.Add(float64(a.nEx))
	}
	if a.nOOO > 0 {
		m.outOfOrderSamples.Add(float64(a.nOOO))
	}
	a.nFloat, a.nHist, a.nEx, a.nOOO = 0, 0, 0, 0
	// What a transaction holds per sample stays for the next one (a
	// scrape appends as many samples each time); what it holds per new
	// series or metadata change (a target's first scrape, a burst of new
	// series) is released unless small, or it would stay in the pool for
	// good.
	const maxBurst = 256
	a.series = emptiedBelow(a.series, maxBurst)
	a.samples = a.samples[:0]
	a.hists = emptied(a.hists)
	a.fhists = emptied(a.fhists)
	a.exs = emptied(a.exs)
	a.meta = emptiedBelow(a.meta, maxBurst)
	a.sampleSeries = emptied(a.sampleSeries)
	a.histSeries = emptied(a.histSeries)
	a.fhistSeries = emptied(a.fhistSeries)
	a.metaSeries = emptiedBelow(a.metaSeries, maxBurst)
	a.metaHandles = emptiedBelow(a.metaHandles, maxBurst)
	a.created = emptiedBelow(a.created, maxBurst)
	// Record buffers: those this commit did not use (the series and
	// metadata records of a burst) are released, and very large ones
	// (a replay, a huge target) too.
	clear(a.bufs[len(a.bufs):cap(a.bufs)])
	const maxKeep = 1 << 20
	for i, b := range a.bufs {
		if cap(b) > maxKeep {
			a.bufs[i] = nil
		}
	}
	a.db.appenders.Put(a)
}

// emptied returns s with no elements and its capacity kept, its elements
// zeroed first so the pooled buffer holds no pointers into old series.
func emptied[S ~[]E, E any](s S) S {
	clear(s)
	return s[:0]
}

// emptiedBelow is emptied(s), or nil if s can hold more than n elements.
func emptiedBelow[S ~[]E, E any](s S, n int) S {
	if cap(s) > n {
		return nil
	}
	return emptied(s)
}

// sized is b, or an empty buffer of exactly n bytes when b is smaller.
//
// The series and metadata records of a burst of new series (every
// target's first scrape: 1.7 and 0.6 MB for 10,000 realistic series) are
// made at their size instead of grown by doubling from nothing: the
// doubling left twice the record in garbage per commit, in the seconds
// whose allocation rate sets the process' peak RSS (BENCHMARKS.md,
// "Metrics peak RSS (issue 14, rss14)").
func sized(b []byte, n int) []byte {
	if cap(b) >= n {
		return b
	}
	return make([]byte, 0, n)
}

// uvarintLen is the length of x as a uvarint.
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// seriesRecordSize is the length of record.Encoder.Series(series): the
// type byte, then per series its 8-byte reference, the number of labels
// and each name and value with its length (TestRecordSizesExact).
func seriesRecordSize(series []record.RefSeries) int {
	n := 1
	for i := range series {
		k := 0
		series[i].Labels.Range(func(l labels.Label) {
			k++
			n += uvarintLen(uint64(len(l.Name))) + len(l.Name) + uvarintLen(uint64(len(l.Value))) + len(l.Value)
		})
		n += 8 + uvarintLen(uint64(k))
	}
	return n
}

// metadataRecordSize is the length of record.Encoder.Metadata(meta): the
// type byte, then per series its reference, type, field count (2) and the
// UNIT and HELP fields, names and values with their lengths.
func metadataRecordSize(meta []record.RefMetadata) int {
	const fixed = 1 + 1 + (1 + len("UNIT")) + (1 + len("HELP")) // type, count, field names
	n := 1
	for i := range meta {
		m := &meta[i]
		n += uvarintLen(uint64(m.Ref)) + fixed + uvarintLen(uint64(len(m.Unit))) + len(m.Unit) + uvarintLen(uint64(len(m.Help))) + len(m.Help)
	}
	return n
}
