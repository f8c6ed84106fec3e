// Package remotewrite is the prometheus.remote_write component: it exports a
// `receiver` whose samples go to a write-ahead log under the component's
// data directory and from there, through one queue per `endpoint`, to
// remote-write receivers (Prometheus, Mimir, Cortex, Amazon Managed
// Prometheus).
//
// It does what Prometheus in agent mode does: a WAL in agent's format,
// written by flow's own writer (internal/wal, which says why), and
// Prometheus' remote-write storage (storage/remote) with
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
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb/wlog"

	"github.com/flow-telemetry/flow/components/prometheus/remote_write/internal/wal"
	"github.com/flow-telemetry/flow/internal/promreg"
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
	mu       sync.Mutex
	args     Arguments
	clients  map[string]*endpointClient // by queue name
	statuses map[string]*endpointStatus // by queue name; outlive clients
	m        *metrics
	gates    map[string]*gate // live queue gates, shut while replaying
	applied  []*config.RemoteWriteConfig
	ext      labels.Labels
	closed   bool
	trackers atomic.Pointer[map[string]*tracker] // read by every commit
	// meta is the metric metadata received, for Remote-Write 1.0
	// endpoints (metadata.go).
	meta metadataStore
	// usesMeta is set while some endpoint sends metadata (Receiver.UsesMetadata).
	usesMeta atomic.Bool

	// firstOwnSegment is the first WAL segment this run wrote.
	firstOwnSegment int
	// replays run in the background; stopping cancels and waits for them.
	replayCtx    context.Context
	cancelReplay context.CancelFunc
	replays      sync.WaitGroup

	// dbMu guards db; appenders hold it for reading for a transaction, so
	// the WAL can be reopened (new wal settings, recovery from a failed
	// write) between transactions.
	dbMu      sync.RWMutex
	db        *wal.DB // nil while closed or after reopening failed
	dbReg     *promreg.Tracking
	walOpts   WALOptions // what db was opened with
	walClosed bool       // the component stopped

	// commitMu serialises WAL writes (commits, rollbacks): see walguard.go.
	commitMu sync.Mutex
	// walFail is set from the first failed WAL write until the WAL is
	// reopened; while set, appends are refused.
	walFail    atomic.Pointer[walFailure]
	recoverNow chan struct{}
	ws         walState
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
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Component{opts: opts, m: m, clients: map[string]*endpointClient{}, statuses: map[string]*endpointStatus{}, gates: map[string]*gate{}, recoverNow: make(chan struct{}, 1)}
	c.ws.waitingFree = -1
	c.replayCtx, c.cancelReplay = context.WithCancel(context.Background())
	empty := map[string]*tracker{}
	c.trackers.Store(&empty)
	// The queues' WAL watchers report read failures only in their logs.
	c.remote = remote.NewStorage(newLogTap(opts.Logger, c.onPrometheusLog), opts.Registerer, startTime, opts.DataPath, flushDeadline, noScrapeManager{}, false)
	if err := c.openWAL(args.WAL, 0); err != nil {
		_ = c.remote.Close()
		m.unregister(opts.Registerer)
		return nil, err
	}
	// wal.Open started a new segment: everything before it is the
	// previous run's.
	_, last, err := wlog.Segments(filepath.Join(opts.DataPath, "wal"))
	if err != nil {
		c.shutdown()
		m.unregister(opts.Registerer)
		return nil, fmt.Errorf("listing WAL segments: %w", err)
	}
	c.firstOwnSegment = last
	if err := c.applyEndpoints(args, true); err != nil {
		c.shutdown()
		m.unregister(opts.Registerer)
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

// openWAL repairs the WAL from segment from on (walrepair.go), then opens
// it. No one else uses the WAL meanwhile (start-up, or dbMu held).
func (c *Component) openWAL(w WALOptions, from int) error {
	rep, err := repairWAL(c.walDir(), from)
	c.noteRepair(rep)
	if err != nil {
		// Prometheus reads the WAL next and repairs what it cannot read
		// its own way (reported through the log tap).
		c.opts.Logger.Error("repairing the WAL failed", "err", err)
	}
	reg := promreg.NewTracking(c.opts.Registerer)
	db, err := wal.Open(newLogTap(c.opts.Logger, c.onPrometheusLog), reg, c.opts.DataPath, w.walOptions(), c.remote.LowestSentTimestamp)
	if err != nil {
		reg.UnregisterAll()
		return fmt.Errorf("opening the WAL in %s: %w", c.opts.DataPath, err)
	}
	db.SetWriteNotified(c.remote)
	c.db, c.dbReg, c.walOpts = db, reg, w
	c.makeReserve()
	return nil
}

// Run waits for cancellation, then closes the WAL and stops the queues,
// giving them flushDeadline to send what they hold.
func (c *Component) Run(ctx context.Context) error {
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	// Metric metadata for Remote-Write 1.0 endpoints (metadata.go).
	metaDone := make(chan struct{})
	go func() {
		defer close(metaDone)
		c.runMetadata(ctx)
	}()
	for {
		select {
		case <-ctx.Done():
			<-metaDone
			c.mu.Lock()
			defer c.mu.Unlock()
			c.shutdown()
			return nil
		case now := <-tk.C:
			c.flushMarkers(now)
			c.recoverWAL(now)
		case <-c.recoverNow:
			c.recoverWAL(time.Now())
		}
	}
}

// flushMarkers advances and writes down every endpoint's delivery marker.
func (c *Component) flushMarkers(now time.Time) {
	for _, tr := range *c.trackers.Load() {
		if err := tr.flush(now); err != nil {
			c.accountingError(err)
		}
	}
}

func (c *Component) accountingError(err error) {
	c.opts.Logger.Error("delivery accounting failed; after a restart some samples may be sent twice or not at all", "err", err)
}

func (c *Component) shutdown() {
	if c.closed {
		return
	}
	c.closed = true
	c.cancelReplay()
	c.replays.Wait()
	c.dbMu.Lock()
	c.walClosed = true
	if err := c.closeWALLocked(c.firstOwnSegment); err != nil {
		c.opts.Logger.Error("closing the WAL", "err", err)
	}
	c.dbMu.Unlock()
	if err := c.remote.Close(); err != nil {
		c.opts.Logger.Error("stopping remote-write queues", "err", err)
	}
	// The queues have stopped: no client is in use any more.
	for _, cl := range c.clients {
		cl.retire()
	}
	// The queues have sent what they could: write the markers down.
	c.flushMarkers(time.Now())
	for _, tr := range *c.trackers.Load() {
		_ = tr.file.close()
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
		err := c.reopenWALLocked(a.WAL, c.firstOwnSegment)
		if err == nil {
			c.walFail.Store(nil)
		}
		c.dbMu.Unlock()
		if err != nil {
			return fmt.Errorf("reopening the WAL with new wal settings: %w", err)
		}
	}
	if err := c.applyEndpoints(a, false); err != nil {
		return err
	}
	c.args = a
	return nil
}

// applyEndpoints builds or updates the endpoints' clients and queues. A
// queue that (re)starts first replays what its endpoint has not received
// (replay.go); at start-up that is what an earlier run left undelivered.
func (c *Component) applyEndpoints(a Arguments, startup bool) error {
	ext := a.externalLabels()
	clients := make(map[string]*endpointClient, len(a.Endpoints))
	trackers := make(map[string]*tracker, len(a.Endpoints))
	configs := make([]*config.RemoteWriteConfig, 0, len(a.Endpoints))
	oldTrackers := *c.trackers.Load()
	var changedClients []string
	for i := range a.Endpoints {
		ep := &a.Endpoints[i]
		name := ep.queueName()
		rc, err := ep.prometheusConfig()
		if err != nil {
			return fmt.Errorf("endpoint %q: %w", name, err)
		}
		configs = append(configs, rc)

		tr := oldTrackers[name]
		if tr == nil {
			if tr, err = newTracker(c.opts.DataPath, name); err != nil {
				return fmt.Errorf("endpoint %q: %w", name, err)
			}
		}
		if err := tr.configure(ep, ext); err != nil {
			return fmt.Errorf("endpoint %q: %w", name, err)
		}
		trackers[name] = tr

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
		st := c.statuses[name]
		if st == nil {
			st = &endpointStatus{}
		}
		nc, err := newEndpointClient(ep, st, c.m, c.opts.Logger.With("endpoint", name))
		if err != nil {
			return fmt.Errorf("endpoint %q: %w", name, err)
		}
		clients[name] = nc
		changedClients = append(changedClients, name)
	}
	// Samples are counted for every endpoint from now on, before the
	// queues start reading.
	c.trackers.Store(&trackers)

	// Queues Prometheus (re)starts: new configuration hashes, or all of
	// them when the external labels change.
	oldHashes := map[string]string{}
	for _, rc := range c.applied {
		h, _ := queueHash(rc)
		oldHashes[rc.Name] = h
	}
	extChanged := !labels.Equal(ext, c.ext)
	var started []*config.RemoteWriteConfig
	for _, rc := range configs {
		h, err := queueHash(rc)
		if err != nil {
			return err
		}
		if extChanged || oldHashes[rc.Name] != h || c.applied == nil {
			started = append(started, rc)
		}
	}
	gates := make(map[string]*gate, len(configs))
	for _, rc := range configs {
		if g := c.gates[rc.Name]; g != nil && !slices.Contains(names(started), rc.Name) {
			gates[rc.Name] = g
		} else {
			gates[rc.Name] = newGate()
		}
	}

	restart := extChanged || !sameConfigs(configs, c.applied) || c.applied == nil
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
		changedClients = names(configs)
	}
	if len(changedClients) > 0 {
		queues, err := queuesOf(c.remote)
		if err != nil {
			return err
		}
		for _, rc := range configs {
			if !slices.Contains(changedClients, rc.Name) {
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
			q.SetClient(&countingClient{
				WriteClient: clients[rc.Name],
				v2:          rc.ProtobufMessage != remoteapi.WriteV1MessageType,
				tr:          trackers[rc.Name],
				gate:        gates[rc.Name],
				onError:     c.accountingError,
			})
		}
	}

	if len(started) > 0 {
		// A queue's WAL watcher sends only samples newer than the moment
		// it starts; wait for that moment, so that the replay covers
		// everything before it.
		c.waitWatchers(len(configs))
		cutoff := time.Now().UnixMilli()
		// The watchers send samples newer than their start, which is at or
		// before the cutoff; the replay reads the WAL once, perhaps before
		// a commit with the cutoff's very millisecond. Return only once
		// the clock has passed the cutoff, so that what is committed from
		// then on (at start-up: everything, as the receiver is published
		// after this) is newer and sent live: every sample is either
		// replayed or sent live.
		for time.Now().UnixMilli() <= cutoff {
			time.Sleep(100 * time.Microsecond)
		}
		for _, rc := range started {
			job := replayJob{
				name: rc.Name, rc: rc, ext: ext, client: clients[rc.Name], tr: trackers[rc.Name],
				gate: gates[rc.Name], cutoff: cutoff, firstOwnSegment: c.firstOwnSegment, registerOld: startup,
			}
			c.replays.Add(1)
			go func() {
				defer c.replays.Done()
				c.replay(c.replayCtx, job)
			}()
		}
	}

	for name, tr := range oldTrackers {
		if trackers[name] == nil {
			_ = tr.file.close()
			_ = tr.file.remove()
		}
	}
	// Clients replaced or removed are no queue's any more (a queue
	// Prometheus restarted has stopped, a kept one holds its new client):
	// close their connections.
	statuses := make(map[string]*endpointStatus, len(clients))
	for name, cl := range clients {
		statuses[name] = cl.st
	}
	for name, old := range c.clients {
		if clients[name] != old {
			old.retire()
		}
	}
	c.clients, c.statuses, c.gates, c.applied, c.ext = clients, statuses, gates, configs, ext
	c.args.Endpoints = a.Endpoints
	c.usesMeta.Store(sendsMetadata(a.Endpoints))
	return nil
}

func names(rcs []*config.RemoteWriteConfig) []string {
	out := make([]string, len(rcs))
	for i, rc := range rcs {
		out[i] = rc.Name
	}
	return out
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

// CurrentHealth is unhealthy while every send to some endpoint fails.
func (c *Component) CurrentHealth() component.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	problems, notes := c.walHealth(now)
	for _, name := range slices.Sorted(maps.Keys(c.clients)) {
		p, n, _ := endpointHealth(name, c.clients[name], c.args.WAL)
		problems, notes = append(problems, p...), append(notes, n...)
	}
	if len(problems) > 0 {
		return component.Health{Health: component.HealthUnhealthy, Message: strings.Join(problems, "; "), UpdateTime: now}
	}
	msg := fmt.Sprintf("%d endpoints sending", len(c.clients))
	if len(notes) > 0 {
		msg += "; " + strings.Join(notes, "; ")
	}
	return component.Health{Health: component.HealthHealthy, Message: msg, UpdateTime: now}
}

// DebugInfo describes every endpoint's client.
func (c *Component) DebugInfo() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var info debugInfo
	for _, name := range slices.Sorted(maps.Keys(c.clients)) {
		cl := c.clients[name]
		ei := endpointInfo{Name: name, URL: cl.url, observerState: cl.state()}
		if tr := (*c.trackers.Load())[name]; tr != nil {
			m, h := tr.state()
			ei.DeliveredThrough = time.UnixMilli(m).UTC().Format(time.RFC3339Nano)
			ei.HighestDelivered = time.UnixMilli(h).UTC().Format(time.RFC3339Nano)
			ei.Undelivered = tr.outstanding()
		}
		if g := c.gates[name]; g != nil {
			ei.Replaying = !g.isOpen()
		}
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
	// DeliveredThrough: every sample up to this time is delivered (or
	// rejected for good); a restart replays the WAL from here.
	DeliveredThrough string `river:"delivered_through,attr,optional"`
	HighestDelivered string `river:"highest_delivered,attr,optional"`
	// Undelivered counts committed samples not yet delivered.
	Undelivered int64 `river:"undelivered,attr"`
	// Replaying is true while samples left in the WAL by an earlier run are
	// sent; live data waits meanwhile.
	Replaying bool `river:"replaying,attr"`
}
