// Package remotewrite is the prometheus.remote_write component: it exports a
// `receiver` whose samples go to a write-ahead log under the component's
// data directory and from there, through one queue per `endpoint`, to
// remote-write receivers (Prometheus, Mimir, Cortex, Amazon Managed
// Prometheus).
//
// It does what Prometheus in agent mode does, with Prometheus' own code: the
// agent WAL (tsdb/agent) and the remote-write storage (storage/remote) with
// its WAL watchers and queue managers (sharding, batching, retry with
// backoff on 5xx and 429, dropping with a counter on other 4xx,
// resharding by throughput). flow adds:
//
//   - its own HTTP client per endpoint (see queues.go): SigV4 signing whose
//     credentials are updated in place when an aws.credentials component
//     rotates them, so the queue keeps running with its data;
//   - health that tells the truth: while every send to an endpoint fails,
//     the component is unhealthy with the endpoint's name and last error,
//     and healthy again as soon as a send succeeds;
//   - replay after a restart (replay.go): samples that were in the WAL but
//     not yet delivered when flow stopped or was killed are sent first.
package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb/agent"

	"github.com/flow-telemetry/flow/components/prometheus/internal/appendable"
	"github.com/flow-telemetry/flow/runtime/component"
)

func init() {
	component.Register(component.Registration{
		Name:    "prometheus.remote_write",
		Args:    Arguments{},
		Exports: Exports{},
		Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
			return New(opts, args.(Arguments))
		},
	})
}

// Exports are prometheus.remote_write's exports.
type Exports struct {
	Receiver storage.Appendable `river:"receiver,attr"`
}

// flushDeadline bounds how long stopping waits for queues to send what they
// hold. Samples still unsent stay in the WAL and are replayed at the next
// start, so there is no need to wait longer.
const flushDeadline = 10 * time.Second

// Component is a running prometheus.remote_write.
type Component struct {
	opts   component.Options
	remote *remote.Storage
	recv   *Receiver

	// mu serialises Update, health and shutdown.
	mu      sync.Mutex
	args    Arguments
	clients map[string]*endpointClient // by queue name
	applied []*config.RemoteWriteConfig
	ext     labels.Labels
	closed  bool

	// dbMu guards db; appenders hold it for reading for a transaction, so
	// the WAL can be reopened (new wal settings) between transactions.
	dbMu  sync.RWMutex
	db    *agent.DB
	dbReg *trackingRegisterer
}

var (
	_ component.HealthComponent = (*Component)(nil)
	_ component.DebugComponent  = (*Component)(nil)
)

// New opens (or creates) the WAL under opts.DataPath, starts a queue per
// endpoint and publishes the receiver.
func New(opts component.Options, args Arguments) (*Component, error) {
	if err := args.Validate(); err != nil {
		return nil, err
	}
	c := &Component{opts: opts, clients: map[string]*endpointClient{}}
	c.remote = remote.NewStorage(opts.Logger, opts.Registerer, startTime, opts.DataPath, flushDeadline, noScrapeManager{}, false)
	if err := c.openWAL(args.WAL); err != nil {
		_ = c.remote.Close()
		return nil, err
	}
	if err := c.applyEndpoints(args); err != nil {
		c.shutdown()
		return nil, err
	}
	c.args = args
	c.recv = &Receiver{c: c}
	opts.OnStateChange(Exports{Receiver: c.recv})
	return c, nil
}

// startTime is remote read's notion of the oldest local sample; the WAL
// serves no reads.
func startTime() (int64, error) { return int64(model.Latest), nil }

// noScrapeManager answers Prometheus' Remote-Write 1.0 metadata watcher,
// which reads metadata from a scrape manager. flow's scrape components are
// separate, so that path is off; Remote-Write 2.0 carries metadata from the
// WAL instead.
type noScrapeManager struct{}

func (noScrapeManager) Get() (*scrape.Manager, error) {
	return nil, errors.New("flow sends metadata from the WAL (Remote-Write 2.0), not from a scrape manager")
}

func (c *Component) openWAL(w WALOptions) error {
	reg := &trackingRegisterer{reg: c.opts.Registerer}
	db, err := agent.Open(c.opts.Logger, reg, c.remote, c.opts.DataPath, w.agentOptions())
	if err != nil {
		reg.unregisterAll()
		return fmt.Errorf("opening the WAL in %s: %w", c.opts.DataPath, err)
	}
	db.SetWriteNotified(c.remote)
	c.db, c.dbReg = db, reg
	return nil
}

// Run waits for cancellation, then closes the WAL and stops the queues,
// giving them flushDeadline to send what they hold.
func (c *Component) Run(ctx context.Context) error {
	<-ctx.Done()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shutdown()
	return nil
}

func (c *Component) shutdown() {
	if c.closed {
		return
	}
	c.closed = true
	c.dbMu.Lock()
	if c.db != nil {
		if err := c.db.Close(); err != nil {
			c.opts.Logger.Error("closing the WAL", "err", err)
		}
		c.dbReg.unregisterAll()
		c.db = nil
	}
	c.dbMu.Unlock()
	if err := c.remote.Close(); err != nil {
		c.opts.Logger.Error("stopping remote-write queues", "err", err)
	}
}

// Update applies new arguments:
//   - new SigV4 credentials only: the endpoint's signer is updated in place;
//     queue, client and connections stay;
//   - other HTTP settings (headers, TLS, auth): a new client is handed to
//     the running queue, which keeps its data;
//   - queue, relabel or protocol settings, external labels: Prometheus
//     restarts the queues whose configuration changed;
//   - wal settings: the WAL is closed and reopened (its data stays).
func (c *Component) Update(args component.Arguments) error {
	a := args.(Arguments)
	if err := a.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("component is stopped")
	}
	if a.WAL != c.args.WAL {
		c.dbMu.Lock()
		err := c.db.Close()
		c.dbReg.unregisterAll()
		if err == nil {
			err = c.openWAL(a.WAL)
		}
		c.dbMu.Unlock()
		if err != nil {
			return fmt.Errorf("reopening the WAL with new wal settings: %w", err)
		}
	}
	if err := c.applyEndpoints(a); err != nil {
		return err
	}
	c.args = a
	return nil
}

// applyEndpoints builds or updates the endpoints' clients and queues.
func (c *Component) applyEndpoints(a Arguments) error {
	clients := make(map[string]*endpointClient, len(a.Endpoints))
	configs := make([]*config.RemoteWriteConfig, 0, len(a.Endpoints))
	var changedClients []string
	for i := range a.Endpoints {
		ep := &a.Endpoints[i]
		name := ep.queueName()
		rc, err := ep.prometheusConfig()
		if err != nil {
			return fmt.Errorf("endpoint %q: %w", name, err)
		}
		configs = append(configs, rc)

		old := c.clients[name]
		if old != nil && reflect.DeepEqual(clientSettings(ep), old.settings) {
			if !reflect.DeepEqual(ep.sigv4(), c.sigv4Of(name)) {
				if err := old.updateCredentials(ep); err != nil {
					return fmt.Errorf("endpoint %q: %w", name, err)
				}
			}
			clients[name] = old
			continue
		}
		nc, err := newEndpointClient(ep, c.opts.Logger.With("endpoint", name))
		if err != nil {
			return fmt.Errorf("endpoint %q: %w", name, err)
		}
		clients[name] = nc
		changedClients = append(changedClients, name)
	}

	ext := a.externalLabels()
	restart := !labels.Equal(ext, c.ext) || !sameConfigs(configs, c.applied) || c.applied == nil
	if restart {
		cfg := &config.Config{
			GlobalConfig:       config.DefaultGlobalConfig,
			RemoteWriteConfigs: configs,
		}
		cfg.GlobalConfig.ExternalLabels = ext
		if err := c.remote.ApplyConfig(cfg); err != nil {
			return fmt.Errorf("applying remote-write configuration: %w", err)
		}
		// Prometheus has just given every queue (new or kept) a client of
		// its own making; replace them all.
		changedClients = changedClients[:0]
		for _, rc := range configs {
			changedClients = append(changedClients, rc.Name)
		}
	}
	if len(changedClients) > 0 {
		queues, err := queuesOf(c.remote)
		if err != nil {
			return err
		}
		for _, rc := range configs {
			if !contains(changedClients, rc.Name) {
				continue
			}
			h, err := queueHash(rc)
			if err != nil {
				return err
			}
			q, ok := queues[h]
			if !ok {
				return fmt.Errorf("prometheus internals changed: no queue for endpoint %q under its configuration hash", rc.Name)
			}
			q.SetClient(clients[rc.Name].write)
		}
	}
	c.clients, c.applied, c.ext = clients, configs, ext
	c.args.Endpoints = a.Endpoints
	return nil
}

// sigv4Of returns the SigV4 settings last applied to the named endpoint.
func (c *Component) sigv4Of(name string) any {
	for i := range c.args.Endpoints {
		if c.args.Endpoints[i].queueName() == name {
			return c.args.Endpoints[i].sigv4()
		}
	}
	return nil
}

func sameConfigs(a, b []*config.RemoteWriteConfig) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		ha, err1 := queueHash(a[i])
		hb, err2 := queueHash(b[i])
		if err1 != nil || err2 != nil || ha != hb {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CurrentHealth is unhealthy while every send to some endpoint fails.
func (c *Component) CurrentHealth() component.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	var problems []string
	for _, name := range sortedNames(c.clients) {
		cl := c.clients[name]
		if failing, since, msg := cl.obs.failing(now); failing {
			problems = append(problems, fmt.Sprintf("endpoint %q (%s): every send has failed since %s: %s",
				name, cl.url, since.UTC().Format(time.RFC3339), msg))
		}
	}
	if len(problems) > 0 {
		return component.Health{Health: component.HealthUnhealthy, Message: strings.Join(problems, "; "), UpdateTime: now}
	}
	return component.Health{Health: component.HealthHealthy, Message: fmt.Sprintf("%d endpoints sending", len(c.clients)), UpdateTime: now}
}

// DebugInfo describes every endpoint's client.
func (c *Component) DebugInfo() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var info debugInfo
	for _, name := range sortedNames(c.clients) {
		cl := c.clients[name]
		ei := endpointInfo{Name: name, URL: cl.url, observerState: cl.obs.state()}
		if cl.signer != nil {
			if err := cl.signer.LastError(); err != nil {
				ei.LastAWSError = err.Error()
			}
		}
		info.Endpoints = append(info.Endpoints, ei)
	}
	return info
}

type debugInfo struct {
	Endpoints []endpointInfo `river:"endpoint,block,optional"`
}

type endpointInfo struct {
	Name          string `river:"name,attr"`
	URL           string `river:"url,attr"`
	observerState `river:",squash"`
	LastAWSError  string `river:"last_aws_error,attr,optional"`
}

func sortedNames(m map[string]*endpointClient) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Receiver is the exported storage.Appendable: the WAL's appender.
type Receiver struct{ c *Component }

var (
	_ storage.Appendable  = (*Receiver)(nil)
	_ component.Countable = (*Receiver)(nil)
)

// Appender implements storage.Appendable.
func (r *Receiver) Appender(ctx context.Context) storage.Appender {
	r.c.dbMu.RLock()
	if r.c.db == nil {
		r.c.dbMu.RUnlock()
		return errAppender{err: errors.New("prometheus.remote_write is stopped")}
	}
	return &walAppender{Appender: r.c.db.Appender(ctx), unlock: r.c.dbMu.RUnlock}
}

// WithCounter implements component.Countable.
func (r *Receiver) WithCounter(counter func(n int)) any {
	return appendable.Counted(r, counter)
}

// walAppender releases the WAL read lock when its transaction ends.
type walAppender struct {
	storage.Appender
	unlock func()
	once   sync.Once
}

func (a *walAppender) Commit() error {
	defer a.once.Do(a.unlock)
	return a.Appender.Commit()
}

func (a *walAppender) Rollback() error {
	defer a.once.Do(a.unlock)
	return a.Appender.Rollback()
}

// trackingRegisterer remembers what the WAL registered, so that reopening
// it can unregister everything first.
type trackingRegisterer struct {
	reg prometheus.Registerer
	mu  sync.Mutex
	cs  []prometheus.Collector
}

func (t *trackingRegisterer) Register(c prometheus.Collector) error {
	if t.reg == nil {
		return nil
	}
	if err := t.reg.Register(c); err != nil {
		return err
	}
	t.mu.Lock()
	t.cs = append(t.cs, c)
	t.mu.Unlock()
	return nil
}

func (t *trackingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := t.Register(c); err != nil {
			panic(err) // the prometheus.Registerer contract
		}
	}
}

func (t *trackingRegisterer) Unregister(c prometheus.Collector) bool {
	if t.reg == nil {
		return false
	}
	return t.reg.Unregister(c)
}

func (t *trackingRegisterer) unregisterAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.cs {
		t.Unregister(c)
	}
	t.cs = nil
}
