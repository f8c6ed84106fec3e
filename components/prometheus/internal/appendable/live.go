package appendable

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/runtime/component"
)

// Live wraps an Appendable so that, while someone watches ld (the
// component's Live tab), each sample, histogram and exemplar appended is
// published. The check is made once per transaction, when the appender is
// created: with nobody watching, the appender is next's own, untouched.
func Live(next storage.Appendable, ld component.LiveDebug) storage.Appendable {
	return &live{next: next, ld: ld}
}

type live struct {
	next storage.Appendable
	ld   component.LiveDebug
}

func (l *live) Appender(ctx context.Context) storage.Appender {
	return LiveAppender(l.next.Appender(ctx), l.ld)
}

// LiveAppender returns app, publishing what is appended to it while ld is
// active (checked now, once).
func LiveAppender(app storage.Appender, ld component.LiveDebug) storage.Appender {
	a := &liveAppender{Appender: app}
	if !a.s.Reset(ld) {
		return app
	}
	return a
}

type liveAppender struct {
	storage.Appender
	s component.LiveSampler
	// ev is the event being published: Publish formats it synchronously,
	// so one buffer per appender serves every sample without allocating.
	ev Point
}

func (a *liveAppender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	if !a.s.Skip() {
		a.ev = Point{Labels: l, T: t, V: v}
		a.s.Offer("sample", &a.ev)
	}
	return a.Appender.Append(ref, l, t, v)
}

func (a *liveAppender) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	if !a.s.Skip() {
		a.ev = Point{Labels: l, T: t, H: h, FH: fh}
		a.s.Offer("histogram", &a.ev)
	}
	return a.Appender.AppendHistogram(ref, l, t, h, fh)
}

func (a *liveAppender) AppendExemplar(ref storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	a.s.Publish("exemplar", component.LiveFunc(func() string { return FormatExemplar(l, e) }))
	return a.Appender.AppendExemplar(ref, l, e)
}

func (a *liveAppender) Commit() error {
	a.s.Flush()
	return a.Appender.Commit()
}

func (a *liveAppender) Rollback() error {
	a.s.Flush()
	return a.Appender.Rollback()
}

// Point is a sample or a native histogram of a series, as a
// component.LiveText: "{labels} value timestamp". With Relabelled set it
// shows a relabelling: "{labels} → {relabelled} value timestamp", or
// "{labels} → dropped …" when Relabelled is empty.
type Point struct {
	Labels     labels.Labels
	Relabelled *labels.Labels
	T          int64
	V          float64
	H          *histogram.Histogram
	FH         *histogram.FloatHistogram
}

// LiveText renders the point.
func (p *Point) LiveText() string {
	var b strings.Builder
	b.WriteString(p.Labels.String())
	if p.Relabelled != nil {
		b.WriteString(" → ")
		if p.Relabelled.IsEmpty() {
			b.WriteString("dropped")
		} else {
			b.WriteString(p.Relabelled.String())
		}
	}
	b.WriteByte(' ')
	if p.H != nil || p.FH != nil {
		b.WriteString(FormatHistogramPoint(p.T, p.H, p.FH))
	} else {
		b.WriteString(FormatPoint(p.T, p.V))
	}
	return b.String()
}

// FormatSample renders a sample as `{labels} value timestamp`.
func FormatSample(l labels.Labels, t int64, v float64) string {
	return l.String() + " " + FormatPoint(t, v)
}

// FormatPoint renders a value and its timestamp: `value timestamp`.
func FormatPoint(t int64, v float64) string {
	var b strings.Builder
	b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	b.WriteByte(' ')
	b.WriteString(formatTS(t))
	return b.String()
}

// FormatHistogram summarises a native histogram of a series.
func FormatHistogram(l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) string {
	return l.String() + " " + FormatHistogramPoint(t, h, fh)
}

// FormatHistogramPoint summarises a native histogram: its count, sum and
// number of buckets, not every bucket.
func FormatHistogramPoint(t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) string {
	var count, sum float64
	var buckets int
	switch {
	case fh != nil:
		count, sum = fh.Count, fh.Sum
		buckets = len(fh.PositiveBuckets) + len(fh.NegativeBuckets)
	case h != nil:
		count, sum = float64(h.Count), h.Sum
		buckets = len(h.PositiveBuckets) + len(h.NegativeBuckets)
	}
	return "histogram{count=" + strconv.FormatFloat(count, 'g', -1, 64) +
		", sum=" + strconv.FormatFloat(sum, 'g', -1, 64) + ", buckets=" + strconv.Itoa(buckets) + "} " + formatTS(t)
}

// FormatExemplar summarises an exemplar of a series.
func FormatExemplar(l labels.Labels, e exemplar.Exemplar) string {
	return l.String() + " exemplar{" + e.Labels.String() + " " + strconv.FormatFloat(e.Value, 'g', -1, 64) + "} " + formatTS(e.Ts)
}

func formatTS(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}
