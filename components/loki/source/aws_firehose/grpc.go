package awsfirehose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/flow-telemetry/flow/components/common/bytesize"
)

// GRPCArgs is the `grpc { }` block. Alloy runs a dskit server for the
// component, whose gRPC side serves dskit's httpgrpc service
// (httpgrpc.HTTP/Handle: an HTTP request carried in a protobuf message)
// on the same routes as the HTTP side: a Firehose request sent that way is
// handled exactly as over HTTP. flow serves the same service with the same
// limits. Unlike Alloy, which starts a gRPC server on a random port of every
// interface even without the block (a port nothing is told about), flow
// starts one only when the block is present.
type GRPCArgs struct {
	ListenAddress string `river:"listen_address,attr,optional"`
	ListenPort    int    `river:"listen_port,attr,optional"`
	// ConnLimit caps open connections; Alloy's 0 ("no limit") means
	// DefaultConnLimit. Past it a new connection is closed at once.
	ConnLimit int `river:"conn_limit,attr,optional"`
	// MaxConnectionAge, MaxConnectionAgeGrace and MaxConnectionIdle are
	// gRPC's keepalive settings. A connection idle (without calls) for
	// MaxConnectionIdle is closed: Alloy's default is never; flow's is
	// DefaultIdleTimeout, so that idle connections cannot hold conn_limit.
	MaxConnectionAge      time.Duration `river:"max_connection_age,attr,optional"`
	MaxConnectionAgeGrace time.Duration `river:"max_connection_age_grace,attr,optional"`
	MaxConnectionIdle     time.Duration `river:"max_connection_idle,attr,optional"`
	// ServerMaxRecvMsgSize bounds a request message (4 MiB); each call
	// reserves twice that from max_inflight_size before its message is read.
	ServerMaxRecvMsgSize bytesize.Size `river:"server_max_recv_msg_size,attr,optional"`
	ServerMaxSendMsgSize bytesize.Size `river:"server_max_send_msg_size,attr,optional"`
	// ServerMaxConcurrentStreams bounds calls per connection (0: no limit
	// per connection; the memory budget still bounds them all).
	ServerMaxConcurrentStreams int      `river:"server_max_concurrent_streams,attr,optional"`
	TLS                        *TLSArgs `river:"tls,block,optional"`
	TLSConfig                  *TLSArgs `river:"tls_config,block,optional"`
}

// durationInfinity is dskit's "infinity".
const durationInfinity = time.Duration(math.MaxInt64)

// gRPC defaults: Alloy's, but max_connection_idle (see GRPCArgs).
const (
	DefaultGRPCMaxMsgSize = 4 << 20
	DefaultGRPCStreams    = 100
)

// SetToDefault sets the block's defaults.
func (g *GRPCArgs) SetToDefault() {
	*g = GRPCArgs{ConnLimit: DefaultConnLimit, MaxConnectionAge: durationInfinity, MaxConnectionAgeGrace: durationInfinity,
		MaxConnectionIdle: DefaultIdleTimeout, ServerMaxRecvMsgSize: DefaultGRPCMaxMsgSize, ServerMaxSendMsgSize: DefaultGRPCMaxMsgSize,
		ServerMaxConcurrentStreams: DefaultGRPCStreams}
}

// Validate checks the block against the http block's memory budget.
func (g *GRPCArgs) Validate(h *ServerArgs) error {
	if g.ListenPort < 0 || g.ListenPort > 65535 {
		return fmt.Errorf("listen_port %d is not a port", g.ListenPort)
	}
	if g.ConnLimit < 0 || g.ServerMaxConcurrentStreams < 0 {
		return errors.New("conn_limit and server_max_concurrent_streams must not be negative")
	}
	if g.MaxConnectionAge < 0 || g.MaxConnectionAgeGrace < 0 || g.MaxConnectionIdle < 0 {
		return errors.New("max_connection_age, max_connection_age_grace and max_connection_idle must not be negative")
	}
	if g.TLS != nil && g.TLSConfig != nil {
		return errors.New("set tls or tls_config (its older name), not both")
	}
	if t := g.tls(); t != nil {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
	}
	if need := 2 * g.recvSize(); need > int64(h.MaxInflightSize) {
		return fmt.Errorf("a call reserves twice server_max_recv_msg_size (%d bytes) from http > max_inflight_size (%d bytes): lower the one or raise the other",
			g.recvSize(), h.MaxInflightSize)
	}
	return nil
}

func (g *GRPCArgs) tls() *TLSArgs {
	if g.TLS != nil {
		return g.TLS
	}
	return g.TLSConfig
}

func (g *GRPCArgs) recvSize() int64 {
	if g.ServerMaxRecvMsgSize == 0 {
		return DefaultGRPCMaxMsgSize
	}
	return int64(g.ServerMaxRecvMsgSize)
}

func (g *GRPCArgs) addr() string {
	return net.JoinHostPort(g.ListenAddress, strconv.Itoa(g.ListenPort))
}

// Bounds of the gRPC server beyond the arguments (docs/security.md).
const (
	// grpcHandshakeTimeout bounds a new connection's TLS handshake and
	// HTTP/2 preface.
	grpcHandshakeTimeout = 10 * time.Second
	// grpcMaxHeaderList bounds a call's metadata, as maxHeaderBytes does.
	grpcMaxHeaderList = maxHeaderBytes
	// handleMethod is httpgrpc's one method.
	handleMethod = "/httpgrpc.HTTP/Handle"
)

// grpcServer is the gRPC side of the endpoint.
type grpcServer struct {
	srv *grpc.Server
	lis *grpcConnLimiter
}

// newGRPCServer binds the gRPC listener and builds its server. timeouts
// gives the HTTP side's read and write timeouts, which bound each call too.
func (c *Component) newGRPCServer(g *GRPCArgs, timeouts func() (read, write, idle time.Duration)) (*grpcServer, error) {
	idle := g.MaxConnectionIdle
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(g.recvSize())),
		grpc.MaxSendMsgSize(int(orDefault(int64(g.ServerMaxSendMsgSize), DefaultGRPCMaxMsgSize))),
		grpc.MaxConcurrentStreams(uint32(min(g.ServerMaxConcurrentStreams, math.MaxUint32))),
		grpc.MaxHeaderListSize(grpcMaxHeaderList),
		grpc.ConnectionTimeout(grpcHandshakeTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     idle,
			MaxConnectionAge:      g.MaxConnectionAge,
			MaxConnectionAgeGrace: g.MaxConnectionAgeGrace,
		}),
		grpc.InTapHandle(c.grpcTap(g.recvSize(), timeouts)),
		grpc.ChainUnaryInterceptor(c.grpcInstrument),
	}
	if t := g.tls(); t != nil {
		cfg, err := t.serverConfig()
		if err != nil {
			return nil, fmt.Errorf("grpc > tls: %w", err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	lis, err := net.Listen("tcp", g.addr())
	if err != nil {
		return nil, fmt.Errorf("listening on %s for Firehose over gRPC: %w", g.addr(), err)
	}
	limit := g.ConnLimit
	if limit == 0 {
		limit = DefaultConnLimit
	}
	srv := grpc.NewServer(opts...)
	srv.RegisterService(&httpgrpcService, &httpgrpcHandler{c: c, routes: c.handler()})
	return &grpcServer{srv: srv, lis: &grpcConnLimiter{Listener: lis, limit: limit, rejected: c.m.connsRejected.WithLabelValues("grpc").Inc}}, nil
}

// orDefault is v, or def for Alloy's 0.
func orDefault(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

func (c *Component) serveGRPC(g *grpcServer) {
	go func() {
		if err := g.srv.Serve(g.lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			c.log.Error("Firehose gRPC endpoint stopped serving", "addr", g.lis.Addr().String(), "err", err)
			c.mu.Lock()
			if c.grpc == g {
				c.serverErr = err
			}
			c.mu.Unlock()
		}
	}()
}

// stop stops the server, waiting up to grace for calls in flight.
func (g *grpcServer) stop(grace time.Duration) {
	done := make(chan struct{})
	go func() { g.srv.GracefulStop(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		g.srv.Stop()
		<-done
	}
	g.lis.Close()
}

// replaceGRPC swaps the gRPC server for one built from a (or none);
// called with c.mu held.
func (c *Component) replaceGRPC(a Arguments, grace time.Duration) error {
	old, running := c.grpc, c.running
	stopOld := func() {
		if old == nil {
			return
		}
		if running {
			old.stop(grace)
		} else {
			old.lis.Close()
		}
	}
	if a.GRPC == nil {
		c.grpc = nil
		c.retire(stopOld)
		return nil
	}
	g, err := c.newGRPCServer(a.GRPC, a.HTTP.timeouts)
	if err != nil && old != nil && a.GRPC.addr() == c.args.GRPC.addr() {
		// Same address, new settings: the old listener must go first.
		stopOld()
		old = nil
		g, err = c.newGRPCServer(a.GRPC, a.HTTP.timeouts)
	}
	if err != nil {
		return err
	}
	c.grpc = g
	if c.running {
		c.serveGRPC(g)
	}
	c.retire(stopOld)
	return nil
}

// grpcTap admits a call before its message is read: it reserves twice the
// largest message from the memory budget (the message, and its decoded
// body) until the call ends, or refuses the call with UNAVAILABLE, which
// clients retry; and it bounds the call by the read and write timeouts.
func (c *Component) grpcTap(recv int64, timeouts func() (time.Duration, time.Duration, time.Duration)) tap.ServerInHandle {
	read, write, _ := timeouts()
	return func(ctx context.Context, info *tap.Info) (context.Context, error) {
		if info.FullMethodName != handleMethod {
			return ctx, nil // answered Unimplemented without reading it
		}
		n := 2 * recv
		if !c.budget.tryReserve(n) {
			c.m.requestErrors.WithLabelValues("busy").Inc()
			return nil, status.Errorf(codes.Unavailable, "requests in flight hold max_inflight_size (%d bytes) of memory; retry", c.budget.total.Load())
		}
		// The stream's context ends with the call, however it ends.
		context.AfterFunc(ctx, func() { c.budget.release(n) })
		ctx, cancel := context.WithTimeout(ctx, read+write)
		context.AfterFunc(ctx, cancel)
		return ctx, nil
	}
}

// grpcInstrument records dskit's server metrics for gRPC calls.
func (c *Component) grpcInstrument(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	inflight := c.m.inflight.WithLabelValues("gRPC", info.FullMethod)
	inflight.Inc()
	defer inflight.Dec()
	start := time.Now()
	resp, err := handler(ctx, req)
	code := "success"
	if err != nil {
		if s, ok := status.FromError(err); ok && s.Code() >= 100 && s.Code() < 600 {
			code = strconv.Itoa(int(s.Code())) // an HTTP status carried as in httpgrpc
		} else if errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
			code = "cancel"
		} else {
			code = "error"
		}
	}
	c.m.duration.WithLabelValues("gRPC", info.FullMethod, code, "false").Observe(time.Since(start).Seconds())
	return resp, err
}

// httpgrpc's messages (dskit's httpgrpc/httpgrpc.proto), described here so
// that dynamicpb reads and writes them with the standard protobuf codec:
//
//	message HTTPRequest { string method = 1; string url = 2; repeated Header headers = 3; bytes body = 4; }
//	message HTTPResponse { int32 Code = 1; repeated Header headers = 2; bytes body = 3; }
//	message Header { string key = 1; repeated string values = 2; }
var (
	mdRequest, mdResponse, mdHeader protoreflect.MessageDescriptor
	httpgrpcService                 grpc.ServiceDesc
)

func init() {
	str, byts, i32, msg := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), descriptorpb.FieldDescriptorProto_TYPE_BYTES.Enum(),
		descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum(), descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum()
	opt, rep := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	field := func(name string, n int32, l *descriptorpb.FieldDescriptorProto_Label, t *descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(n), Label: l, Type: t, JsonName: proto.String(name)}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name: proto.String("flow/httpgrpc.proto"), Package: proto.String("httpgrpc"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("HTTPRequest"), Field: []*descriptorpb.FieldDescriptorProto{
				field("method", 1, opt, str, ""), field("url", 2, opt, str, ""),
				field("headers", 3, rep, msg, ".httpgrpc.Header"), field("body", 4, opt, byts, "")}},
			{Name: proto.String("HTTPResponse"), Field: []*descriptorpb.FieldDescriptorProto{
				field("Code", 1, opt, i32, ""), field("headers", 2, rep, msg, ".httpgrpc.Header"), field("body", 3, opt, byts, "")}},
			{Name: proto.String("Header"), Field: []*descriptorpb.FieldDescriptorProto{
				field("key", 1, opt, str, ""), field("values", 2, rep, str, "")}},
		},
	}, nil)
	if err != nil {
		panic("httpgrpc descriptor: " + err.Error()) // a programming error, caught by every test
	}
	mdRequest, mdResponse, mdHeader = fd.Messages().ByName("HTTPRequest"), fd.Messages().ByName("HTTPResponse"), fd.Messages().ByName("Header")
	httpgrpcService = grpc.ServiceDesc{
		ServiceName: "httpgrpc.HTTP",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Handle", Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := dynamicpb.NewMessage(mdRequest)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := srv.(*httpgrpcHandler)
			if ic == nil {
				return h.handle(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: handleMethod}, func(ctx context.Context, req any) (any, error) {
				return h.handle(ctx, req.(*dynamicpb.Message))
			})
		}}},
		Metadata: "httpgrpc.proto",
	}
}

// httpgrpcHandler serves httpgrpc.HTTP/Handle with the endpoint's routes.
type httpgrpcHandler struct {
	c      *Component
	routes http.Handler
}

// handle runs the carried request through the routes and returns the
// answer; a 5xx answer is a gRPC error whose code is the HTTP status and
// whose details hold the answer, as dskit's httpgrpc server returns it.
func (h *httpgrpcHandler) handle(ctx context.Context, in *dynamicpb.Message) (*dynamicpb.Message, error) {
	f := mdRequest.Fields()
	body := in.Get(f.ByName("body")).Bytes()
	req, err := http.NewRequestWithContext(ctx, in.Get(f.ByName("method")).String(), in.Get(f.ByName("url")).String(), bytes.NewReader(body))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "the carried HTTP request is not valid: %v", err)
	}
	req.RequestURI = in.Get(f.ByName("url")).String()
	req.ContentLength = int64(len(body))
	hl := in.Get(f.ByName("headers")).List()
	hk, hv := mdHeader.Fields().ByName("key"), mdHeader.Fields().ByName("values")
	for i := range hl.Len() {
		hm := hl.Get(i).Message()
		vl := hm.Get(hv).List()
		vals := make([]string, vl.Len())
		for j := range vals {
			vals[j] = vl.Get(j).String()
		}
		req.Header[http.CanonicalHeaderKey(hm.Get(hk).String())] = vals
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		req.RemoteAddr = p.Addr.String()
	}
	rec := &recorder{header: http.Header{}}
	h.routes.ServeHTTP(rec, req)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}

	out := dynamicpb.NewMessage(mdResponse)
	rf := mdResponse.Fields()
	out.Set(rf.ByName("Code"), protoreflect.ValueOfInt32(int32(rec.code)))
	out.Set(rf.ByName("body"), protoreflect.ValueOfBytes(rec.body.Bytes()))
	headers := out.Mutable(rf.ByName("headers")).List()
	for k, vs := range rec.header {
		hm := dynamicpb.NewMessage(mdHeader)
		hm.Set(hk, protoreflect.ValueOfString(k))
		l := hm.Mutable(hv).List()
		for _, v := range vs {
			l.Append(protoreflect.ValueOfString(v))
		}
		headers.Append(protoreflect.ValueOfMessage(hm))
	}
	if rec.code/100 == 5 {
		b, err := proto.Marshal(out)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		return nil, status.FromProto(&spb.Status{Code: int32(rec.code), Message: rec.body.String(),
			Details: []*anypb.Any{{TypeUrl: "type.googleapis.com/httpgrpc.HTTPResponse", Value: b}}}).Err()
	}
	return out, nil
}

// recorder is the ResponseWriter of a request carried over gRPC: the
// endpoint's answers are small JSON documents.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}

// grpcConnLimiter keeps at most limit gRPC connections open; past it a new
// connection is closed at once (the client retries with backoff) rather than
// left waiting in the kernel's queue.
type grpcConnLimiter struct {
	net.Listener
	limit    int
	rejected func()

	mu   sync.Mutex
	open int
}

func (l *grpcConnLimiter) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.open >= l.limit {
			l.mu.Unlock()
			l.rejected()
			conn.Close()
			continue
		}
		l.open++
		l.mu.Unlock()
		return &countedConn{Conn: conn, l: l}, nil
	}
}

func (l *grpcConnLimiter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

type countedConn struct {
	net.Conn
	l    *grpcConnLimiter
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
