// Package appendable holds the storage.Appendable plumbing shared by the
// prometheus.* components: a fanout over the receivers in `forward_to`, and a
// counting wrapper that gives receivers component.Countable.
package appendable

import (
	"context"
	"errors"
	"math/rand/v2"
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
//
// Series references. Prometheus' scrape loop keeps the reference an append
// returns in its scrape cache, passes it back on the next scrape so the
// storage skips its label lookup, and tracks staleness by it: a series
// appended with reference 0 is never tracked, so it gets no staleness
// marker when it disappears from its target or the target goes away. The
// fanout therefore always returns a non-zero reference when its first
// receiver (the primary) does: the primary's own, passed back to it on the
// next append. The other receivers get 0 and look the series up by labels,
// since references of different receivers are unrelated.
//
// A reference is only meaningful to the receiver that issued it, and a
// receiver may trust it without comparing labels (Prometheus' agent WAL,
// which prometheus.remote_write used before its own, does), so a ref of
// one receiver handed to another could append samples to the wrong series,
// or at best costs a failed check. When the receivers change (forward_to edited), the scrape loops
// still hold the previous primary's references. So every set of receivers
// gets a random 64-bit key, and the references handed out are the
// primary's XOR that key: a reference issued under an earlier set decodes
// to a random number no receiver knows, which makes it look the series up
// by labels once and return a fresh reference that the scrape cache then
// keeps. Setting the same receivers again keeps the key.
type Fanout struct {
	gen atomic.Pointer[fanoutGen]
}

// fanoutGen is one set of receivers and the key of its references.
type fanoutGen struct {
	children []storage.Appendable
	key      storage.SeriesRef
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
	if old := f.gen.Load(); old != nil && sameReceivers(old.children, c) {
		return
	}
	key := storage.SeriesRef(rand.Uint64() | 1)
	f.gen.Store(&fanoutGen{children: c, key: key})
}

// sameReceivers reports whether a and b are the same receivers in the same
// order. Receivers are pointers in practice; one of an uncomparable
// dynamic type counts as changed.
func sameReceivers(a, b []storage.Appendable) (same bool) {
	if len(a) != len(b) {
		return false
	}
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// UsesMetadata reports whether any of the fanout's receivers uses metric
// metadata (see MetadataUser).
func (f *Fanout) UsesMetadata() bool { return UsesMetadata(f.gen.Load().children) }

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
	g := f.gen.Load()
	switch len(g.children) {
	case 0:
		return discard{}
	case 1:
		return &oneAppender{app: g.children[0].Appender(ctx), key: g.key}
	}
	apps := make([]storage.Appender, len(g.children))
	for i, c := range g.children {
		apps[i] = c.Appender(ctx)
	}
	return &multiAppender{apps: apps, key: g.key}
}

// keyRef translates between the caller's references and the primary
// receiver's (see Fanout), both ways: 0 stays 0.
func keyRef(ref, key storage.SeriesRef) storage.SeriesRef {
	if ref == 0 {
		return 0
	}
	return ref ^ key
}

// oneAppender is the appender of a fanout with one receiver: the
// receiver's appender with references keyed.
type oneAppender struct {
	app storage.Appender
	key storage.SeriesRef
}

func (o *oneAppender) conv(ref storage.SeriesRef) storage.SeriesRef { return keyRef(ref, o.key) }

func (o *oneAppender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	r, err := o.app.Append(o.conv(ref), l, t, v)
	return o.conv(r), err
}

func (o *oneAppender) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	r, err := o.app.AppendHistogram(o.conv(ref), l, t, h, fh)
	return o.conv(r), err
}

func (o *oneAppender) AppendHistogramSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	r, err := o.app.AppendHistogramSTZeroSample(o.conv(ref), l, t, st, h, fh)
	return o.conv(r), err
}

func (o *oneAppender) AppendExemplar(ref storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	r, err := o.app.AppendExemplar(o.conv(ref), l, e)
	return o.conv(r), err
}

func (o *oneAppender) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, md metadata.Metadata) (storage.SeriesRef, error) {
	r, err := o.app.UpdateMetadata(o.conv(ref), l, md)
	return o.conv(r), err
}

func (o *oneAppender) AppendSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64) (storage.SeriesRef, error) {
	r, err := o.app.AppendSTZeroSample(o.conv(ref), l, t, st)
	return o.conv(r), err
}

func (o *oneAppender) SetOptions(opts *storage.AppendOptions) { o.app.SetOptions(opts) }
func (o *oneAppender) Commit() error                          { return o.app.Commit() }
func (o *oneAppender) Rollback() error                        { return o.app.Rollback() }

// multiAppender appends to several appenders: the first (the primary) with
// the caller's reference, keyed, the others with 0 (see Fanout).
type multiAppender struct {
	apps []storage.Appender
	key  storage.SeriesRef
}

func (m *multiAppender) conv(ref storage.SeriesRef) storage.SeriesRef { return keyRef(ref, m.key) }

// do calls f on every appender, the primary with ref, the others with 0,
// and returns the primary's reference, keyed, and the errors.
func (m *multiAppender) do(ref storage.SeriesRef, f func(a storage.Appender, ref storage.SeriesRef) (storage.SeriesRef, error)) (storage.SeriesRef, error) {
	r, err := f(m.apps[0], m.conv(ref))
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, a := range m.apps[1:] {
		if _, err := f(a, 0); err != nil {
			errs = append(errs, err)
		}
	}
	return m.conv(r), joinErrs(errs)
}

// joinErrs keeps a single error as it is: the scrape loop recognises
// sentinels (ErrOutOfOrderSample…) by identity.
func joinErrs(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

func (m *multiAppender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	return m.do(ref, func(a storage.Appender, r storage.SeriesRef) (storage.SeriesRef, error) { return a.Append(r, l, t, v) })
}

func (m *multiAppender) AppendHistogram(ref storage.SeriesRef, l labels.Labels, t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return m.do(ref, func(a storage.Appender, r storage.SeriesRef) (storage.SeriesRef, error) {
		return a.AppendHistogram(r, l, t, h, fh)
	})
}

func (m *multiAppender) AppendHistogramSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64, h *histogram.Histogram, fh *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return m.do(ref, func(a storage.Appender, r storage.SeriesRef) (storage.SeriesRef, error) {
		return a.AppendHistogramSTZeroSample(r, l, t, st, h, fh)
	})
}

func (m *multiAppender) AppendExemplar(ref storage.SeriesRef, l labels.Labels, e exemplar.Exemplar) (storage.SeriesRef, error) {
	return m.do(ref, func(a storage.Appender, r storage.SeriesRef) (storage.SeriesRef, error) {
		return a.AppendExemplar(r, l, e)
	})
}

func (m *multiAppender) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, md metadata.Metadata) (storage.SeriesRef, error) {
	return m.do(ref, func(a storage.Appender, r storage.SeriesRef) (storage.SeriesRef, error) {
		return a.UpdateMetadata(r, l, md)
	})
}

func (m *multiAppender) AppendSTZeroSample(ref storage.SeriesRef, l labels.Labels, t, st int64) (storage.SeriesRef, error) {
	return m.do(ref, func(a storage.Appender, r storage.SeriesRef) (storage.SeriesRef, error) {
		return a.AppendSTZeroSample(r, l, t, st)
	})
}

func (m *multiAppender) SetOptions(opts *storage.AppendOptions) {
	for _, a := range m.apps {
		a.SetOptions(opts)
	}
}

func (m *multiAppender) Commit() error {
	var errs []error
	for _, a := range m.apps {
		if err := a.Commit(); err != nil {
			errs = append(errs, err)
		}
	}
	return joinErrs(errs)
}

func (m *multiAppender) Rollback() error {
	var errs []error
	for _, a := range m.apps {
		if err := a.Rollback(); err != nil {
			errs = append(errs, err)
		}
	}
	return joinErrs(errs)
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
