// Package remotewrite is the prometheus.remote_write component: it exports a
// `receiver` whose samples go to a write-ahead log under the component's
// data directory and from there, through one queue per `endpoint`, to
// remote-write receivers (Prometheus, Mimir, Cortex, Amazon Managed
// Prometheus).
//
// It does what Prometheus in agent mode does: a WAL in agent's format,
// written by flow's own writer (internal/wal, which says why), and, per
// endpoint, a WAL tailer and a queue of flow's own
// (internal/queue, endpoints.go: sharding, batching, retry with backoff on
// 5xx and 429, dropping with a counter on other 4xx, resharding by
// throughput), on Prometheus' public packages only. flow adds:
//
//   - its own HTTP client per endpoint (client.go): SigV4 signing whose
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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/wlog"

	"github.com/flow-telemetry/flow/components/prometheus/remote_write/internal/queue"
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
	opts component.Options
	recv *Receiver

	// mu serialises Update, health and shutdown.
	mu       sync.Mutex
	args     Arguments
	clients  map[string]*endpointClient // by queue name
	statuses map[string]*endpointStatus // by queue name; outlive clients
	eps      map[string]*liveEndpoint   // by queue name
	m        *metrics
	qm       *queue.Metrics
	lrm      *wlog.LiveReaderMetrics
	closed   bool
	trackers atomic.Pointer[map[string]*tracker] // read by every commit
	tailers  atomic.Pointer[[]*queue.Tailer]     // notified of every commit
	// meta is the metric metadata received, for Remote-Write 1.0
	// endpoints (metadata.go).
	meta metadataStore
	// usesMeta is set while some endpoint sends metadata (Receiver.UsesMetadata).
	usesMeta atomic.Bool

	// firstOwnSegment is the first WAL segment this run wrote.
	firstOwnSegment int
	// replayCtx is the parent of the endpoints' replays and tailers.
	replayCtx    context.Context
	cancelReplay context.CancelFunc

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
	qm, err := queue.NewMetrics(opts.Registerer)
	if err != nil {
		m.unregister(opts.Registerer)
		return nil, err
	}
	lrm := wlog.NewLiveReaderMetrics(nil)
	c := &Component{opts: opts, m: m, qm: qm, lrm: lrm, clients: map[string]*endpointClient{}, statuses: map[string]*endpointStatus{}, eps: map[string]*liveEndpoint{}, recoverNow: make(chan struct{}, 1)}
	c.ws.waitingFree = -1
	c.replayCtx, c.cancelReplay = context.WithCancel(context.Background())
	empty := map[string]*tracker{}
	c.trackers.Store(&empty)
	if err := c.openWAL(args.WAL, 0); err != nil {
		qm.Unregister()
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
		qm.Unregister()
		m.unregister(opts.Registerer)
		return nil, err
	}
	c.args = args
	c.recv = &Receiver{c: c}
	opts.OnStateChange(Exports{Receiver: c.recv})
	return c, nil
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
	db, err := wal.Open(newLogTap(c.opts.Logger, c.onPrometheusLog), reg, c.opts.DataPath, w.walOptions(), c.lowestDelivered)
	if err != nil {
		reg.UnregisterAll()
		return fmt.Errorf("opening the WAL in %s: %w", c.opts.DataPath, err)
	}
	db.SetWriteNotified(walNotifier{c})
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
	// Tailers and replays stop; the queues get flushDeadline to send what
	// they hold.
	stopEndpoints(slices.Collect(maps.Values(c.eps)))
	c.eps = map[string]*liveEndpoint{}
	c.dbMu.Lock()
	c.walClosed = true
	if err := c.closeWALLocked(c.firstOwnSegment); err != nil {
		c.opts.Logger.Error("closing the WAL", "err", err)
	}
	c.dbMu.Unlock()
	c.qm.Unregister()
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
//   - queue, relabel or protocol settings, external labels: the queue is
//     reconfigured, keeping the samples it holds (endpoints.go);
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

// sigv4Of returns the SigV4 settings last applied to the named endpoint.
func (c *Component) sigv4Of(name string) any {
	for i := range c.args.Endpoints {
		if c.args.Endpoints[i].queueName() == name {
			return c.args.Endpoints[i].sigv4()
		}
	}
	return nil
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
		if le := c.eps[name]; le != nil {
			ei.Replaying = !le.replayed.Load()
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
