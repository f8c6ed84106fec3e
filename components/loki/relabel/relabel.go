// Package relabel is the loki.relabel component: it applies Prometheus
// relabeling rules to the labels of each log entry and forwards the entries
// that survive. It exports its receiver and its compiled rules, so the rules
// can also be given to a source's relabel_rules.
package relabel

import (
	"context"
	"fmt"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/common/relabel"
	"github.com/flow-telemetry/flow/runtime/component"
)

func init() {
	component.Register(component.Registration{
		Name:    "loki.relabel",
		Args:    Arguments{},
		Exports: Exports{},
		Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
			return New(opts, args.(Arguments))
		},
	})
}

// Arguments configures loki.relabel.
type Arguments struct {
	ForwardTo []loki.LogsReceiver `river:"forward_to,attr"`
	Rules     []relabel.Rule      `river:"rule,block,optional"`
	// MaxCacheSize bounds the cache of relabeling results (Alloy's default).
	MaxCacheSize int `river:"max_cache_size,attr,optional"`
}

// SetToDefault sets Alloy's defaults.
func (a *Arguments) SetToDefault() { *a = Arguments{MaxCacheSize: 10000} }

// Validate compiles the rules so mistakes are reported at their block.
func (a *Arguments) Validate() error {
	if a.MaxCacheSize <= 0 {
		return fmt.Errorf("max_cache_size must be greater than 0, got %d", a.MaxCacheSize)
	}
	_, err := relabel.Compile(a.Rules)
	return err
}

// Exports are the receiver to forward entries to and the compiled rules.
type Exports struct {
	Receiver loki.LogsReceiver `river:"receiver,attr"`
	Rules    relabel.Rules     `river:"rules,attr"`
}

// cached is one relabeling result; in is kept to rule out fingerprint
// collisions.
type cached struct {
	in, out model.LabelSet // out is nil when the entry is dropped
}

// Component relabels entries.
type Component struct {
	opts component.Options

	mu        sync.RWMutex
	forwardTo []loki.LogsReceiver
	rules     relabel.Rules
	cache     *lru.Cache[model.Fingerprint, cached]
	recv      *loki.Receiver

	processed, written, dropped prometheus.Counter
}

// New builds a loki.relabel.
func New(opts component.Options, args Arguments) (*Component, error) {
	c := &Component{
		opts: opts,
		processed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_relabel_entries_processed_total", Help: "Log entries received by loki.relabel."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_relabel_entries_written_total", Help: "Log entries forwarded by loki.relabel."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_relabel_entries_dropped_total", Help: "Log entries dropped by a relabel rule."}),
	}
	if opts.Registerer != nil {
		for _, m := range []prometheus.Collector{c.processed, c.written, c.dropped} {
			if err := opts.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("registering loki.relabel metrics: %w", err)
			}
		}
	}
	if err := c.Update(args); err != nil {
		return nil, err
	}
	return c, nil
}

// Run waits for cancellation; all work happens in Send.
func (c *Component) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Update swaps in new rules and receivers; the cache is rebuilt because
// cached results belong to the old rules.
func (c *Component) Update(args component.Arguments) error {
	a := args.(Arguments)
	rules, err := relabel.Compile(a.Rules)
	if err != nil {
		return err
	}
	size := a.MaxCacheSize
	if size <= 0 {
		size = 10000
	}
	cache, err := lru.New[model.Fingerprint, cached](size)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.forwardTo, c.rules, c.cache = a.ForwardTo, rules, cache
	c.mu.Unlock()
	if c.opts.OnStateChange != nil {
		c.opts.OnStateChange(Exports{Receiver: c.receiver(), Rules: rules})
	}
	return nil
}

// receiver is created once so the export stays the same value across updates.
func (c *Component) receiver() *loki.Receiver {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recv == nil {
		c.recv = loki.NewReceiverWithFull(c.send, c.full)
	}
	return c.recv
}

// full reports what forward_to reports (loki.FullReporter), so a source
// before loki.relabel learns that the pipeline is full without doing work.
func (c *Component) full() error {
	c.mu.RLock()
	forwardTo := c.forwardTo
	c.mu.RUnlock()
	return loki.Full(forwardTo)
}

func (c *Component) send(ctx context.Context, entries []loki.Entry) error {
	c.mu.RLock()
	forwardTo, rules, cache := c.forwardTo, c.rules, c.cache
	c.mu.RUnlock()

	out := outPool.Get().([]loki.Entry)[:0]
	// Entries of one batch usually share their labels, most often the very
	// same map (a source labels a request's entries with one): remember the
	// last result to skip even the cache lookup.
	var lastIn, lastOut model.LabelSet
	for _, e := range entries {
		var ls model.LabelSet
		if lastIn != nil && (loki.SameLabelSet(lastIn, e.Labels) || lastIn.Equal(e.Labels)) {
			ls = lastOut
		} else {
			ls = relabelCached(rules, cache, e.Labels)
			lastIn, lastOut = e.Labels, ls
		}
		if ls == nil {
			continue
		}
		out = append(out, loki.Entry{Labels: ls, Entry: e.Entry})
	}
	c.processed.Add(float64(len(entries)))
	c.dropped.Add(float64(len(entries) - len(out)))
	defer func() {
		if cap(out) <= maxPooledEntries {
			// Receivers do not keep the slice after Send (loki.LogsReceiver's
			// contract); clear it so the pool does not pin these lines.
			clear(out)
			//lint:ignore SA6002 boxing the slice header costs 24 bytes per batch; the pooled entries it recycles are far larger
			outPool.Put(out[:0])
		}
	}()
	if len(out) == 0 {
		return nil
	}
	if err := loki.Fanout(ctx, forwardTo, out); err != nil {
		return err
	}
	loki.PublishEntries(c.opts.Live(), out)
	c.written.Add(float64(len(out)))
	return nil
}

// outPool recycles the slices of relabeled entries.
var outPool = sync.Pool{New: func() any { return []loki.Entry(nil) }}

// maxPooledEntries is the largest slice kept for reuse.
const maxPooledEntries = 16 << 10

func relabelCached(rules relabel.Rules, cache *lru.Cache[model.Fingerprint, cached], in model.LabelSet) model.LabelSet {
	fp := in.Fingerprint()
	if r, ok := cache.Get(fp); ok && r.in.Equal(in) {
		return r.out
	}
	out := loki.Relabel(rules, in)
	if out != nil && len(out) == 0 {
		// An entry with no labels left cannot be stored by Loki.
		out = nil
	}
	cache.Add(fp, cached{in: in, out: out})
	return out
}
