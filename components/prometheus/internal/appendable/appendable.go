// Package appendable holds the storage.Appendable plumbing shared by the
// prometheus.* components: a fanout over the receivers in `forward_to`, and a
// counting wrapper that gives receivers component.Countable.
package appendable

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
)

// Fanout appends every sample to each of its receivers. Its receivers can be
// replaced at any time (a component's Update); appenders already handed out
// keep the receivers they started with, so a transaction is never split.
type Fanout struct {
	children atomic.Pointer[[]storage.Appendable]
}

// NewFanout returns a fanout over children.
func NewFanout(children []storage.Appendable) *Fanout {
	f := &Fanout{}
	f.Set(children)
	return f
}

// Set replaces the receivers.
func (f *Fanout) Set(children []storage.Appendable) {
	c := make([]storage.Appendable, 0, len(children))
	for _, ch := range children {
		if ch != nil {
			c = append(c, ch)
		}
	}
	f.children.Store(&c)
}

// UsesMetadata reports whether any of the fanout's receivers uses metric
// metadata (see MetadataUser).
func (f *Fanout) UsesMetadata() bool { return UsesMetadata(*f.children.Load()) }

// MetadataUser is a receiver that says whether it uses the metric metadata
// (type, help, unit) appended to it with UpdateMetadata:
// prometheus.remote_write does when one of its endpoints sends metadata,
// prometheus.relabel when one of its own receivers does. Appending metadata
// costs the sender a lookup per series, so prometheus.scrape appends it only
// for receivers that use it. A receiver that does not implement MetadataUser
// is taken not to use metadata.
type MetadataUser interface {
	UsesMetadata() bool
}

// UsesMetadata reports whether any of as uses metric metadata.
func UsesMetadata(as []storage.Appendable) bool {
	for _, a := range as {
		if mu, ok := a.(MetadataUser); ok && mu.UsesMetadata() {
			return true
		}
	}
	return false
}

// Appender implements storage.Appendable.
func (f *Fanout) Appender(ctx context.Context) storage.Appender {
	children := *f.children.Load()
	switch len(children) {
	case 0:
		return discard{}
	case 1:
		// One receiver: its series references are valid for the caller, so
		// the scrape cache can reuse them and skip label hashing.
		return children[0].Appender(ctx)
	}
	apps := make([]storage.Appender, len(children))
	for i, c := range children {
		apps[i] = c.Appender(ctx)
	}
	return &multiAppender{apps: apps}
}

// multiAppender appends to several appenders. Series references of different
// receivers are unrelated, so it passes 0 down and returns 0 up: each
// receiver then looks series up by labels.
type multiAppender struct {
	apps []storage.Appender
}

func (m *multiAppender) each(f func(a storage.Appender) error) error {
	var errs []error
	for _, a := range m.apps {
		if err := f(a); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 1 {
		// Keep the sentinel (ErrOutOfOrderSample…) recognisable with ==, as
		// the scrape loop compares some errors directly.
		return errs[0]
	}
	return errors.Join(errs...)
}

func (m *multiAppender) Append(_ storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	return 0, m.each(func(a storage.Appender) error { _, err := a.Append(0, l, t, v); return err })
}

func (m *multiAppender) AppendHistogram(_ storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, m.each(func(a storage.Appender) error { _, err := a.AppendHistogram(0, l, t, h, fh); return err })
}

func (m *multiAppender) AppendHistogramSTZeroSample(_ storage.SeriesRef, l labels.Labels, t, st int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, m.each(func(a storage.Appender) error {
		_, err := a.AppendHistogramSTZeroSample(0, l, t, st, h, fh)
		return err
	})
}

func (m *multiAppender) AppendExemplar(_ storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	return 0, m.each(func(a storage.Appender) error { _, err := a.AppendExemplar(0, l, e); return err })
}

func (m *multiAppender) UpdateMetadata(_ storage.SeriesRef, l labels.Labels, md metadata.Metadata) (storage.SeriesRef, error) {
	return 0, m.each(func(a storage.Appender) error { _, err := a.UpdateMetadata(0, l, md); return err })
}

func (m *multiAppender) AppendSTZeroSample(_ storage.SeriesRef, l labels.Labels, t, st int64) (storage.SeriesRef, error) {
	return 0, m.each(func(a storage.Appender) error { _, err := a.AppendSTZeroSample(0, l, t, st); return err })
}

func (m *multiAppender) SetOptions(opts *storage.AppendOptions) {
	for _, a := range m.apps {
		a.SetOptions(opts)
	}
}

func (m *multiAppender) Commit() error {
	return m.each(func(a storage.Appender) error { return a.Commit() })
}

func (m *multiAppender) Rollback() error {
	return m.each(func(a storage.Appender) error { return a.Rollback() })
}

// discard is the appender of a fanout with no receivers.
type discard struct{}

func (discard) Append(storage.SeriesRef, labels.Labels, int64, float64) (storage.SeriesRef, error) {
	return 0, nil
}
func (discard) AppendHistogram(storage.SeriesRef, labels.Labels, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, nil
}
func (discard) AppendHistogramSTZeroSample(storage.SeriesRef, labels.Labels, int64, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, nil
}
func (discard) AppendExemplar(storage.SeriesRef, labels.Labels, exemplar.Exemplar) (storage.SeriesRef, error) {
	return 0, nil
}
func (discard) UpdateMetadata(storage.SeriesRef, labels.Labels, metadata.Metadata) (storage.SeriesRef, error) {
	return 0, nil
}
func (discard) AppendSTZeroSample(storage.SeriesRef, labels.Labels, int64, int64) (storage.SeriesRef, error) {
	return 0, nil
}
func (discard) SetOptions(*storage.AppendOptions) {}
func (discard) Commit() error                     { return nil }
func (discard) Rollback() error                   { return nil }

// Counted wraps an Appendable so that every committed transaction adds its
// number of samples (floats and histograms) to counter. It is how receivers
// implement component.Countable.
func Counted(a storage.Appendable, counter func(n int)) storage.Appendable {
	return &counted{next: a, counter: counter}
}

type counted struct {
	next    storage.Appendable
	counter func(n int)
}

// UsesMetadata implements MetadataUser for the wrapped receiver.
func (c *counted) UsesMetadata() bool { return UsesMetadata([]storage.Appendable{c.next}) }

func (c *counted) Appender(ctx context.Context) storage.Appender {
	return &countingAppender{Appender: c.next.Appender(ctx), counter: c.counter}
}

// countingAppender counts in a plain int and reports once per Commit, so
// the per-sample cost is one increment.
type countingAppender struct {
	storage.Appender
	counter func(n int)
	n       int
}

func (a *countingAppender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	ref, err := a.Appender.Append(ref, l, t, v)
	if err == nil {
		a.n++
	}
	return ref, err
}

func (a *countingAppender) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	ref, err := a.Appender.AppendHistogram(ref, l, t, h, fh)
	if err == nil {
		a.n++
	}
	return ref, err
}

func (a *countingAppender) Commit() error {
	err := a.Appender.Commit()
	if err == nil && a.n > 0 {
		a.counter(a.n)
	}
	a.n = 0
	return err
}

func (a *countingAppender) Rollback() error {
	a.n = 0
	return a.Appender.Rollback()
}
