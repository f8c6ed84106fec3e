// Package rwtest is an in-process Prometheus remote-write receiver for
// tests. It accepts Remote-Write 1.0 and 2.0 requests, checks each against
// the published specifications (method, headers, encoding, sorted labels,
// the 2.0 symbol table) and records every sample as a (series, timestamp)
// pair with how many times it arrived, so tests can prove that nothing was
// lost and nothing arrived twice. It can be stopped and restarted on the same
// address to simulate an outage.
package rwtest

import (
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// Request describes one received request.
type Request struct {
	Version         string // "1.0" or "2.0"
	ContentType     string
	ContentEncoding string
	VersionHeader   string
	UserAgent       string
	Samples         int
	Histograms      int // native histogram samples (not in Samples)
	Exemplars       int
	Symbols         int // 2.0 only
	Metadata        int // series with metadata (2.0) or metadata entries (1.0)
	// MetadataEntries are the 1.0 metadata entries: "family type help";
	// for 2.0, the metadata of each series that has some:
	// "name type help" with " unit=<unit>" when a unit is set.
	MetadataEntries []string
	Header          http.Header
}

// Receiver is a remote-write receiver on a loopback address.
type Receiver struct {
	addr string

	// Status, when not 0, is the status every request is answered with
	// (after being counted in Rejected), e.g. 503 to make the sender retry.
	Status     atomic.Int32
	mu         sync.Mutex
	outer      http.Handler // the handler requests go to (see Wrap)
	srv        *http.Server
	ln         net.Listener
	samples    map[string]map[int64]float64
	counts     map[string]map[int64]int
	requests   []Request
	violations []string
	rejected   int
	total      int

	// conns is the number of connections open at the server now, from its
	// ConnState: a client's leaked keep-alive connections show up here and
	// nowhere else. connsSeen counts every connection accepted.
	conns, connsSeen atomic.Int64
}

// New returns a receiver listening on a free loopback port.
func New() (*Receiver, error) {
	r := &Receiver{samples: map[string]map[int64]float64{}, counts: map[string]map[int64]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	return r, nil
}

// Start is New for a test: a failure to listen fails t, and the receiver
// is closed when t ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// Wrap puts a handler (a SigV4 check, for example) in front of the
// receiver: wrap gets the receiver's own handler.
func (r *Receiver) Wrap(wrap func(http.Handler) http.Handler) {
	h := wrap(http.HandlerFunc(r.handle))
	r.mu.Lock()
	r.outer = h
	r.mu.Unlock()
}

func (r *Receiver) serve(ln net.Listener) {
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		outer := r.outer
		r.mu.Unlock()
		if outer == nil {
			r.handle(w, req)
			return
		}
		outer.ServeHTTP(w, req)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ConnState: r.connState}
	r.mu.Lock()
	r.srv, r.ln = srv, ln
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (r *Receiver) connState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		r.conns.Add(1)
		r.connsSeen.Add(1)
	case http.StateClosed, http.StateHijacked:
		r.conns.Add(-1)
	}
}

// OpenConns is the number of client connections open at the receiver now.
func (r *Receiver) OpenConns() int { return int(r.conns.Load()) }

// ConnsAccepted is the number of connections accepted since New.
func (r *Receiver) ConnsAccepted() int { return int(r.connsSeen.Load()) }

// URL is the receiver's push URL.
func (r *Receiver) URL() string { return "http://" + r.addr + "/api/v1/write" }

// Stop closes the listener and every connection: senders get connection
// refused until Start.
func (r *Receiver) Stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Start listens again on the same address after Stop.
func (r *Receiver) Start() error {
	var ln net.Listener
	var err error
	// The port was just released; retry briefly in case the kernel has
	// not made it available yet.
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("listening again on %s: %w", r.addr, err)
	}
	r.serve(ln)
	return nil
}

// Close stops the receiver for good.
func (r *Receiver) Close() { r.Stop() }

func (r *Receiver) violate(format string, args ...any) {
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	if s := r.Status.Load(); s != 0 {
		r.rejected++
		http.Error(w, "receiver told to fail", int(s))
		return
	}

	info := Request{
		ContentType:     req.Header.Get("Content-Type"),
		ContentEncoding: req.Header.Get("Content-Encoding"),
		VersionHeader:   req.Header.Get("X-Prometheus-Remote-Write-Version"),
		UserAgent:       req.Header.Get("User-Agent"),
		Header:          req.Header.Clone(),
	}
	if req.Method != http.MethodPost {
		r.violate("method %s, want POST", req.Method)
	}
	if info.ContentEncoding != "snappy" {
		r.violate("Content-Encoding %q, want snappy", info.ContentEncoding)
	}
	if info.UserAgent == "" {
		r.violate("no User-Agent")
	}
	mt, params, err := mime.ParseMediaType(info.ContentType)
	if err != nil || mt != "application/x-protobuf" {
		r.violate("Content-Type %q, want application/x-protobuf", info.ContentType)
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		r.violate("body is not snappy block-compressed: %v", err)
		http.Error(w, "bad snappy", http.StatusBadRequest)
		return
	}
	switch proto := params["proto"]; proto {
	case "", "prometheus.WriteRequest":
		info.Version = "1.0"
		if !strings.HasPrefix(info.VersionHeader, "0.1.") {
			r.violate("1.0 request with X-Prometheus-Remote-Write-Version %q, want 0.1.0", info.VersionHeader)
		}
		r.handleV1(raw, &info)
	case "io.prometheus.write.v2.Request":
		info.Version = "2.0"
		if !strings.HasPrefix(info.VersionHeader, "2.0.") {
			r.violate("2.0 request with X-Prometheus-Remote-Write-Version %q, want 2.0.0", info.VersionHeader)
		}
		r.handleV2(raw, &info)
		w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", strconv.Itoa(info.Samples))
		w.Header().Set("X-Prometheus-Remote-Write-Histograms-Written", "0")
		w.Header().Set("X-Prometheus-Remote-Write-Exemplars-Written", "0")
	default:
		r.violate("unknown proto %q", proto)
		http.Error(w, "unknown proto", http.StatusUnsupportedMediaType)
		return
	}
	r.requests = append(r.requests, info)
	w.WriteHeader(http.StatusNoContent)
}

func (r *Receiver) record(lbls labels.Labels, t int64, v float64) {
	key := lbls.String()
	if r.counts[key] == nil {
		r.counts[key] = map[int64]int{}
		r.samples[key] = map[int64]float64{}
	}
	r.counts[key][t]++
	r.samples[key][t] = v
}

func (r *Receiver) checkSorted(names []string) {
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			r.violate("labels not sorted by name or duplicated: %q before %q", names[i-1], names[i])
			return
		}
	}
}

func (r *Receiver) handleV1(raw []byte, info *Request) {
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(raw); err != nil {
		r.violate("1.0 body does not decode as prometheus.WriteRequest: %v", err)
		return
	}
	info.Metadata = len(wr.Metadata)
	for _, m := range wr.Metadata {
		info.MetadataEntries = append(info.MetadataEntries, m.MetricFamilyName+" "+strings.ToLower(m.Type.String())+" "+m.Help)
	}
	for _, ts := range wr.Timeseries {
		names := make([]string, len(ts.Labels))
		b := labels.NewScratchBuilder(len(ts.Labels))
		for i, l := range ts.Labels {
			names[i] = l.Name
			b.Add(l.Name, l.Value)
		}
		r.checkSorted(names)
		lbls := b.Labels()
		for _, s := range ts.Samples {
			r.record(lbls, s.Timestamp, s.Value)
			info.Samples++
		}
		info.Histograms += len(ts.Histograms)
		info.Exemplars += len(ts.Exemplars)
	}
}

func (r *Receiver) handleV2(raw []byte, info *Request) {
	var wr writev2.Request
	if err := wr.Unmarshal(raw); err != nil {
		r.violate("2.0 body does not decode as io.prometheus.write.v2.Request: %v", err)
		return
	}
	info.Symbols = len(wr.Symbols)
	if len(wr.Symbols) == 0 || wr.Symbols[0] != "" {
		r.violate("2.0 symbol table must start with the empty string")
	}
	sym := func(ref uint32) (string, bool) {
		if int(ref) >= len(wr.Symbols) {
			r.violate("symbol reference %d out of range (%d symbols)", ref, len(wr.Symbols))
			return "", false
		}
		return wr.Symbols[ref], true
	}
	for _, ts := range wr.Timeseries {
		if len(ts.LabelsRefs)%2 != 0 {
			r.violate("odd number of label references: %d", len(ts.LabelsRefs))
			continue
		}
		b := labels.NewScratchBuilder(len(ts.LabelsRefs) / 2)
		var names []string
		ok := true
		for i := 0; i < len(ts.LabelsRefs); i += 2 {
			n, ok1 := sym(ts.LabelsRefs[i])
			v, ok2 := sym(ts.LabelsRefs[i+1])
			if !ok1 || !ok2 {
				ok = false
				break
			}
			if n == "" {
				r.violate("empty label name in 2.0 series")
			}
			names = append(names, n)
			b.Add(n, v)
		}
		if !ok {
			continue
		}
		r.checkSorted(names)
		lbls := b.Labels()
		if ts.Metadata.HelpRef != 0 || ts.Metadata.UnitRef != 0 || ts.Metadata.Type != 0 {
			info.Metadata++
			help, _ := sym(ts.Metadata.HelpRef)
			unit, _ := sym(ts.Metadata.UnitRef)
			typ := strings.TrimPrefix(strings.ToLower(ts.Metadata.Type.String()), "metric_type_")
			e := lbls.Get(model.MetricNameLabel) + " " + typ + " " + help
			if unit != "" {
				e += " unit=" + unit
			}
			info.MetadataEntries = append(info.MetadataEntries, e)
		}
		for _, s := range ts.Samples {
			r.record(lbls, s.Timestamp, s.Value)
			info.Samples++
		}
		info.Histograms += len(ts.Histograms)
		info.Exemplars += len(ts.Exemplars)
	}
}

// Stats summarises what arrived.
type Stats struct {
	Requests, Rejected  int
	Series, Samples     int // distinct series and (series, timestamp) pairs
	Duplicates          int // (series, timestamp) pairs that arrived more than once
	SpecViolations      []string
	AcceptedRequests    int
	LastRequestVersions []string
}

// Stats returns a summary.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Stats{Requests: r.total, Rejected: r.rejected, Series: len(r.counts), AcceptedRequests: len(r.requests)}
	for _, m := range r.counts {
		for _, n := range m {
			s.Samples++
			if n > 1 {
				s.Duplicates++
			}
		}
	}
	s.SpecViolations = append([]string(nil), r.violations...)
	return s
}

// Requests returns every accepted request's description.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// Timestamps returns the timestamps received for a series (by its labels'
// String form), sorted.
func (r *Receiver) Timestamps(series string) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for t := range r.counts[series] {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Value returns the value received for a series at t.
func (r *Receiver) Value(series string, t int64) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.samples[series][t]
	return v, ok
}

// Series returns the String form of every series received whose labels
// contain all of match (name → value).
func (r *Receiver) Series(match map[string]string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for key := range r.counts {
		lbls, err := parseLabels(key)
		if err != nil {
			continue
		}
		ok := true
		for k, v := range match {
			if lbls.Get(k) != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out
}

// Has reports whether the pair (series, t) arrived.
func (r *Receiver) Has(series string, t int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.counts[series][t]
	return ok
}

// Count returns how many times (series, t) arrived.
func (r *Receiver) Count(series string, t int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[series][t]
}

func parseLabels(s string) (labels.Labels, error) {
	// labels.Labels.String is {a="b", c="d"}; parse it back.
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	b := labels.NewScratchBuilder(8)
	for s != "" {
		eq := strings.Index(s, "=")
		if eq < 0 {
			return labels.EmptyLabels(), fmt.Errorf("bad labels %q", s)
		}
		name := strings.Trim(s[:eq], `"`)
		rest := s[eq+1:]
		v, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return labels.EmptyLabels(), err
		}
		val, _ := strconv.Unquote(v)
		b.Add(name, val)
		s = strings.TrimPrefix(strings.TrimPrefix(rest[len(v):], ","), " ")
	}
	b.Sort()
	return b.Labels(), nil
}
