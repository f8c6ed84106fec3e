// Package awsfirehose is the loki.source.aws_firehose component (also
// registered under Alloy's name loki.source.awsfirehose): an HTTP endpoint
// for Amazon Data Firehose's "HTTP endpoint delivery". It takes Firehose's
// batched requests at POST /awsfirehose/api/v1/push (Alloy's path), turns
// each record into log entries (direct-PUT lines, or the events of gzipped
// CloudWatch Logs subscription payloads), labels and relabels them, and
// answers 200 only once forward_to has accepted every entry; otherwise
// Firehose retries. When given a delivery stream name it also checks, with
// SigV4-signed DescribeDeliveryStream calls, that the stream exists and is
// ACTIVE, and shows the result in its health.
package awsfirehose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/common/relabel"
	"github.com/flow-telemetry/flow/runtime/component"
)

// PushPath is where Firehose delivers, as in Alloy, so existing streams can
// be pointed at flow unchanged.
const PushPath = "/awsfirehose/api/v1/push"

func init() {
	for _, name := range []string{"loki.source.aws_firehose", "loki.source.awsfirehose"} {
		component.Register(component.Registration{
			Name: name,
			Args: Arguments{},
			Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
				return New(opts, args.(Arguments))
			},
		})
	}
}

// handlerState is everything a request needs, swapped whole on Update so
// requests never see half an update and never take a lock.
type handlerState struct {
	accessKey   []byte
	useIncoming bool
	labels      model.LabelSet
	rules       relabel.Rules
	forwardTo   []loki.LogsReceiver
	limits      limits
	sendTimeout time.Duration
}

// Component is a running loki.source.aws_firehose.
type Component struct {
	opts  component.Options
	log   *slog.Logger
	m     *metrics
	state atomic.Pointer[handlerState]
	check *streamChecker

	mu        sync.Mutex
	args      Arguments
	srv       *http.Server
	lis       *connLimiter
	running   bool  // Run has started serving
	serverErr error // the listener failed

	stats requestStats
	// budget is shared by every request in flight, across server restarts.
	budget *memBudget

	// tenants are the tenant_id values invalid_static_labels_errors has
	// seen (at most maxTenantLabelValues).
	tenantsMu sync.Mutex
	tenants   map[string]struct{}
}

// New builds the component and binds its listener, so that a port already
// in use is reported at once.
func New(opts component.Options, args Arguments) (*Component, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := args.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Component{opts: opts, log: opts.Logger, m: m, args: args, budget: newMemBudget(int64(args.HTTP.MaxInflightSize)),
		tenants: map[string]struct{}{}}
	m.registerGauges(opts.Registerer, c)
	c.check = newStreamChecker(c.log)
	c.check.configure(args)
	c.state.Store(newState(args))
	lis, err := net.Listen("tcp", args.HTTP.addr())
	if err != nil {
		return nil, fmt.Errorf("listening on %s for Firehose: %w", args.HTTP.addr(), err)
	}
	c.lis, c.srv = c.newServer(args.HTTP, lis)
	return c, nil
}

func newState(a Arguments) *handlerState {
	ls := make(model.LabelSet, len(a.Labels))
	for k, v := range a.Labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	l := defaultLimits
	l.body, l.decoded = int64(a.HTTP.MaxRequestBodySize), int64(a.HTTP.MaxRequestDecodedSize)
	return &handlerState{
		accessKey:   []byte(a.AccessKey),
		useIncoming: a.UseIncomingTimestamp,
		labels:      ls,
		rules:       a.RelabelRules,
		forwardTo:   a.ForwardTo,
		limits:      l,
		sendTimeout: a.HTTP.ServerTimeout,
	}
}

// Bounds of the HTTP server beyond the arguments (docs/security.md).
const (
	// readHeaderTimeout bounds reading a request's headers.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes keep-alive connections idle that long (Alloy's).
	idleTimeout = 2 * time.Minute
	// maxHeaderBytes bounds a request's headers: Firehose sends a few
	// short ones, plus up to 50 common attributes of at most 1 KiB each.
	maxHeaderBytes = 64 << 10
)

// newServer returns the HTTP server and its connection-limiting listener.
func (c *Component) newServer(s ServerArgs, lis net.Listener) (*connLimiter, *http.Server) {
	mux := http.NewServeMux()
	mux.Handle(PushPath, c)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		respond(w, http.StatusNotFound, r.Header.Get(hdrRequestID), "not found: Firehose delivers to POST "+PushPath, false)
	})
	cl := newConnLimiter(lis, s.ConnLimit, c.m.connsRejected.WithLabelValues("http").Inc)
	return cl, &http.Server{
		Handler:           c.instrument(mux),
		ReadHeaderTimeout: readHeaderTimeout,
		// ReadTimeout bounds headers and body together: a body that
		// trickles in is answered 408 when it runs out.
		ReadTimeout: s.ServerTimeout,
		// Room to answer after forward_to's wait, which is bounded by
		// ServerTimeout itself.
		WriteTimeout:   2*s.ServerTimeout + 5*time.Second,
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ConnState:      cl.connState,
		ErrorLog:       slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
}

// connections returns the open connections of a protocol ("http" or
// "grpc") and their limit.
func (c *Component) connections(proto string) (open, limit int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if proto == "http" && c.lis != nil {
		return c.lis.count(), c.lis.limit
	}
	return 0, 0
}

// Addr is the address the server listens on (useful with listen_port 0).
func (c *Component) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lis.Addr().String()
}

// Run serves until ctx ends, then stops accepting requests and waits (up
// to a few seconds) for those in flight to be answered.
func (c *Component) Run(ctx context.Context) error {
	c.mu.Lock()
	c.running = true
	c.serve(c.srv, c.lis)
	c.mu.Unlock()

	checkDone := make(chan struct{})
	go func() {
		defer close(checkDone)
		c.check.run(ctx)
	}()

	<-ctx.Done()
	c.mu.Lock()
	srv := c.srv
	c.running = false
	c.mu.Unlock()
	shutdown(srv)
	<-checkDone
	return nil
}

func (c *Component) serve(srv *http.Server, lis *connLimiter) {
	go func() {
		err := srv.Serve(lis)
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("Firehose endpoint stopped serving", "addr", lis.Addr().String(), "err", err)
			c.mu.Lock()
			if c.srv == srv {
				c.serverErr = err
			}
			c.mu.Unlock()
		}
	}()
}

func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
}

// Update applies new arguments. The listener is replaced only when the http
// block changes; everything else applies to the next request.
func (c *Component) Update(args component.Arguments) error {
	a := args.(Arguments)
	if err := a.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.HTTP.listenerArgs() != c.args.HTTP.listenerArgs() {
		oldSrv, oldLis, running := c.srv, c.lis, c.running
		stopOld := func() {
			if running {
				shutdown(oldSrv)
			} else {
				oldLis.Close()
			}
		}
		lis, err := net.Listen("tcp", a.HTTP.addr())
		if err != nil && a.HTTP.addr() == c.args.HTTP.addr() {
			// Same address, new timeouts: the old listener must go first.
			stopOld()
			stopOld = func() {}
			lis, err = net.Listen("tcp", a.HTTP.addr())
		}
		if err != nil {
			c.serverErr = err
			return fmt.Errorf("listening on %s for Firehose: %w", a.HTTP.addr(), err)
		}
		c.lis, c.srv = c.newServer(a.HTTP, lis)
		c.serverErr = nil
		if c.running {
			c.serve(c.srv, c.lis)
		}
		go stopOld()
	}
	c.budget.total.Store(int64(a.HTTP.MaxInflightSize))
	c.state.Store(newState(a))
	c.check.configure(a)
	c.args = a
	return nil
}
