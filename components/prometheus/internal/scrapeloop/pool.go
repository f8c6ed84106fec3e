// Package scrapeloop is flow's own scrape loop: a scrape pool for one job
// that behaves as Prometheus' scrape.Manager with one scrape config does
// (same series, values, staleness markers, report series, limits, target
// sync and scrape offsets; see loop.go's append and the differential test
// in components/prometheus/scrape), built on Prometheus' public packages:
// model/textparse for every exposition format, model/relabel, model/labels,
// and scrape's exported target construction (PopulateLabels, NewTarget,
// Target's health reporting).
//
// What it does differently, on purpose, is memory and time per series: its
// cache (cache.go) is keyed by a 128-bit hash of each series' text instead
// of a copy of it, and tracks staleness in its entries instead of two maps
// of references rebuilt on every scrape.
//
// Not done here (the component falls back to Prometheus' scrape.Manager
// for configurations that need them): passing metadata in the append
// context (honor_metadata), the scrape failure log file, start timestamp
// (created timestamp) zero ingestion, and zstd-compressed responses (which
// Prometheus decodes only behind a feature flag flow does not set, so both
// fail such scrapes alike).
package scrapeloop

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"reflect"
	"runtime"
	"sync"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/osutil"

	"github.com/prometheus/client_golang/prometheus"
)

// Options are a Pool's settings that do not come from the scrape config.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Appendable storage.Appendable
	// AppendMetadata appends each series' type, help and unit when it is
	// new or its family's metadata changed (Prometheus' AppendMetadata).
	AppendMetadata bool
	// EnableTypeAndUnitLabels adds __type__ and __unit__ labels.
	EnableTypeAndUnitLabels bool
	HTTPClientOptions       []config_util.HTTPClientOption
}

// Pool scrapes the targets of one job. Its methods mirror the part of
// scrape.Manager the component uses: ApplyConfig, Run with target groups,
// TargetsActive, Stop and UnregisterMetrics.
type Pool struct {
	opts       Options
	metrics    *metrics
	offsetSeed uint64
	buffers    *bodyBuffers
	symbols    *labels.SymbolTable

	// mu serializes configuration, syncs and stop.
	mu          sync.Mutex
	cfg         *config.ScrapeConfig
	client      *http.Client
	unixClients map[string]*http.Client
	ctx         context.Context
	cancel      context.CancelFunc
	groups      []*targetgroup.Group
	stopped     bool
	done        chan struct{}
	stopOnce    sync.Once

	// tmu guards targets, loops and job for readers (TargetsActive, which
	// must not wait for a sync stopping loops).
	tmu     sync.Mutex
	job     string
	targets map[uint64]*scrape.Target
	loops   map[uint64]*loop
}

// New returns a pool with no configuration and no targets.
func New(opts Options) (*Pool, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Appendable == nil {
		return nil, errors.New("scrapeloop: no appendable")
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("registering scrape metrics: %w", err)
	}
	p := &Pool{
		opts:    opts,
		metrics: m,
		buffers: newBodyBuffers(max(2, runtime.GOMAXPROCS(0))),
		symbols: labels.NewSymbolTable(),
		done:    make(chan struct{}),
		targets: map[uint64]*scrape.Target{},
		loops:   map[uint64]*loop{},
	}
	// The scrape offsets of one agent are spread by a seed of its host
	// name, as the scrape manager's (with no external labels).
	h := fnv.New64a()
	host, err := osutil.GetFQDN()
	if err != nil {
		host = ""
	}
	_, _ = fmt.Fprintf(h, "%s%s", host, labels.EmptyLabels().String())
	p.offsetSeed = h.Sum64()
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// ApplyConfig sets the job's scrape config: none stops every loop (without
// staleness markers, as a stopped scrape pool); a new job name restarts
// the pool; other changes restart the loops, keeping their caches when
// only the interval, timeout, sample limit or HTTP client changed.
func (p *Pool) ApplyConfig(cfg *config.Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errors.New("scrape pool stopped")
	}
	if len(cfg.ScrapeConfigs) == 0 {
		p.stopAllLocked()
		p.cfg = nil
		return nil
	}
	if len(cfg.ScrapeConfigs) > 1 {
		return errors.New("scrapeloop: one scrape config per pool")
	}
	sc := cfg.ScrapeConfigs[0]
	if _, err := config.ToEscapingScheme(sc.MetricNameEscapingScheme, sc.MetricNameValidationScheme); err != nil {
		return fmt.Errorf("invalid metric name escaping scheme, %w", err)
	}
	if p.cfg != nil && reflect.DeepEqual(p.cfg, sc) {
		return nil
	}
	client, err := newClient(sc.HTTPClientConfig, sc.JobName, "", p.opts.HTTPClientOptions)
	if err != nil {
		return err
	}
	old := p.cfg
	oldClient, oldUnix := p.client, p.unixClients
	p.client, p.unixClients = client, nil
	switch {
	case old == nil || old.JobName != sc.JobName:
		if old != nil {
			p.stopAllLocked()
			p.metrics.poolTargets.DeleteLabelValues(old.JobName)
			p.metrics.poolTargetLimit.DeleteLabelValues(old.JobName)
		}
		p.cfg = sc
		p.tmu.Lock()
		p.job = sc.JobName
		p.tmu.Unlock()
		p.metrics.poolTargetLimit.WithLabelValues(sc.JobName).Set(float64(sc.TargetLimit))
		if p.groups != nil {
			p.syncLocked(p.groups)
		}
	default:
		p.cfg = sc
		p.metrics.poolTargetLimit.WithLabelValues(sc.JobName).Set(float64(sc.TargetLimit))
		p.restartLoopsLocked(reusableCache(old, sc))
	}
	if oldClient != nil {
		oldClient.CloseIdleConnections()
	}
	for _, c := range oldUnix {
		c.CloseIdleConnections()
	}
	return nil
}

// reusableCache reports whether a loop's cache stays valid from r to l:
// only settings that do not change what is appended differ (Prometheus'
// rule).
func reusableCache(r, l *config.ScrapeConfig) bool {
	if r == nil || l == nil {
		return false
	}
	zero := func(c *config.ScrapeConfig) *config.ScrapeConfig {
		z := *c
		z.ScrapeInterval, z.ScrapeTimeout, z.SampleLimit = 0, 0, 0
		z.HTTPClientConfig = config_util.HTTPClientConfig{}
		return &z
	}
	return reflect.DeepEqual(zero(r), zero(l))
}

// Run syncs the targets it receives until Stop.
func (p *Pool) Run(tsets <-chan map[string][]*targetgroup.Group) error {
	for {
		select {
		case <-p.done:
			return nil
		case ts := <-tsets:
			var groups []*targetgroup.Group
			for _, g := range ts {
				groups = append(groups, g...)
			}
			p.Sync(groups)
		}
	}
}

// Sync scrapes the targets of groups: loops of unchanged targets go on,
// new targets get loops, and the loops of targets gone stop (their series
// get staleness markers two intervals later).
func (p *Pool) Sync(groups []*targetgroup.Group) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	if groups == nil {
		groups = []*targetgroup.Group{}
	}
	p.groups = groups
	if p.cfg != nil {
		p.syncLocked(groups)
	}
}

type newTarget struct {
	t                 *scrape.Target
	hash              uint64
	tLabels, tgLabels model.LabelSet
}

func (p *Pool) syncLocked(groups []*targetgroup.Group) {
	cfg := p.cfg
	lb := labels.NewBuilder(labels.EmptyLabels())
	var all []newTarget
	failed := 0
	for _, tg := range groups {
		for i, tl := range tg.Targets {
			lset, err := scrape.PopulateLabels(lb, cfg, tl, tg.Labels)
			if err != nil {
				p.opts.Logger.Error("Creating target failed", "err", fmt.Errorf("instance %d in group %s: %w", i, tg, err))
				failed++
				continue
			}
			if lset.IsEmpty() {
				continue // dropped by relabelling
			}
			t := scrape.NewTarget(lset, cfg, tl, tg.Labels)
			nonEmpty := false
			t.LabelsRange(func(labels.Label) { nonEmpty = true })
			if !nonEmpty {
				continue
			}
			all = append(all, newTarget{t: t, hash: targetHash(lset, t), tLabels: tl, tgLabels: tg.Labels})
		}
	}
	p.metrics.syncFailed.WithLabelValues(cfg.JobName).Add(float64(failed))

	var started []*loop
	unique := map[uint64]bool{}
	sockets := map[string]bool{}
	p.tmu.Lock()
	for _, nt := range all {
		if s := nt.t.GetValue(scrape.UnixSocketLabel); s != "" {
			sockets[s] = true
		}
		if unique[nt.hash] {
			continue
		}
		unique[nt.hash] = true
		if old, ok := p.targets[nt.hash]; ok {
			old.SetScrapeConfig(cfg, nt.tLabels, nt.tgLabels)
			continue
		}
		l := p.newLoop(nt.t, nt.hash, nil, cfg)
		p.targets[nt.hash] = nt.t
		p.loops[nt.hash] = l
		started = append(started, l)
	}
	var wg sync.WaitGroup
	for h, l := range p.loops {
		if !unique[h] {
			wg.Go(l.stop)
			delete(p.loops, h)
			delete(p.targets, h)
		}
	}
	forced := p.targetLimitErrLocked()
	for _, l := range p.loops {
		l.setForcedError(forced)
	}
	p.tmu.Unlock()
	for s, c := range p.unixClients {
		if !sockets[s] {
			c.CloseIdleConnections()
			delete(p.unixClients, s)
		}
	}
	p.metrics.poolTargets.WithLabelValues(cfg.JobName).Set(float64(len(unique)))
	for _, l := range started {
		go l.run()
	}
	wg.Wait()
}

// targetLimitErrLocked is the error every loop reports while the job has
// more targets than target_limit. p.tmu is held.
func (p *Pool) targetLimitErrLocked() error {
	if p.cfg == nil || p.cfg.TargetLimit == 0 {
		return nil
	}
	if n := len(p.targets); n > int(p.cfg.TargetLimit) {
		p.metrics.exceededTargetLimit.Inc()
		return fmt.Errorf("target_limit exceeded (number of targets: %d, limit: %d)", n, p.cfg.TargetLimit)
	}
	return nil
}

// restartLoopsLocked replaces every loop with one made with the current
// config, on the same target.
func (p *Pool) restartLoopsLocked(reuseCache bool) {
	var wg sync.WaitGroup
	p.tmu.Lock()
	forced := p.targetLimitErrLocked()
	for h, old := range p.loops {
		var c *cache
		if reuseCache {
			old.disabledEndOfRunStalenessMarkers.Store(true)
			c = old.cache
		}
		nl := p.newLoop(p.targets[h], h, c, p.cfg)
		if forced != nil {
			nl.setForcedError(forced)
		}
		p.loops[h] = nl
		wg.Add(1)
		go func() {
			old.stop()
			wg.Done()
			nl.run()
		}()
	}
	p.tmu.Unlock()
	// Returns when the old loops stopped; the new ones run on.
	wg.Wait()
}

// clientForTarget is the job's client, or a client of the target's unix
// socket. p.mu is held.
func (p *Pool) clientForTarget(t *scrape.Target) *http.Client {
	s := t.GetValue(scrape.UnixSocketLabel)
	if s == "" {
		return p.client
	}
	if c, ok := p.unixClients[s]; ok {
		return c
	}
	c, err := newClient(p.cfg.HTTPClientConfig, p.cfg.JobName, s, p.opts.HTTPClientOptions)
	if err != nil {
		p.opts.Logger.Error("Failed to create unix socket scrape client", "socket_path", s, "err", err)
		c = &http.Client{Transport: failingRoundTripper{err: fmt.Errorf("creating unix socket scrape client for %q: %w", s, err)}}
	}
	if p.unixClients == nil {
		p.unixClients = map[string]*http.Client{}
	}
	p.unixClients[s] = c
	return c
}

type failingRoundTripper struct{ err error }

func (rt failingRoundTripper) RoundTrip(*http.Request) (*http.Response, error) { return nil, rt.err }

// stopAllLocked stops every loop, then cancels the pool's context, so no
// end-of-run staleness markers are written (a stopped pool, as in
// Prometheus), and starts a new context for later loops.
func (p *Pool) stopAllLocked() {
	var wg sync.WaitGroup
	p.tmu.Lock()
	for h, l := range p.loops {
		wg.Go(l.stop)
		delete(p.loops, h)
		delete(p.targets, h)
	}
	p.tmu.Unlock()
	wg.Wait()
	p.cancel()
	if p.client != nil {
		p.client.CloseIdleConnections()
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
}

// TargetsActive returns the pool's targets under the job name.
func (p *Pool) TargetsActive() map[string][]*scrape.Target {
	p.tmu.Lock()
	defer p.tmu.Unlock()
	out := make([]*scrape.Target, 0, len(p.targets))
	for _, t := range p.targets {
		out = append(out, t)
	}
	return map[string][]*scrape.Target{p.job: out}
}

// Stop stops every loop (no staleness markers) and ends Run.
func (p *Pool) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopAllLocked()
	p.cancel()
	p.stopped = true
	p.stopOnce.Do(func() { close(p.done) })
}

// UnregisterMetrics removes the pool's metrics from its registerer.
func (p *Pool) UnregisterMetrics() { p.metrics.unregister() }
