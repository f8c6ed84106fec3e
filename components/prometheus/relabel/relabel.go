// Package relabel is the prometheus.relabel component. It has two forms,
// which can also be used together:
//
//   - with `forward_to`, it exports `receiver`: a storage.Appendable that
//     relabels every sample's series with the `rule` blocks and forwards the
//     samples it keeps (Alloy's meaning). Relabel results are cached in an LRU
//     keyed by the incoming series, so the rules run once per series, not
//     once per sample;
//   - with `targets`, it relabels discovery targets and exports `output`, as
//     discovery.relabel does (the form the ec2-discovery seed pipeline uses).
//
// It always exports `rules`, the compiled rules.
package relabel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/common/relabel"
	"github.com/flow-telemetry/flow/components/prometheus/internal/appendable"
	"github.com/flow-telemetry/flow/runtime/component"
)

func init() {
	component.Register(component.Registration{
		Name:    "prometheus.relabel",
		Args:    Arguments{},
		Exports: Exports{},
		// Keeps nothing on disk.
		NoDataPath: true,
		Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
			return New(opts, args.(Arguments))
		},
	})
}

// DefaultMaxCacheSize is Alloy's and Prometheus agent's usual series count scale.
const DefaultMaxCacheSize = 100_000

// Arguments are prometheus.relabel's arguments.
type Arguments struct {
	ForwardTo    []storage.Appendable `river:"forward_to,attr,optional"`
	Targets      []map[string]string  `river:"targets,attr,optional"`
	Rules        []relabel.Rule       `river:"rule,block,optional"`
	MaxCacheSize int                  `river:"max_cache_size,attr,optional"`
	// CacheTTL drops a cached relabel result unused for this long (0: only
	// max_cache_size bounds the cache), so the memory of series that stopped
	// is freed after a deploy or a target going away.
	CacheTTL time.Duration `river:"cache_ttl,attr,optional"`
}

// SetToDefault implements component.Defaulter.
func (a *Arguments) SetToDefault() { *a = Arguments{MaxCacheSize: DefaultMaxCacheSize} }

// Validate implements component.Validator.
func (a *Arguments) Validate() error {
	if a.CacheTTL < 0 {
		return fmt.Errorf("cache_ttl must not be negative, got %s", a.CacheTTL)
	}
	// 0 with cache_ttl is Alloy's TTL mode: entries are bounded by age only.
	if a.MaxCacheSize < 0 || a.MaxCacheSize == 0 && a.CacheTTL == 0 {
		return fmt.Errorf("max_cache_size must be greater than 0 (or 0 with cache_ttl set), got %d", a.MaxCacheSize)
	}
	return nil
}

// Exports are prometheus.relabel's exports.
type Exports struct {
	Receiver storage.Appendable  `river:"receiver,attr"`
	Output   []map[string]string `river:"output,attr"`
	Rules    relabel.Rules       `river:"rules,attr"`
}

// Component is a running prometheus.relabel.
type Component struct {
	opts    component.Options
	metrics *metrics
	recv    *Receiver

	mu sync.Mutex // serialises Update
}

var _ component.DebugComponent = (*Component)(nil)

// New builds the component and publishes its first exports.
func New(opts component.Options, args Arguments) (*Component, error) {
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Component{opts: opts, metrics: m, recv: &Receiver{metrics: m, live: opts.Live()}}
	if err := c.Update(args); err != nil {
		return nil, err
	}
	return c, nil
}

// Run advances the cache's clock and sweeps expired entries (cache_ttl)
// until cancelled: samples flow through the receiver on the callers'
// goroutines.
func (c *Component) Run(ctx context.Context) error {
	t := time.NewTicker(clockInterval)
	defer t.Stop()
	var lastSweep time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			s := c.recv.state.Load()
			s.advance(now)
			if s.ttl > 0 && now.Sub(lastSweep) >= sweepEvery(s.ttl) {
				lastSweep = now
				s.sweep(now)
				c.metrics.size.Set(float64(s.len()))
			}
		}
	}
}

// clockInterval is how often the cache's coarse clock advances.
const clockInterval = time.Second

// sweepEvery is how often expired entries are dropped: a tenth of the ttl,
// between 1 s and 1 min, so cache_ttl is honoured within 10 % (at least
// 1 s). A sweep scans every entry (random eviction keeps no age order), so
// with a million series sweeping every second would cost a few percent of
// a core.
func sweepEvery(ttl time.Duration) time.Duration {
	return min(max(ttl/10, time.Second), time.Minute)
}

// Update applies new rules, receivers or targets. The receiver keeps its
// identity, so components forwarding to it are not re-evaluated; its cache
// starts empty because cached results belong to the old rules.
func (c *Component) Update(args component.Arguments) error {
	a := args.(Arguments)
	if err := a.Validate(); err != nil {
		return err
	}
	rules, err := relabel.Compile(a.Rules)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recv.setState(newState(rules, a.ForwardTo, a.MaxCacheSize, a.CacheTTL))
	c.opts.OnStateChange(Exports{
		Receiver: c.recv,
		Output:   relabel.ProcessTargets(a.Targets, rules),
		Rules:    rules,
	})
	return nil
}

// DebugInfo reports the cache's state.
func (c *Component) DebugInfo() any {
	s := c.recv.state.Load()
	return debugInfo{CacheSize: s.len(), MaxCacheSize: s.maxSize, Rules: len(s.rules), Receivers: len(s.children)}
}

type debugInfo struct {
	CacheSize    int `river:"cache_size,attr"`
	MaxCacheSize int `river:"max_cache_size,attr"`
	Rules        int `river:"rules,attr"`
	Receivers    int `river:"receivers,attr"`
}

type metrics struct {
	processed prometheus.Counter
	written   prometheus.Counter
	hits      prometheus.Counter
	misses    prometheus.Counter
	size      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		processed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "prometheus_relabel_metrics_processed",
			Help: "Samples received by prometheus.relabel's receiver.",
		}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "prometheus_relabel_metrics_written",
			Help: "Samples kept by the rules and forwarded.",
		}),
		hits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "prometheus_relabel_cache_hits",
			Help: "Samples whose relabel result came from the cache.",
		}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "prometheus_relabel_cache_misses",
			Help: "Samples whose series had to be relabelled.",
		}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "prometheus_relabel_cache_size",
			Help: "Series in the relabel cache.",
		}),
	}
	if reg != nil {
		if err := reg.Register(m); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("registering prometheus.relabel metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Describe and Collect make the five metrics one collector, registered with
// one call: each registration costs the registry a goroutine and its checks,
// and a config of 500 prometheus.relabel spent a tenth of its start on them.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all() {
		c.Describe(ch)
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all() {
		c.Collect(ch)
	}
}

func (m *metrics) all() [5]prometheus.Collector {
	return [5]prometheus.Collector{m.processed, m.written, m.hits, m.misses, m.size}
}

// Receiver is the exported storage.Appendable.
type Receiver struct {
	live    component.LiveDebug
	metrics *metrics
	state   atomic.Pointer[state]
}

var (
	_ storage.Appendable  = (*Receiver)(nil)
	_ component.Countable = (*Receiver)(nil)
)

func (r *Receiver) setState(s *state) {
	r.state.Store(s)
	r.metrics.size.Set(0)
}

// Appender implements storage.Appendable. The appender keeps the state it
// started with, so one transaction sees one set of rules and receivers.
func (r *Receiver) Appender(ctx context.Context) storage.Appender {
	s := r.state.Load()
	a := &appender{ctx: ctx, s: s, m: r.metrics, apps: make([]storage.Appender, len(s.children))}
	a.live = a.ls.Reset(r.live)
	return a
}

// UsesMetadata implements appendable.MetadataUser: metadata passes through
// to the receivers, so it is used if one of them uses it.
func (r *Receiver) UsesMetadata() bool {
	s := r.state.Load()
	return s != nil && appendable.UsesMetadata(s.children)
}

// WithCounter implements component.Countable.
func (r *Receiver) WithCounter(counter func(n int)) any {
	return appendable.Counted(r, counter)
}
