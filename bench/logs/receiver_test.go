package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flow-telemetry/flow/internal/fakeloki"
)

// seqLoki is the templated benchmark's Loki (tput16): like internal/fakeloki
// it accepts POST /loki/api/v1/push with a snappy-compressed
// push.PushRequest and decodes all of it (every stream's labels, every
// entry's timestamp, line and structured metadata, any other field
// skipped by its wire type; a malformed push is answered 400), but into
// reused buffers and without building the gogo structs: it reads the wire
// format in place. Each line's sequence number goes to the seqTracker and
// its lag to the lagHistogram. fakeloki's decode of the same pushes cost the
// benchmark process about 0.5 µs per record, more than the senders.
type seqLoki struct {
	srv  *http.Server
	url  string
	lag  *lagHistogram
	pool sync.Pool // *pushScratch

	arrived fakeloki.Counter
	mu      sync.Mutex
	labels  map[string]bool // stream label strings seen (each parsed once)
}

// pushScratch is one push's buffers.
type pushScratch struct {
	body, raw []byte
	ts        []int64 // entries' timestamps (Unix ns)
	seqs      []int64 // their sequence numbers (-1: none)
	streams   []string
}

// maxPushBody bounds a push body (compressed and decoded), as Loki does.
const maxPushBody = 64 << 20

func startSeqLoki(lag *lagHistogram) (*seqLoki, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &seqLoki{lag: lag, labels: map[string]bool{},
		url: "http://" + l.Addr().String() + fakeloki.PushPath}
	s.pool.New = func() any { return &pushScratch{} }
	mux := http.NewServeMux()
	mux.HandleFunc(fakeloki.PushPath, s.push)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *seqLoki) URL() string { return s.url }
func (s *seqLoki) Close()      { _ = s.srv.Close() }

// WaitForEntries waits until n entries arrived.
func (s *seqLoki) WaitForEntries(n int64, timeout time.Duration) error {
	if err := s.arrived.Wait(n, timeout); err != nil {
		return fmt.Errorf("seqLoki: %w", err)
	}
	return nil
}

func (s *seqLoki) push(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "only POST", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, fmt.Sprintf("Content-Type %q, want application/x-protobuf", ct), http.StatusBadRequest)
		return
	}
	sc := s.pool.Get().(*pushScratch)
	defer s.pool.Put(sc)
	if err := s.decode(r.Body, sc); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	s.mu.Lock()
	for _, l := range sc.streams {
		if !s.labels[l] {
			if _, err := fakeloki.ParseLabels(l); err != nil {
				s.mu.Unlock()
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			s.labels[l] = true
		}
	}
	s.mu.Unlock()
	s.lag.observeEntries(now, sc.ts, sc.seqs)
	s.arrived.Add(int64(len(sc.ts)))
	w.WriteHeader(http.StatusNoContent)
}

// decode reads a push body into sc: the streams' labels, and each
// entry's timestamp and sequence number.
func (s *seqLoki) decode(body io.Reader, sc *pushScratch) error {
	sc.body = sc.body[:0]
	for {
		if len(sc.body) == cap(sc.body) {
			sc.body = append(sc.body, 0)[:len(sc.body)]
		}
		n, err := body.Read(sc.body[len(sc.body):cap(sc.body)])
		sc.body = sc.body[:len(sc.body)+n]
		if len(sc.body) > maxPushBody {
			return errors.New("push body too large")
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading body: %w", err)
		}
	}
	n, err := snappy.DecodedLen(sc.body)
	if err != nil || n > maxPushBody {
		return fmt.Errorf("body is not snappy block-compressed (or over %d bytes): %v", maxPushBody, err)
	}
	if cap(sc.raw) < n {
		sc.raw = make([]byte, n)
	}
	raw, err := snappy.Decode(sc.raw[:n], sc.body)
	if err != nil {
		return fmt.Errorf("body is not snappy block-compressed: %w", err)
	}
	sc.ts, sc.seqs, sc.streams = sc.ts[:0], sc.seqs[:0], sc.streams[:0]
	return walkFields(raw, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == 1 && typ == protowire.BytesType { // streams
			return sc.stream(v)
		}
		return nil
	})
}

// stream decodes a StreamAdapter.
func (sc *pushScratch) stream(b []byte) error {
	labels := false
	err := walkFields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			sc.streams = append(sc.streams, string(v))
			labels = true
		case num == 2 && typ == protowire.BytesType:
			return sc.entry(v)
		}
		return nil
	})
	if err == nil && !labels {
		err = errors.New("stream without labels")
	}
	return err
}

// entry decodes an EntryAdapter (a loop, not walkFields: no closure per
// entry).
func (sc *pushScratch) entry(b []byte) error {
	var sec, nsec int64
	var line []byte
	for len(b) > 0 {
		num, typ, v, err := nextField(&b)
		if err != nil {
			return err
		}
		switch {
		case num == 1 && typ == protowire.BytesType: // google.protobuf.Timestamp
			for len(v) > 0 {
				tn, tt, tv, err := nextField(&v)
				if err != nil {
					return err
				}
				if tt == protowire.VarintType {
					x, _ := protowire.ConsumeVarint(tv)
					switch tn {
					case 1:
						sec = int64(x)
					case 2:
						nsec = int64(int32(x))
					}
				}
			}
		case num == 2 && typ == protowire.BytesType:
			line = v
		case num == 3 && typ == protowire.BytesType: // structured metadata: name, value
			for len(v) > 0 {
				if _, _, _, err := nextField(&v); err != nil {
					return err
				}
			}
		}
	}
	seq, ok := lineSeq(string(line)) // no copy: the conversion does not escape
	if !ok {
		seq = -1
	}
	sc.ts = append(sc.ts, sec*1e9+nsec)
	sc.seqs = append(sc.seqs, seq)
	return nil
}

// walkFields calls f with each field of the message b (v: a varint's or
// fixed value's bytes, or a length-delimited field's contents).
func walkFields(b []byte, f func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, v, err := nextField(&b)
		if err != nil {
			return err
		}
		if err := f(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}

// nextField consumes the first field of *b.
func nextField(b *[]byte) (protowire.Number, protowire.Type, []byte, error) {
	num, typ, n := protowire.ConsumeTag(*b)
	if n < 0 {
		return 0, 0, nil, fmt.Errorf("protobuf: %w", protowire.ParseError(n))
	}
	*b = (*b)[n:]
	var v []byte
	if typ == protowire.BytesType {
		v, n = protowire.ConsumeBytes(*b)
	} else {
		n = protowire.ConsumeFieldValue(num, typ, *b)
		if n >= 0 {
			v = (*b)[:n]
		}
	}
	if n < 0 {
		return 0, 0, nil, fmt.Errorf("protobuf field %d: %w", num, protowire.ParseError(n))
	}
	*b = (*b)[n:]
	return num, typ, v, nil
}

// TestSeqLokiDecodesPushes posts what loki.write sends (gogo-marshalled
// push.PushRequest, snappy block) to seqLoki: every entry is counted, its
// sequence number and timestamp read (through structured metadata and
// unknown fields), and malformed pushes are refused.
func TestSeqLokiDecodesPushes(t *testing.T) {
	const n = 1000
	lag := &lagHistogram{seqs: newSeqTracker(n)}
	start := time.Now().Add(-time.Second)
	lag.start(start)
	lk, err := startSeqLoki(lag)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	post := func(body []byte) int {
		t.Helper()
		resp, err := http.Post(lk.URL(), "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	encode := func(req *push.PushRequest) []byte {
		b, err := req.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return snappy.Encode(nil, b)
	}
	g := newLineGen(1)
	var digits [seqDigits]byte
	for p := 0; p < 2; p++ {
		var req push.PushRequest
		for st := 0; st < 2; st++ {
			stream := push.Stream{Labels: fmt.Sprintf(`{lbl_service="svc-%d", env="prod"}`, st), Hash: 7}
			for i := 0; i < n/4; i++ {
				seq := int64(p*n/2 + st*n/4 + i)
				line, at := templateLine(g, start)
				putSeq(&digits, seq)
				copy(line[at:], digits[:])
				e := push.Entry{Timestamp: start.Add(time.Duration(i) * time.Microsecond), Line: string(line) + "\n"}
				if i%3 == 0 {
					e.StructuredMetadata = push.LabelsAdapter{{Name: "trace", Value: "x"}}
				}
				stream.Entries = append(stream.Entries, e)
			}
			req.Streams = append(req.Streams, stream)
		}
		req.Format = "loki"
		if code := post(encode(&req)); code != http.StatusNoContent {
			t.Fatalf("push %d answered %d", p, code)
		}
	}
	if err := lk.WaitForEntries(n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if miss, first := lag.seqs.missing(n); miss != 0 || lag.seqs.dups != 0 || lag.seqs.bad != 0 {
		t.Fatalf("missing %d (first %d), duplicates %d, bad %d", miss, first, lag.seqs.dups, lag.seqs.bad)
	}
	if lag.count() != n || lag.quantile(0.5) < time.Second || lag.quantile(0.99) > time.Minute {
		t.Fatalf("lag counted %d entries, p50 %v, p99 %v; want %d, ≥ 1s, < 1m", lag.count(), lag.quantile(0.5), lag.quantile(0.99), n)
	}

	// Malformed pushes are refused and counted nowhere.
	good := encode(&push.PushRequest{Streams: []push.Stream{{Labels: `{a="b"}`, Entries: []push.Entry{{Timestamp: start, Line: "x"}}}}})
	raw, _ := snappy.Decode(nil, good)
	for name, body := range map[string][]byte{
		"not snappy":            []byte("not snappy at all"),
		"truncated protobuf":    snappy.Encode(nil, raw[:len(raw)-1]),
		"labels do not parse":   encode(&push.PushRequest{Streams: []push.Stream{{Labels: `{a=}`, Entries: []push.Entry{{Timestamp: start, Line: "x"}}}}}),
		"stream without labels": encode(&push.PushRequest{Streams: []push.Stream{{Entries: []push.Entry{{Timestamp: start, Line: "x"}}}}}),
	} {
		if code := post(body); code != http.StatusBadRequest {
			t.Errorf("%s: answered %d, want 400", name, code)
		}
	}
	if err := lk.WaitForEntries(n+1, 0); err == nil {
		t.Fatal("a refused push was counted")
	}
	// A push without a sequence number in its line is counted as bad.
	if code := post(good); code != http.StatusNoContent || lag.seqs.bad != 1 {
		t.Fatalf("answered %d, bad %d; want 204, 1", code, lag.seqs.bad)
	}
}
