package remotewrite

import (
	"context"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/wlog"

	"github.com/flow-telemetry/flow/components/prometheus/remote_write/internal/queue"
)

// An endpoint's live path: a WAL tailer feeding flow's own queue
// (internal/queue), which sends through the endpoint's client.
//
// At start-up the tailer starts at the first segment this run writes
// (firstOwnSegment) and waits until the replay (replay.go) has sent what
// the segments before it hold that the endpoint has not received; an
// endpoint added later starts at the segment being written then. The
// boundary between replay and live sending is a WAL position, so no sample
// is sent by both or by neither, whatever its timestamp.
//
// New settings reach a running endpoint without losing what it holds: a
// new client (HTTP settings, credentials) is swapped in place; new queue,
// protocol or relabelling settings, or new external labels, reconfigure
// the queue, which finishes its requests in flight and takes the samples
// it held over to the new settings.
type liveEndpoint struct {
	name   string
	sender *queueSender
	q      *queue.Queue
	tailer *queue.Tailer
	// replayed is set once the replay is done and the tailer runs.
	replayed atomic.Bool
	cancel   context.CancelFunc
	done     chan struct{} // replay and tailer ended
	// qs are the settings the queue was configured with.
	qs queueSettings
}

// queueSender sends a queue's requests through the endpoint's current
// client.
type queueSender struct {
	client atomic.Pointer[endpointClient]
}

func (s *queueSender) Send(ctx context.Context, req []byte, attempt int) error {
	_, err := s.client.Load().Store(ctx, req, attempt)
	return err
}

// queueSettings are the endpoint settings the queue depends on.
type queueSettings struct {
	Name, URL  string
	Protocol   string
	Queue      QueueOptions
	Exemplars  bool
	Histograms bool
	Relabel    any
	External   map[string]string
}

func settingsOf(ep *EndpointOptions, ext map[string]string) queueSettings {
	return queueSettings{
		Name: ep.queueName(), URL: ep.redactedURL(), Protocol: ep.ProtobufMessage, Queue: ep.QueueOptions,
		Exemplars: ep.SendExemplars, Histograms: ep.SendNativeHistograms, Relabel: ep.WriteRelabelConfigs,
		External: ext,
	}
}

// queueConfig is the queue's configuration for an endpoint.
func (c *Component) queueConfig(ep *EndpointOptions, tr *tracker) queue.Config {
	qo := ep.QueueOptions
	return queue.Config{
		Name: ep.queueName(), URL: ep.redactedURL(),
		V2:       ep.ProtobufMessage != string(remoteapi.WriteV1MessageType),
		Capacity: qo.Capacity, MaxSamplesPerSend: qo.MaxSamplesPerSend, MinShards: qo.MinShards, MaxShards: qo.MaxShards,
		BatchSendDeadline: qo.BatchSendDeadline, MinBackoff: qo.MinBackoff, MaxBackoff: qo.MaxBackoff,
		SendExemplars: ep.SendExemplars, SendHistograms: ep.SendNativeHistograms, SampleAgeLimit: qo.SampleAgeLimit,
		Labels:       tr.sendLabels,
		SharedLabels: c.sharedLabels,
		Logger:       c.opts.Logger.With("endpoint", ep.queueName()),
		Classify: func(err error) (bool, time.Duration) {
			return recoverable(err), retryAfterOf(err)
		},
		OnDone: func(counts map[int64]int64) {
			if err := tr.delivered(counts); err != nil {
				c.accountingError(err)
			}
		},
	}
}

// sharedLabels returns the WAL writer's labels of series ref if they
// equal l (queue.Config.SharedLabels). It never waits: while the WAL is
// being reopened (dbMu held for writing) the queue keeps its own copy.
func (c *Component) sharedLabels(ref uint64, l labels.Labels) labels.Labels {
	if !c.dbMu.TryRLock() {
		return l
	}
	defer c.dbMu.RUnlock()
	if c.db == nil {
		return l
	}
	return c.db.SharedLabels(chunks.HeadSeriesRef(ref), l)
}

// endpointPlan is one endpoint of new arguments, prepared.
type endpointPlan struct {
	ep     *EndpointOptions
	name   string
	tr     *tracker
	client *endpointClient
}

// applyEndpoints builds or updates the endpoints' clients and queues, in
// steps: prepare each endpoint's tracker and client, publish the trackers
// (commits are counted for every endpoint from then on), start, update or
// stop the live endpoints, then drop what is no one's any more. At
// start-up each endpoint first replays what an earlier run left
// undelivered (replay.go).
func (c *Component) applyEndpoints(a Arguments, startup bool) error {
	ext := a.externalLabels()
	plans, err := c.prepareEndpoints(a, ext)
	if err != nil {
		return err
	}
	oldTrackers := *c.trackers.Load()
	trackers := make(map[string]*tracker, len(plans))
	for _, p := range plans {
		trackers[p.name] = p.tr
	}
	c.trackers.Store(&trackers)

	eps := make(map[string]*liveEndpoint, len(plans))
	for _, p := range plans {
		eps[p.name] = c.runEndpoint(p, a.ExternalLabels, startup)
	}
	c.stopRemovedEndpoints(eps)
	c.publishNotifier(eps)
	c.releaseOld(plans, oldTrackers, trackers)
	c.eps = eps
	c.args.Endpoints = a.Endpoints
	c.usesMeta.Store(sendsMetadata(a.Endpoints))
	return nil
}

// prepareEndpoints makes each endpoint's tracker and client: kept,
// updated in place (new SigV4 credentials) or new.
func (c *Component) prepareEndpoints(a Arguments, ext labels.Labels) ([]endpointPlan, error) {
	oldTrackers := *c.trackers.Load()
	var made []*tracker
	fail := func(name string, err error) ([]endpointPlan, error) {
		for _, tr := range made {
			_ = tr.file.close()
		}
		return nil, fmt.Errorf("endpoint %q: %w", name, err)
	}
	plans := make([]endpointPlan, 0, len(a.Endpoints))
	for i := range a.Endpoints {
		ep := &a.Endpoints[i]
		name := ep.queueName()
		tr := oldTrackers[name]
		if tr == nil {
			var err error
			if tr, err = newTracker(c.opts.DataPath, name); err != nil {
				return fail(name, err)
			}
			made = append(made, tr)
		}
		if err := tr.configure(ep, ext); err != nil {
			return fail(name, err)
		}
		client, err := c.clientFor(ep, name)
		if err != nil {
			return fail(name, err)
		}
		plans = append(plans, endpointPlan{ep: ep, name: name, tr: tr, client: client})
	}
	return plans, nil
}

// clientFor returns the endpoint's client: the current one when only
// SigV4 credentials changed (updated in place), else a new one.
func (c *Component) clientFor(ep *EndpointOptions, name string) (*endpointClient, error) {
	old := c.clients[name]
	if old != nil && reflect.DeepEqual(clientSettings(ep), old.settings) {
		if !reflect.DeepEqual(ep.sigv4(), c.sigv4Of(name)) {
			if err := old.updateCredentials(ep); err != nil {
				return nil, err
			}
		}
		return old, nil
	}
	st := c.statuses[name]
	if st == nil {
		st = &endpointStatus{}
	}
	return newEndpointClient(ep, st, c.m, c.opts.Logger.With("endpoint", name))
}

// runEndpoint starts the endpoint's live path, or updates the running one.
func (c *Component) runEndpoint(p endpointPlan, ext map[string]string, startup bool) *liveEndpoint {
	qs := settingsOf(p.ep, ext)
	if le := c.eps[p.name]; le != nil {
		le.sender.client.Store(p.client)
		if !reflect.DeepEqual(qs, le.qs) {
			le.q.Reconfigure(c.queueConfig(p.ep, p.tr))
			le.qs = qs
		}
		return le
	}
	le := &liveEndpoint{name: p.name, sender: &queueSender{}, done: make(chan struct{}), qs: qs}
	le.sender.client.Store(p.client)
	le.q = queue.New(c.queueConfig(p.ep, p.tr), le.sender, c.qm)
	from := c.firstOwnSegment
	if !startup {
		// Added while running: from the segment being written.
		if _, last, err := wlog.Segments(c.walDir()); err == nil && last >= 0 {
			from = last
		}
	}
	le.tailer = queue.NewTailer(queue.TailOptions{
		Dir: c.walDir(), From: from, After: math.MinInt64,
		Logger: c.opts.Logger.With("endpoint", p.name), Metrics: c.lrm,
		OnError: func(err error) { c.watcherFailed(p.name, err) },
	}, le.q)
	var ctx context.Context
	ctx, le.cancel = context.WithCancel(c.replayCtx)
	job := replayJob{name: p.name, ep: *p.ep, client: p.client, tr: p.tr, firstOwnSegment: c.firstOwnSegment}
	go func() {
		defer close(le.done)
		if startup {
			c.replay(ctx, job)
		}
		le.replayed.Store(true)
		if err := le.tailer.Run(ctx); err != nil {
			c.watcherFailed(p.name, err)
			c.opts.Logger.Error("tailing the WAL stopped", "endpoint", p.name, "err", err)
		}
	}()
	return le
}

// stopRemovedEndpoints stops the live endpoints not in eps.
func (c *Component) stopRemovedEndpoints(eps map[string]*liveEndpoint) {
	var gone []*liveEndpoint
	for name, le := range c.eps {
		if eps[name] != le {
			gone = append(gone, le)
		}
	}
	stopEndpoints(gone)
}

// stopEndpoints stops tailers, then gives the queues flushDeadline
// together to send what they hold.
func stopEndpoints(eps []*liveEndpoint) {
	for _, le := range eps {
		le.cancel()
	}
	for _, le := range eps {
		<-le.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushDeadline)
	defer cancel()
	var wg sync.WaitGroup
	for _, le := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			le.q.Stop(ctx)
		}()
	}
	wg.Wait()
}

// publishNotifier hands the WAL's write notifications to the tailers.
func (c *Component) publishNotifier(eps map[string]*liveEndpoint) {
	ts := make([]*queue.Tailer, 0, len(eps))
	for _, name := range slices.Sorted(maps.Keys(eps)) {
		ts = append(ts, eps[name].tailer)
	}
	c.tailers.Store(&ts)
}

// releaseOld removes the markers of endpoints gone and retires clients no
// endpoint uses any more.
func (c *Component) releaseOld(plans []endpointPlan, oldTrackers, trackers map[string]*tracker) {
	for name, tr := range oldTrackers {
		if trackers[name] == nil {
			_ = tr.file.close()
			_ = tr.file.remove()
		}
	}
	clients := make(map[string]*endpointClient, len(plans))
	statuses := make(map[string]*endpointStatus, len(plans))
	for _, p := range plans {
		clients[p.name], statuses[p.name] = p.client, p.client.st
	}
	for name, old := range c.clients {
		if clients[name] != old {
			old.retire()
		}
	}
	c.clients, c.statuses = clients, statuses
}

// walNotifier passes the WAL's write notifications to every tailer
// (wlog.WriteNotified).
type walNotifier struct{ c *Component }

func (n walNotifier) Notify() {
	if ts := n.c.tailers.Load(); ts != nil {
		for _, t := range *ts {
			t.Notify()
		}
	}
}

// lowestDelivered is how far the WAL may be truncated (wal.Open's
// lowestSent): the lowest delivery marker over the endpoints, so every
// sample at or before it has reached every endpoint (or been refused for
// good). The WAL keeps min_keepalive_time behind it, and never more than
// max_keepalive_time. 0 without endpoints, as Prometheus' agent without
// queues: the WAL then keeps max_keepalive_time.
func (c *Component) lowestDelivered() int64 {
	trs := *c.trackers.Load()
	if len(trs) == 0 {
		return 0
	}
	low := int64(math.MaxInt64)
	for _, tr := range trs {
		m, _ := tr.state()
		low = min(low, m)
	}
	return low
}
