package awsfirehose

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"

	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// The test's client encodes httpgrpc messages by hand from dskit's
// httpgrpc.proto (field numbers and types), independently of the
// descriptor the server uses, so that the two are checked against the
// wire format rather than against each other.

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

type httpgrpcResponse struct {
	code    int
	headers http.Header
	body    []byte
}

func encodeHeader(k string, vs []string) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, k)
	for _, v := range vs {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, v)
	}
	return b
}

func encodeRequest(method, url string, h http.Header, body []byte) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, method)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, url)
	for k, vs := range h {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, encodeHeader(k, vs))
	}
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	return protowire.AppendBytes(b, body)
}

func decodeResponse(t *testing.T, b []byte) httpgrpcResponse {
	t.Helper()
	r := httpgrpcResponse{headers: http.Header{}}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			r.code, b = int(int32(v)), b[n:]
		case num == 2 && typ == protowire.BytesType:
			hb, n := protowire.ConsumeBytes(b)
			b = b[n:]
			var key string
			var vals []string
			for len(hb) > 0 {
				hn, _, m := protowire.ConsumeTag(hb)
				hb = hb[m:]
				s, m := protowire.ConsumeString(hb)
				hb = hb[m:]
				if hn == 1 {
					key = s
				} else {
					vals = append(vals, s)
				}
			}
			r.headers[key] = vals
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			r.body, b = v, b[n:]
		default:
			t.Fatalf("unexpected field %d type %d in HTTPResponse", num, typ)
		}
	}
	return r
}

// grpcClient calls httpgrpc.HTTP/Handle on addr.
type grpcClient struct {
	conn *grpc.ClientConn
}

func newGRPCClient(t *testing.T, addr string, creds credentials.TransportCredentials) *grpcClient {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &grpcClient{conn: conn}
}

// push sends a Firehose request (records as fh.Body builds them) over gRPC.
func (g *grpcClient) push(t *testing.T, id string, records [][]byte, edit func(http.Header)) (httpgrpcResponse, error) {
	t.Helper()
	h := http.Header{"Content-Type": {"application/json"}, hdrRequestID: {id}, hdrSourceARN: {"arn:aws:firehose:eu-west-1:1:deliverystream/grpc"}}
	if edit != nil {
		edit(h)
	}
	in := encodeRequest("POST", PushPath, h, fh.Body(id, time.Now(), records))
	var out []byte
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := g.conn.Invoke(ctx, handleMethod, &in, &out, grpc.ForceCodec(rawCodec{})); err != nil {
		return httpgrpcResponse{}, err
	}
	return decodeResponse(t, out), nil
}

func grpcFixture(t *testing.T, edit func(a *Arguments)) *fixture {
	return newFixture(t, func(a *Arguments) {
		a.GRPC = &GRPCArgs{}
		a.GRPC.SetToDefault()
		a.GRPC.ListenAddress = "127.0.0.1"
		if edit != nil {
			edit(a)
		}
	})
}

// The grpc block serves the Firehose endpoint through dskit's httpgrpc
// service, as Alloy's server does: the same handling, labels and answers.
func TestGRPCServesTheEndpoint(t *testing.T) {
	f := grpcFixture(t, func(a *Arguments) { a.AccessKey = "k" })
	if f.c.GRPCAddr() == "" {
		t.Fatal("no gRPC listener")
	}
	g := newGRPCClient(t, f.c.GRPCAddr(), insecure.NewCredentials())
	withKey := func(h http.Header) { h.Set(hdrAccessKey, "k"); h.Set(hdrTenant, "t1") }

	r, err := g.push(t, "id-1", [][]byte{[]byte("over grpc"), fh.ControlMessage()}, withKey)
	if err != nil {
		t.Fatal(err)
	}
	var body response
	if err := json.Unmarshal(r.body, &body); err != nil || r.code != 200 || body.RequestID != "id-1" || r.headers.Get("Content-Type") != "application/json" {
		t.Fatalf("answer %d %v %q (%v)", r.code, r.headers, r.body, err)
	}
	got := f.out.got()
	if len(got) != 2 || got[0].Line != "over grpc" || got[0].Labels["__tenant_id__"] != "t1" {
		t.Fatalf("entries %+v", got)
	}

	// 4xx answers come back as answers.
	r, err = g.push(t, "id-2", [][]byte{[]byte("x")}, nil)
	if err != nil || r.code != http.StatusUnauthorized || !strings.Contains(string(r.body), hdrAccessKey) {
		t.Fatalf("without the key: %d %q %v", r.code, r.body, err)
	}

	// 5xx answers are errors whose code is the status and whose detail is
	// the answer, as dskit's httpgrpc server returns them.
	f.out.Fail(errors.New("disk full"))
	_, err = g.push(t, "id-3", [][]byte{[]byte("x")}, withKey)
	st, _ := status.FromError(err)
	if st == nil || st.Code() != 500 || !strings.Contains(st.Message(), "disk full") || len(st.Proto().GetDetails()) != 1 ||
		st.Proto().GetDetails()[0].GetTypeUrl() != "type.googleapis.com/httpgrpc.HTTPResponse" {
		t.Fatalf("5xx over gRPC: %v", err)
	}
	if d := decodeResponse(t, st.Proto().GetDetails()[0].GetValue()); d.code != 500 {
		t.Fatalf("the detail's answer has code %d", d.code)
	}

	// Other methods are not served.
	var out []byte
	in := []byte{}
	if err := g.conn.Invoke(context.Background(), "/httpgrpc.HTTP/Other", &in, &out, grpc.ForceCodec(rawCodec{})); status.Code(err) != codes.Unimplemented {
		t.Fatalf("another method: %v", err)
	}

	if n := metricValue(gather(t, f), `loki_source_awsfirehose_request_duration_seconds{method="gRPC",route="/httpgrpc.HTTP/Handle",status_code="success",ws="false"}`); n != 2 {
		t.Errorf("gRPC calls counted %v, want 2 successes", n)
	}
}

// A call reserves twice server_max_recv_msg_size from the memory budget
// before its message is read, and is refused UNAVAILABLE when it does not
// fit; a message over server_max_recv_msg_size is refused.
func TestGRPCLimits(t *testing.T) {
	f := grpcFixture(t, func(a *Arguments) { a.GRPC.ServerMaxRecvMsgSize = 64 << 10 })
	g := newGRPCClient(t, f.c.GRPCAddr(), insecure.NewCredentials())
	total := f.c.budget.total.Load()
	if !f.c.budget.tryReserve(total - 100<<10) { // leaves less than 2 × 64 KiB
		t.Fatal("could not take the budget")
	}
	_, err := g.push(t, "busy", [][]byte{[]byte("x")}, nil)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "max_inflight_size") {
		t.Fatalf("with the budget in use: %v", err)
	}
	f.c.budget.release(total - 100<<10)
	if _, err := g.push(t, "fits", [][]byte{[]byte("x")}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = g.push(t, "large", [][]byte{[]byte(strings.Repeat("x", 100<<10))}, nil)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a message over server_max_recv_msg_size: %v", err)
	}
	if _, ok := testwait.Poll(30*time.Second, func() bool { return f.c.budget.held.Load() == 0 }); !ok {
		t.Fatalf("%d bytes still reserved after the calls ended", f.c.budget.held.Load())
	}
}

// conn_limit bounds gRPC connections: past it a new one is closed.
func TestGRPCConnLimit(t *testing.T) {
	f := grpcFixture(t, func(a *Arguments) { a.GRPC.ConnLimit = 1 })
	first := newGRPCClient(t, f.c.GRPCAddr(), insecure.NewCredentials())
	if _, err := first.push(t, "a", [][]byte{[]byte("x")}, nil); err != nil {
		t.Fatal(err)
	}
	second := newGRPCClient(t, f.c.GRPCAddr(), insecure.NewCredentials())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	in, out := encodeRequest("POST", PushPath, nil, nil), []byte(nil)
	if err := second.conn.Invoke(ctx, handleMethod, &in, &out, grpc.ForceCodec(rawCodec{})); status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a second connection past conn_limit 1: %v", err)
	}
	m := gather(t, f)
	if v := metricValue(m, `loki_source_awsfirehose_tcp_connections_limit{protocol="grpc"}`); v != 1 {
		t.Errorf("tcp_connections_limit{grpc} = %v", v)
	}
	if v := metricValue(m, `loki_source_awsfirehose_connections_rejected_total{protocol="grpc"}`); v < 1 {
		t.Errorf("connections_rejected_total{grpc} = %v", v)
	}
}

// The grpc block's tls serves gRPC over TLS, with client certificates.
func TestGRPCTLS(t *testing.T) {
	p := newTestPKI(t)
	f := grpcFixture(t, func(a *Arguments) {
		a.GRPC.TLS = &TLSArgs{CertFile: p.certFile, KeyFile: p.keyFile, ClientAuthType: "RequireAndVerifyClientCert", ClientCAFile: p.caFile}
	})
	good := newGRPCClient(t, f.c.GRPCAddr(), credentials.NewTLS(&tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}}))
	if r, err := good.push(t, "tls", [][]byte{[]byte("x")}, nil); err != nil || r.code != 200 {
		t.Fatalf("over TLS with a client certificate: %d %v", r.code, err)
	}
	for name, creds := range map[string]credentials.TransportCredentials{
		"plain":                 insecure.NewCredentials(),
		"no client certificate": credentials.NewTLS(&tls.Config{RootCAs: p.pool}),
	} {
		c := newGRPCClient(t, f.c.GRPCAddr(), creds)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		in, out := encodeRequest("POST", PushPath, nil, nil), []byte(nil)
		err := c.conn.Invoke(ctx, handleMethod, &in, &out, grpc.ForceCodec(rawCodec{}))
		cancel()
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Updates replace the gRPC server only when its block changes, and remove
// it with the block.
func TestGRPCUpdate(t *testing.T) {
	f := grpcFixture(t, nil)
	g := f.c.grpc
	args := f.c.args
	args.UseIncomingTimestamp = true
	if err := f.c.Update(args); err != nil || f.c.grpc != g {
		t.Fatalf("a change outside the grpc block replaced the server: %v", err)
	}
	ng := *args.GRPC
	ng.ServerMaxConcurrentStreams = 10
	args.GRPC = &ng
	if err := f.c.Update(args); err != nil || f.c.grpc == g {
		t.Fatalf("a grpc change did not replace the server: %v", err)
	}
	c := newGRPCClient(t, f.c.GRPCAddr(), insecure.NewCredentials())
	if _, err := c.push(t, "after", [][]byte{[]byte("x")}, nil); err != nil {
		t.Fatal(err)
	}
	args.GRPC = nil
	if err := f.c.Update(args); err != nil || f.c.GRPCAddr() != "" {
		t.Fatalf("removing the block: %v, still at %q", err, f.c.GRPCAddr())
	}
}

func gather(t *testing.T, f *fixture) map[string]*dtoFamily {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dtoFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}
