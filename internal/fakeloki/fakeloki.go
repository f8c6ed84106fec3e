// Package fakeloki is a Loki push endpoint for tests and benchmarks: it
// accepts POST /loki/api/v1/push with a snappy-compressed push.PushRequest
// (what Loki's own clients send), records each entry with its stream labels
// and tenant, and can be told to fail (an HTTP status for the next pushes, or
// a full outage where connections are refused). It runs on loopback only.
package fakeloki

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/internal/httpfixture"
)

// PushPath is where Loki accepts pushes.
const PushPath = "/loki/api/v1/push"

// Entry is one received log entry.
type Entry struct {
	Tenant    string
	Labels    model.LabelSet
	Timestamp time.Time
	Line      string
	// StructuredMetadata holds the entry's structured metadata, if any.
	StructuredMetadata map[string]string
}

// Options configure a Server.
type Options struct {
	// Wrap, if set, wraps the push handler: for example with a SigV4 check
	// from internal/fakeaws. Requests it rejects are counted as rejected.
	Wrap func(http.Handler) http.Handler
	// CountOnly keeps counts and no entries, so a long benchmark uses no
	// memory for them.
	CountOnly bool
	// Addr is the address to listen on; default 127.0.0.1:0.
	Addr string
	// OnPush, if set, sees every push that decoded, before it is answered
	// (a benchmark measures delivery lag with it). It may be called
	// concurrently and must not keep req, whose strings alias the request.
	OnPush func(tenant string, req *push.PushRequest)
}

// Server is a running fake Loki.
type Server struct {
	opts    Options
	addr    string // fixed after the first listen, so outages keep the URL
	handler http.Handler

	mu        sync.Mutex
	srv       *http.Server
	lis       net.Listener
	entries   []Entry
	bytes     int64
	requests  int64
	rejected  int64 // requests answered with a failure status
	failCode  int   // answer pushes with this status while > 0
	failLeft  int   // number of pushes still to fail; < 0 means until cleared
	failBody  string
	failHdr   http.Header
	conns     int // connections open now, from the server's ConnState
	connsSeen int64
	lastError string
	arrived   Counter // entries, after they are recorded
}

// Start starts a fake Loki; Close stops it.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	s := &Server{opts: opts}
	mux := http.NewServeMux()
	var h http.Handler = http.HandlerFunc(s.push)
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	mux.Handle(PushPath, s.countRejected(h))
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ready\n") })
	s.handler = mux
	if err := s.listen(opts.Addr); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) listen(addr string) error {
	var lis net.Listener
	var err error
	// After an outage the port may linger briefly; retry for a moment.
	for i := 0; i < 50; i++ {
		lis, err = net.Listen("tcp", addr)
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("fakeloki: listening on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ConnState: s.connState}
	s.mu.Lock()
	s.addr, s.lis, s.srv = lis.Addr().String(), lis, srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(lis) }()
	return nil
}

// URL is the push URL (http://127.0.0.1:port/loki/api/v1/push).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr + PushPath
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Down simulates an outage: the listener closes and every open connection is
// cut, so clients see connection refused until Up.
func (s *Server) Down() { s.Close() }

// Up ends an outage, listening again on the same address.
func (s *Server) Up() error {
	s.mu.Lock()
	running := s.srv != nil
	addr := s.addr
	s.mu.Unlock()
	if running {
		return nil
	}
	return s.listen(addr)
}

// connState counts the connections the server holds open, as a client's
// leaked keep-alive connections show up here and nowhere else.
func (s *Server) connState(_ net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case http.StateNew:
		s.conns++
		s.connsSeen++
	case http.StateClosed, http.StateHijacked:
		s.conns--
	}
}

// OpenConns is the number of client connections open at the server now.
func (s *Server) OpenConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// ConnsAccepted is the number of connections accepted since Start.
func (s *Server) ConnsAccepted() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connsSeen
}

// Fail makes the next n pushes (n < 0: every push until Recover) fail with
// status code and body.
func (s *Server) Fail(code, n int, body string) { s.FailWith(code, n, body, nil) }

// FailWith is Fail with response headers, such as Retry-After on a 429 or
// X-Amzn-ErrorType on an API Gateway 403.
func (s *Server) FailWith(code, n int, body string, header http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCode, s.failLeft, s.failBody, s.failHdr = code, n, body, header.Clone()
}

// Recover ends Fail.
func (s *Server) Recover() { s.Fail(0, 0, "") }

// Entries returns a copy of the entries received so far, in arrival order.
func (s *Server) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry(nil), s.entries...)
}

// Stats are counters of what the server saw.
type Stats struct {
	Entries, Bytes, Requests, Rejected int64
	// LastError is the last reason a push was refused as malformed.
	LastError string
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Entries: s.arrived.Load(), Bytes: s.bytes, Requests: s.requests, Rejected: s.rejected, LastError: s.lastError}
}

// WaitForEntries waits until at least n entries have arrived, or timeout.
func (s *Server) WaitForEntries(n int64, timeout time.Duration) error {
	if err := s.arrived.Wait(n, timeout); err != nil {
		return fmt.Errorf("fakeloki: %w", err)
	}
	return nil
}

// Counter counts entries that arrived at a fake Loki and lets tests wait
// for a number of them. The zero value is ready to use.
type Counter struct {
	mu      sync.Mutex
	n       int64
	changed chan struct{} // closed and replaced on every Add
}

// Add counts n more entries and wakes the waiters.
func (c *Counter) Add(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += n
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// Load returns the count.
func (c *Counter) Load() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Wait waits until the count is at least n, or timeout.
func (c *Counter) Wait(n int64, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		got := c.n
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		ch := c.changed
		c.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-deadline:
			return fmt.Errorf("%d of %d entries arrived within %s", got, n, timeout)
		}
	}
}

// statusRecorder notes the status a wrapped handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) countRejected(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		s.mu.Lock()
		s.requests++
		if rec.code >= 300 {
			s.rejected++
		}
		s.mu.Unlock()
	})
}

// badRequest answers 400 with err, kept as the last error for Stats.
func (s *Server) badRequest(w http.ResponseWriter, err error) {
	s.mu.Lock()
	s.lastError = err.Error()
	s.mu.Unlock()
	http.Error(w, err.Error(), http.StatusBadRequest)
}

func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "only POST", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	if s.failCode > 0 && s.failLeft != 0 {
		code, body, hdr := s.failCode, s.failBody, s.failHdr
		if s.failLeft > 0 {
			s.failLeft--
		}
		s.mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		for k, v := range hdr {
			w.Header()[k] = v
		}
		http.Error(w, body, code)
		return
	}
	s.mu.Unlock()

	req, err := decode(r)
	if err != nil {
		s.badRequest(w, err)
		return
	}
	tenant := r.Header.Get("X-Scope-OrgID")
	if s.opts.OnPush != nil {
		s.opts.OnPush(tenant, req)
	}
	var got []Entry
	var n, bytes int64
	for _, st := range req.Streams {
		var ls model.LabelSet
		if !s.opts.CountOnly {
			ls, err = ParseLabels(st.Labels)
			if err != nil {
				s.badRequest(w, err)
				return
			}
		}
		for _, e := range st.Entries {
			n++
			bytes += int64(len(e.Line))
			if s.opts.CountOnly {
				continue
			}
			var sm map[string]string
			if len(e.StructuredMetadata) > 0 {
				sm = make(map[string]string, len(e.StructuredMetadata))
				for _, l := range e.StructuredMetadata {
					sm[l.Name] = strings.Clone(l.Value)
				}
			}
			// push decodes strings without copying the buffer; clone so
			// recorded entries do not pin or alias request buffers.
			got = append(got, Entry{Tenant: tenant, Labels: ls, Timestamp: e.Timestamp, Line: strings.Clone(e.Line), StructuredMetadata: sm})
		}
	}
	s.mu.Lock()
	s.entries = append(s.entries, got...)
	s.bytes += bytes
	s.mu.Unlock()
	s.arrived.Add(n)
	w.WriteHeader(http.StatusNoContent)
}

// decode reads a push request the way Loki's distributor does for protobuf.
func decode(r *http.Request) (*push.PushRequest, error) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		return nil, fmt.Errorf("fakeloki: Content-Type %q, want application/x-protobuf", ct)
	}
	var req push.PushRequest
	if err := httpfixture.ReadSnappyProto(r, &req); err != nil {
		return nil, fmt.Errorf("fakeloki: %w", err)
	}
	return &req, nil
}

// ParseLabels parses a stream selector as Loki clients send it:
// {name="value", other="v"} with Go-quoted values.
func ParseLabels(s string) (model.LabelSet, error) {
	orig := s
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, fmt.Errorf("fakeloki: labels %q not enclosed in braces", orig)
	}
	s = strings.TrimSpace(s[1 : len(s)-1])
	ls := model.LabelSet{}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("fakeloki: labels %q: missing '='", orig)
		}
		name := strings.TrimSpace(s[:eq])
		if !model.LegacyValidation.IsValidLabelName(name) {
			return nil, fmt.Errorf("fakeloki: labels %q: invalid label name %q", orig, name)
		}
		rest := strings.TrimSpace(s[eq+1:])
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return nil, fmt.Errorf("fakeloki: labels %q: value of %s is not a quoted string", orig, name)
		}
		v, _ := strconv.Unquote(q)
		if _, dup := ls[model.LabelName(name)]; dup {
			return nil, fmt.Errorf("fakeloki: labels %q: duplicate label %s", orig, name)
		}
		ls[model.LabelName(name)] = model.LabelValue(v)
		rest = strings.TrimSpace(rest[len(q):])
		if rest != "" {
			if rest[0] != ',' {
				return nil, fmt.Errorf("fakeloki: labels %q: expected ',' after %s", orig, name)
			}
			rest = strings.TrimSpace(rest[1:])
		}
		s = rest
	}
	if len(ls) == 0 {
		return nil, errors.New("fakeloki: a stream needs at least one label")
	}
	return ls, nil
}
