// Package write is the loki.write component: it receives log entries, keeps
// them in a write-ahead log under its data directory (on by default), and
// pushes them to one or more Loki endpoints as snappy-compressed protobuf
// push requests, batched per tenant and stream, with retries, optional SigV4
// signing, and health that says when an endpoint's pushes are failing.
//
// Durability: Send returns nil only once the entries are fsynced to the WAL,
// so a source can acknowledge them to its sender. Each endpoint reads the WAL
// from its own committed position, persisted after every successful push;
// after a crash it replays from there (some entries may be sent twice, none
// are lost). An endpoint pushes with queue_config > min_shards pushes in
// flight, each stream always on the same shard, and commits the low
// watermark over its shards (see delivery.go). Segments are deleted once every endpoint has passed them. With
// the WAL on, a batch is never dropped for a failing endpoint (network
// errors, 5xx, 429, and 401/403, which behind SigV4 are usually transient):
// it is retried from the WAL until Loki accepts it, however long the outage.
// Only Loki's refusal of the entries themselves (400 for out-of-order or
// too-old entries, 413, other 4xx) drops a batch, or a 429/401/403 when
// retry_on_http_429 / retry_on_http_auth_error is false; each drop is
// counted in loki_write_dropped_entries_total{reason} and makes health
// unhealthy, naming it, until a later push succeeds.
//
// Connections: an endpoint restarted by a reload (or removed) closes its
// HTTP client's idle connections once its worker has stopped. Secrets in
// the URL, headers and auth settings never appear in logs, errors, health,
// debug info or metric labels (see redact.go).
package write

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/loki/write/internal/wal"
	"github.com/flow-telemetry/flow/internal/build"
	"github.com/flow-telemetry/flow/runtime/component"
)

// userAgent is flow/<version>, the same on every request flow sends.
var userAgent = build.UserAgent()

// reloadDrain: at shutdown an endpoint gets wal > drain_timeout (or, without
// a WAL, its queue_config > drain_timeout) to push its batch in hand (and its
// queue); on a reload only one attempt is made, within reloadDrain, because
// the WAL or the carried-over queue keeps what is not delivered.
const reloadDrain = 5 * time.Second

func init() {
	component.Register(component.Registration{
		Name:    "loki.write",
		Args:    Arguments{},
		Exports: Exports{},
		Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
			return New(opts, args.(Arguments))
		},
	})
}

// Exports holds the receiver other components forward entries to.
type Exports struct {
	Receiver loki.LogsReceiver `river:"receiver,attr"`
}

// Component is a running loki.write.
type Component struct {
	opts component.Options
	log  *slog.Logger
	m    *metrics
	recv *loki.Receiver

	encoders sync.Pool

	// mu guards the configuration and the endpoint set. Send holds it only to
	// take a snapshot, never while it waits.
	mu        sync.RWMutex
	args      Arguments
	external  model.LabelSet
	wal       *wal.WAL
	endpoints map[string]*endpoint
	runCtx    context.Context // set by Run; workers start then
	appendErr error           // last WAL append failure, for health
	appendAt  time.Time

	// ledger knows the entries and acceptance times of what the WAL holds.
	ledger *ledger

	posMu     sync.Mutex
	positions wal.Positions
	posPath   string
	truncated uint64 // segments before this one are deleted
	// posSavedAt is when the positions file was last written; posTimer,
	// when set, writes commits made since (see commitPosition).
	posSavedAt time.Time
	posTimer   *time.Timer
}

// New builds a loki.write. With the WAL on it opens the WAL and the
// endpoints' saved positions, so Send works before Run.
func New(opts component.Options, args Arguments) (*Component, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Component{
		opts:      opts,
		log:       opts.Logger,
		endpoints: map[string]*endpoint{},
	}
	c.encoders.New = func() any { return &encoder{} }
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	c.m = m
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(backlogCollector{c}); err != nil {
			return nil, fmt.Errorf("registering loki.write metrics: %w", err)
		}
	}
	c.recv = loki.NewReceiverWithFull(c.send, c.full)
	if err := c.apply(args, true); err != nil {
		c.closeAll()
		return nil, err
	}
	if opts.OnStateChange != nil {
		opts.OnStateChange(Exports{Receiver: c.recv})
	}
	return c, nil
}

// Run starts the endpoints' workers and, when ctx ends, stops them after
// they have pushed their batches in hand, then closes the WAL.
func (c *Component) Run(ctx context.Context) error {
	// Workers are stopped one by one (see stop) so that each can drain; they
	// must not see Run's cancellation directly.
	c.mu.Lock()
	c.runCtx = context.WithoutCancel(ctx)
	for _, e := range c.endpoints {
		e.start(c.runCtx)
	}
	c.mu.Unlock()

	<-ctx.Done()

	c.mu.Lock()
	eps := c.endpoints
	c.endpoints = map[string]*endpoint{}
	w := c.wal
	walDrain := c.args.WAL.DrainTimeout
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			drain := e.args.QueueConfig.DrainTimeout
			if w != nil {
				drain = walDrain
			}
			// At shutdown each endpoint delivers what its WAL (or memory
			// queue) holds within the drain time, as Alloy drains its WAL.
			e.stop(drain, true)
			e.src.close()
		}()
	}
	wg.Wait()
	c.closeAll()
	return nil
}

func (c *Component) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wal != nil {
		c.closePositions(c.wal)
		if err := c.wal.Close(); err != nil {
			c.log.Error("closing the WAL", "err", err)
		}
	}
}

// Update applies new arguments. Unchanged endpoints keep running; an
// endpoint whose only change is its aws_sigv4 credentials gets them for its
// next push without stopping; other changed endpoints push their batch in
// hand and restart from where they were, so no queued entry is lost.
func (c *Component) Update(args component.Arguments) error {
	return c.apply(args.(Arguments), false)
}

func (c *Component) apply(args Arguments, first bool) error {
	if err := args.Validate(); err != nil {
		return err
	}
	external := make(model.LabelSet, len(args.ExternalLabels))
	for k, v := range args.ExternalLabels {
		external[model.LabelName(k)] = model.LabelValue(v)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.warnReadFrequencies(args, first)
	if err := c.switchWAL(args, first); err != nil {
		return err
	}
	want := map[string]EndpointArgs{}
	for _, ea := range args.Endpoints {
		want[ea.name()] = ea
	}
	c.removeEndpoints(want)
	var firstErr error
	for name, ea := range want {
		if err := c.reconcileEndpoint(name, ea, args.MaxStreams, first); err != nil {
			firstErr = errors.Join(firstErr, fmt.Errorf("endpoint %q: %w", name, err))
		}
	}
	c.args, c.external = args, external
	c.forgetStalePositions(want)
	return firstErr
}

// warnReadFrequencies explains, once per change, that Alloy's WAL polling
// bounds do nothing here.
func (c *Component) warnReadFrequencies(args Arguments, first bool) {
	w := args.WAL
	if w.Enabled && (w.MinReadFrequency != defaultMinReadFrequency || w.MaxReadFrequency != defaultMaxReadFrequency) &&
		(first || w.MinReadFrequency != c.args.WAL.MinReadFrequency || w.MaxReadFrequency != c.args.WAL.MaxReadFrequency) {
		c.log.Warn("wal > min_read_frequency and max_read_frequency have no effect in flow: endpoints are woken as soon as entries are durable in the WAL, with nothing to poll")
	}
}

// switchWAL opens the WAL at start and, when a reload turns it on or off or
// changes its storage settings, stops every endpoint (without a WAL, after
// draining their queues), since their sources change, and reopens it.
func (c *Component) switchWAL(args Arguments, first bool) error {
	if !first && args.WAL.storage() == c.args.WAL.storage() {
		return nil
	}
	if !first {
		var all []*endpoint
		for name, e := range c.endpoints {
			all = append(all, e)
			delete(c.endpoints, name)
		}
		c.stopEndpoints(all, c.wal == nil)
		for _, e := range all {
			e.src.close()
		}
		if c.wal != nil {
			c.closePositions(c.wal)
			if err := c.wal.Close(); err != nil {
				c.log.Error("closing the WAL", "err", err)
			}
			c.wal = nil
			c.log.Warn("WAL disabled: entries still in it stay on disk and are delivered if it is enabled again")
		}
	}
	if !args.WAL.Enabled {
		return nil
	}
	if c.opts.DataPath == "" {
		return errors.New("the WAL needs a data directory (--storage.path); set wal { enabled = false } to run without one")
	}
	dir := filepath.Join(c.opts.DataPath, "wal")
	w, err := wal.Open(wal.Options{Dir: dir, SegmentSize: int64(args.WAL.MaxSegmentSize), MaxSegmentAge: args.WAL.MaxSegmentAge, Logger: c.log})
	if err != nil {
		return fmt.Errorf("opening the WAL in %s: %w", dir, err)
	}
	posPath := filepath.Join(dir, wal.PositionsFile)
	pos, err := wal.LoadPositions(posPath)
	if err != nil {
		c.log.Warn("WAL positions unreadable; replaying every segment (entries may be sent twice)", "err", err)
	}
	// What a previous run left undelivered is counted once, from the
	// oldest position an endpoint of this config starts at.
	from := w.Durable()
	for _, ea := range args.Endpoints {
		p, ok := pos[ea.name()]
		if !ok {
			p = w.First()
		}
		if p.Before(from) {
			from = p
		}
	}
	c.ledger = scanLedger(w, from, nil)
	c.posMu.Lock()
	c.positions, c.posPath, c.truncated = pos, posPath, 0
	c.posMu.Unlock()
	c.wal = w
	return nil
}

// removeEndpoints stops the endpoints no longer configured and forgets
// their positions.
func (c *Component) removeEndpoints(want map[string]EndpointArgs) {
	var toStop []*endpoint
	for name, e := range c.endpoints {
		if _, ok := want[name]; !ok {
			toStop = append(toStop, e)
			delete(c.endpoints, name)
			c.forgetPosition(name)
		}
	}
	c.stopEndpoints(toStop, false)
	for _, e := range toStop {
		e.src.close()
	}
}

// reconcileEndpoint keeps an unchanged endpoint, gives one whose only change
// is its SigV4 settings the new ones in place, and otherwise (re)starts it
// on the source its predecessor leaves, so no queued entry is lost.
func (c *Component) reconcileEndpoint(name string, ea EndpointArgs, maxStreams int, first bool) error {
	old := c.endpoints[name]
	if old != nil && old.maxStreams == maxStreams && sameExceptSigV4(old.args, ea) {
		cur := old.currentSigV4()
		if reflect.DeepEqual(cur, ea.sigV4()) {
			return nil // unchanged
		}
		if old.signer != nil && ea.sigV4() != nil {
			// New credentials (or other signing settings): the next push is
			// signed with them; batching and queued entries go on.
			if err := old.signer.update(*ea.sigV4()); err != nil {
				return err
			}
			old.setSigV4(ea.sigV4())
			old.setSecrets(ea)
			return nil
		}
	}
	var src source
	if old != nil {
		c.stopEndpoints([]*endpoint{old}, false)
		src = old.src
		if q, ok := src.(*memQueue); ok {
			q.setCapacity(int64(ea.QueueConfig.Capacity))
		}
	} else {
		src = c.newSource(name, ea, first)
	}
	e, err := c.newEndpoint(name, ea, maxStreams, src)
	if err != nil {
		if old != nil {
			// Keep the old endpoint rather than lose the source.
			c.endpoints[name] = old
			if c.runCtx != nil {
				old.start(c.runCtx)
			}
		} else {
			src.close()
		}
		return err
	}
	if old != nil {
		// Health and counters carry over: a restart delivers nothing by
		// itself, so a failing endpoint stays failing until a push works.
		e.status = old.snapshot()
	}
	c.endpoints[name] = e
	if c.runCtx != nil {
		e.start(c.runCtx)
	}
	return nil
}

// forgetStalePositions drops the positions of endpoints no longer configured
// (renamed, or removed while flow was stopped), so that they do not hold
// segments forever, and deletes the segments every endpoint has passed.
func (c *Component) forgetStalePositions(want map[string]EndpointArgs) {
	if c.wal == nil {
		return
	}
	c.posMu.Lock()
	for name := range c.positions {
		if _, ok := want[name]; !ok {
			delete(c.positions, name)
		}
	}
	path := c.posPath
	c.posMu.Unlock()
	c.savePositions(c.wal, path)
}

// stopEndpoints stops workers in parallel; called with mu held.
func (c *Component) stopEndpoints(eps []*endpoint, drainQueue bool) {
	var wg sync.WaitGroup
	for _, e := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.stop(reloadDrain, drainQueue)
		}()
	}
	wg.Wait()
}

// sameExceptSigV4 reports whether a and b differ at most in their SigV4 block.
func sameExceptSigV4(a, b EndpointArgs) bool {
	a.AWSSigV4, a.SigV4, b.AWSSigV4, b.SigV4 = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

// newSource returns the source of a new endpoint: a WAL reader from its
// saved position (or, for an endpoint without one, from the oldest segment
// at start and from the end when added later), or a memory queue.
func (c *Component) newSource(name string, ea EndpointArgs, atStart bool) source {
	if c.wal == nil {
		return newMemQueue(int64(ea.QueueConfig.Capacity))
	}
	c.posMu.Lock()
	pos, ok := c.positions[name]
	c.posMu.Unlock()
	if !ok {
		if atStart {
			pos = c.wal.First()
		} else {
			pos = c.wal.Durable()
		}
		c.commitPosition(c.wal, name, pos)
	}
	r := c.wal.NewReader(pos)
	r.OnCorrupt = func(at wal.Position, err error) {
		c.log.Warn("WAL damage skipped", "endpoint", name, "at", at.String(), "err", err)
		c.m.walCorruptions.Inc()
	}
	return &walSource{c: c, w: c.wal, ledger: c.ledger, name: name, r: r, committed: pos}
}

func (c *Component) newEndpoint(name string, ea EndpointArgs, maxStreams int, src source) (*endpoint, error) {
	rt, err := ea.HTTPClient.RoundTripper("loki.write." + name)
	if err != nil {
		return nil, err
	}
	e := &endpoint{
		name:       name,
		args:       ea,
		transport:  rt,
		src:        src,
		durable:    c.wal != nil,
		maxStreams: maxStreams,
		log:        c.log,
		m:          c.m.endpoint,
	}
	e.setSecrets(ea)
	if s := ea.sigV4(); s != nil {
		sg, signed, err := newSigner(*s, rt, c.log)
		if err != nil {
			e.closeIdle()
			return nil, fmt.Errorf("aws_sigv4: %w", err)
		}
		e.signer, rt = sg, signed
		e.sigv4 = s
	}
	e.client = &http.Client{Transport: rt}
	return e, nil
}

// positionsSaveInterval is how often, at most, delivery rewrites the
// positions file. Writing it (JSON, a file and a rename) after every
// delivered batch cost about 6 % of the CPU of a busy pipeline. A crash loses
// at most the last interval's commits: those entries are sent again (Loki
// keeps one copy of identical entries), none is lost. Segments are deleted
// only once a saved position has passed them.
const positionsSaveInterval = time.Second

// commitPosition records an endpoint's committed position: the backlog
// (ledger) at once, the positions file and segment deletion at most every
// positionsSaveInterval (a timer writes the last commits of a burst).
// Workers call it without holding mu (apply may hold mu while waiting for
// them), hence w is passed in.
func (c *Component) commitPosition(w *wal.WAL, name string, pos wal.Position) {
	c.posMu.Lock()
	c.positions[name] = pos
	c.trimLedgerLocked(w)
	path := c.posPath
	if c.posTimer != nil { // a save is due: it will write this commit too
		c.posMu.Unlock()
		return
	}
	if wait := positionsSaveInterval - time.Since(c.posSavedAt); wait > 0 {
		c.posTimer = time.AfterFunc(wait, func() { c.savePositions(w, path) })
		c.posMu.Unlock()
		return
	}
	c.posMu.Unlock()
	c.savePositions(w, path)
}

// savePositions writes the positions file, unless the WAL was switched since
// path was its positions file, and deletes the segments every saved position
// has passed.
func (c *Component) savePositions(w *wal.WAL, path string) {
	c.posMu.Lock()
	defer c.posMu.Unlock()
	if c.posTimer != nil {
		c.posTimer.Stop()
		c.posTimer = nil
	}
	if path != c.posPath || c.positions == nil {
		return
	}
	c.posSavedAt = time.Now()
	if err := wal.SavePositions(c.posPath, c.positions); err != nil {
		c.log.Error("saving WAL positions failed (entries may be sent twice after a restart)", "err", err)
		return
	}
	c.truncateLocked(w)
}

// closePositions writes commits a save is still due for, before the WAL
// closes; a timer that fires later finds no positions file to write.
func (c *Component) closePositions(w *wal.WAL) {
	c.posMu.Lock()
	pending, path := c.posTimer != nil, c.posPath
	c.posMu.Unlock()
	if pending {
		c.savePositions(w, path)
	}
	c.posMu.Lock()
	c.posPath = ""
	c.posMu.Unlock()
}

func (c *Component) forgetPosition(name string) {
	c.posMu.Lock()
	defer c.posMu.Unlock()
	if c.positions == nil || c.posPath == "" {
		return
	}
	delete(c.positions, name)
	if err := wal.SavePositions(c.posPath, c.positions); err != nil {
		c.log.Error("saving WAL positions failed", "err", err)
	}
}

// trimLedgerLocked forgets the ledger's buckets every endpoint has passed
// and returns the oldest segment an endpoint is in. c.posMu is held.
func (c *Component) trimLedgerLocked(w *wal.WAL) (oldest uint64) {
	// With no endpoint nothing will ever read the older segments.
	oldest = w.Stats().Current
	low := w.Durable()
	for _, p := range c.positions {
		oldest = min(oldest, p.Segment)
		if p.Before(low) {
			low = p
		}
	}
	if c.ledger != nil {
		c.ledger.trim(low)
	}
	return oldest
}

// truncateLocked deletes the segments before the oldest position, once
// saved, and forgets the ledger's buckets every endpoint has passed.
// c.posMu is held.
func (c *Component) truncateLocked(w *wal.WAL) {
	oldest := c.trimLedgerLocked(w)
	if oldest <= c.truncated {
		return
	}
	n, err := w.Truncate(oldest)
	if err != nil {
		c.log.Warn("deleting delivered WAL segments failed", "err", err)
		return
	}
	c.truncated = oldest
	c.m.walSegmentsDeleted.Add(float64(n))
}
