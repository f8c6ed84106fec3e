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
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
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
	// ignoreStream: the rules' labels do not depend on a CloudWatch
	// payload's log stream (rulesIgnore), so payloads of one log group
	// share one relabeling.
	ignoreStream bool
	forwardTo    []loki.LogsReceiver
	limits       limits
	// writeTimeout is server_write_timeout: the wait for forward_to ends in
	// time to answer within it.
	writeTimeout time.Duration
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
	grpc      *grpcServer // nil without a grpc block
	running   bool        // Run has started serving
	serverErr error       // a listener failed
	// retiring are the shutdowns of servers that Update replaced while Run
	// served; Run waits for them, so that no replaced server still answers
	// once Run has returned.
	retiring sync.WaitGroup

	stats requestStats
	// budget is shared by every request in flight, across server restarts.
	budget *memBudget

	warned sync.Map // warnings already logged

	// tenants are the tenant_id values invalid_static_labels_errors has
	// seen (at most maxTenantLabelValues).
	tenantsMu sync.Mutex
	tenants   map[string]struct{}
}

// New builds the component and binds its listeners, so that a port already
// in use (or a TLS certificate that does not load) is reported at once.
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
	if c.lis, c.srv, err = c.newServer(args.HTTP); err != nil {
		return nil, err
	}
	if args.GRPC != nil {
		if c.grpc, err = c.newGRPCServer(args.GRPC, args.HTTP.timeouts); err != nil {
			c.lis.Close()
			return nil, err
		}
	}
	return c, nil
}

func newState(a Arguments) *handlerState {
	ls := make(model.LabelSet, len(a.Labels))
	for k, v := range a.Labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	l := defaultLimits
	l.body, l.decoded = int64(a.HTTP.MaxRequestBodySize), int64(a.HTTP.MaxRequestDecodedSize)
	_, write, _ := a.HTTP.timeouts()
	return &handlerState{
		accessKey:    []byte(a.AccessKey),
		useIncoming:  a.UseIncomingTimestamp,
		labels:       ls,
		rules:        a.RelabelRules,
		ignoreStream: rulesIgnore(a.RelabelRules, lblLogStream),
		forwardTo:    a.ForwardTo,
		limits:       l,
		writeTimeout: write,
	}
}

// Bounds of the HTTP server beyond the arguments (docs/security.md).
const (
	// readHeaderTimeout bounds reading a request's headers (and a TLS
	// handshake), at most server_read_timeout.
	readHeaderTimeout = 10 * time.Second
	// maxHeaderBytes bounds a request's headers: Firehose sends a few
	// short ones, plus up to 50 common attributes of at most 1 KiB each.
	maxHeaderBytes = 64 << 10
)

// handler is the endpoint's routes, served over HTTP and gRPC alike.
func (c *Component) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(PushPath, c)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		respond(w, http.StatusNotFound, r.Header.Get(hdrRequestID), "not found: Firehose delivers to POST "+PushPath, false)
	})
	return mux
}

// newServer binds the HTTP listener and returns it with its server.
func (c *Component) newServer(s ServerArgs) (*connLimiter, *http.Server, error) {
	var tlsConfig *tls.Config
	if t := s.tls(); t != nil {
		var err error
		if tlsConfig, err = t.serverConfig(); err != nil {
			return nil, nil, fmt.Errorf("http > tls: %w", err)
		}
	}
	lis, err := net.Listen("tcp", s.addr())
	if err != nil {
		return nil, nil, fmt.Errorf("listening on %s for Firehose: %w", s.addr(), err)
	}
	read, write, idle := s.timeouts()
	cl := newConnLimiter(lis, s.connLimit(), c.m.connsRejected.WithLabelValues("http").Inc, tlsConfig)
	srv := &http.Server{
		Handler:           c.instrument(c.handler()),
		ReadHeaderTimeout: min(readHeaderTimeout, read),
		// ReadTimeout bounds headers and body together: a body that
		// trickles in is answered 408 when it runs out.
		ReadTimeout: read,
		// WriteTimeout runs from the end of the headers: the handler stops
		// waiting for forward_to in time to answer within it.
		WriteTimeout:   write,
		IdleTimeout:    idle,
		MaxHeaderBytes: maxHeaderBytes,
		TLSConfig:      tlsConfig,
		ConnState:      cl.connState,
		ErrorLog:       slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
	s.HTTP2.configure(srv)
	for _, w := range s.HTTP2.warnings() {
		c.warnOnce(w)
	}
	if tlsConfig != nil && !http2Capable(tlsConfig) {
		// net/http refuses to serve HTTP/2 without an AES-128-GCM suite
		// (RFC 7540, 9.2.2), and with HTTP/2 on it would not serve at all:
		// serve HTTP/1.1 only, which is what Firehose speaks.
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
		if srv.Protocols != nil {
			var p http.Protocols
			p.SetHTTP1(true)
			srv.Protocols = &p
		}
	}
	return cl, srv, nil
}

// warnOnce logs a warning the first time it is given.
func (c *Component) warnOnce(msg string) {
	if _, done := c.warned.LoadOrStore(msg, true); !done {
		c.log.Warn(msg)
	}
}

// http2Capable tells whether net/http will run HTTP/2 with cfg: with Go's
// default suites or TLS 1.3 only, or with an AES-128-GCM suite.
func http2Capable(cfg *tls.Config) bool {
	if len(cfg.CipherSuites) == 0 || cfg.MinVersion >= tls.VersionTLS13 {
		return true
	}
	for _, id := range cfg.CipherSuites {
		if id == tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 || id == tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 {
			return true
		}
	}
	return false
}

// Addr is the address the HTTP server listens on (useful with listen_port 0).
func (c *Component) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lis.Addr().String()
}

// GRPCAddr is the address the gRPC server listens on, "" without one.
func (c *Component) GRPCAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.grpc == nil {
		return ""
	}
	return c.grpc.lis.Addr().String()
}

// connections returns the open connections of a protocol ("http" or
// "grpc") and their limit.
func (c *Component) connections(proto string) (open, limit int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case proto == "http" && c.lis != nil:
		return c.lis.count(), c.lis.limit
	case proto == "grpc" && c.grpc != nil:
		return c.grpc.lis.count(), c.grpc.lis.limit
	}
	return 0, 0
}

// Run serves until ctx ends, then stops accepting requests and waits up to
// graceful_shutdown_timeout for those in flight to be answered.
func (c *Component) Run(ctx context.Context) error {
	c.mu.Lock()
	c.running = true
	c.serve(c.srv, c.lis)
	if c.grpc != nil {
		c.serveGRPC(c.grpc)
	}
	c.mu.Unlock()

	checkDone := make(chan struct{})
	go func() {
		defer close(checkDone)
		c.check.run(ctx)
	}()

	<-ctx.Done()
	c.mu.Lock()
	srv, g, grace := c.srv, c.grpc, c.args.GracefulShutdownTimeout
	c.running = false
	c.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { shutdown(srv, grace) })
	if g != nil {
		wg.Go(func() { g.stop(grace) })
	}
	wg.Wait()
	c.retiring.Wait()
	<-checkDone
	return nil
}

// retire shuts down a server that Update replaced; called with c.mu held.
// While Run serves, stop waits up to graceful_shutdown_timeout for requests
// in flight, so it runs in the background and Run waits for it before
// returning (Update sees running under the same lock with which Run clears
// it, so no retirement starts after Run has begun to wait). Before Run, or
// after it, stop only closes a listener, and runs now.
func (c *Component) retire(stop func()) {
	if c.running {
		c.retiring.Go(stop)
		return
	}
	stop()
}

func (c *Component) serve(srv *http.Server, lis *connLimiter) {
	go func() {
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(lis, "", "")
		} else {
			err = srv.Serve(lis)
		}
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

// shutdown stops srv, waiting up to grace for requests in flight.
func shutdown(srv *http.Server, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
}

// Update applies new arguments. The servers are replaced only when their
// blocks (or graceful_shutdown_timeout) change; everything else applies to
// the next request.
func (c *Component) Update(args component.Arguments) error {
	a := args.(Arguments)
	if err := a.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	grace := c.args.GracefulShutdownTimeout
	if !reflect.DeepEqual(a.HTTP.listenerArgs(), c.args.HTTP.listenerArgs()) {
		oldSrv, oldLis, running := c.srv, c.lis, c.running
		stopOld := func() {
			if running {
				shutdown(oldSrv, grace)
			} else {
				oldLis.Close()
			}
		}
		lis, srv, err := c.newServer(a.HTTP)
		if err != nil && a.HTTP.addr() == c.args.HTTP.addr() && strings.Contains(err.Error(), "listening on") {
			// Same address, new settings: the old listener must go first.
			stopOld()
			stopOld = func() {}
			lis, srv, err = c.newServer(a.HTTP)
		}
		if err != nil {
			c.serverErr = err
			return err
		}
		c.lis, c.srv = lis, srv
		c.serverErr = nil
		if c.running {
			c.serve(c.srv, c.lis)
		}
		c.retire(stopOld)
	}
	_, oldWrite, _ := c.args.HTTP.timeouts()
	_, newWrite, _ := a.HTTP.timeouts()
	if !reflect.DeepEqual(a.GRPC, c.args.GRPC) || (a.GRPC != nil && oldWrite != newWrite) {
		if err := c.replaceGRPC(a, grace); err != nil {
			c.serverErr = err
			return err
		}
	}
	c.budget.total.Store(int64(a.HTTP.MaxInflightSize))
	c.state.Store(newState(a))
	c.check.configure(a)
	c.args = a
	return nil
}
