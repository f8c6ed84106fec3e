package logs

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
)

// The templated sender (issue 16, tput16) sends the realistic shape at a
// fraction of the generating sender's cost, so that the senders no longer
// set the rate on a 2-core machine they share with flow.
//
// Each client builds templateBodies request bodies once, with the
// generating sender's lines (~200 bytes, half logfmt and half JSON, random
// methods, paths, statuses, durations and trace IDs). Every line ends in a
// 12-digit decimal sequence number (the record's number over the whole run:
// request index × benchPerRequest + position) placed at a raw offset that is
// a multiple of 3, so its 12 bytes are exactly 4 groups of the record's
// base64 text: a request is made by rewriting those 16 characters of each
// record, and the request ID and timestamp, in place. Every record flow sees
// is distinct (by its sequence number), and flow decodes, labels, stores and
// delivers exactly what it would of the generating sender's requests; what
// the senders no longer do per request is formatting and base64-encoding
// ~140 KB.
//
// The receiver checks every delivered line's sequence number
// (seqTracker): none missing at the end, and duplicates counted (loki.write
// delivers at least once; a retried push may arrive twice).
const templateBodies = 8

// seqDigits is the width of a line's sequence number (a multiple of 3).
const seqDigits = 12

// bodyTemplate is one request body with the places to patch.
type bodyTemplate struct {
	body    []byte
	idAt    int   // offset of the 36-character request ID
	tsAt    int   // offset of the 13-digit millisecond timestamp
	seqAt   []int // offset of each record's 16 base64 characters of its sequence number
	entries int
}

// templateLine returns a line of g's (logfmt or JSON, by g's turn) ending in
// a sequence-number field whose 12 digits start at a multiple of 3, and the
// digits' offset in the line. The digits are zeros until patched.
func templateLine(g *lineGen, now time.Time) ([]byte, int) {
	l := g.line(now)
	var b []byte
	if i := bytes.LastIndex(l, []byte(` seq=`)); i >= 0 && l[0] != '{' {
		b = append(b, l[:i]...)
		for (len(b)+len(" seq="))%3 != 0 {
			b = append(b, ' ') // logfmt allows any run of spaces between pairs
		}
		b = append(b, " seq="...)
	} else {
		i := bytes.LastIndex(l, []byte(`,"seq":`))
		b = append(b, l[:i]...)
		b = append(b, `,"seq":`...)
		for (len(b)+1)%3 != 0 {
			b = append(b, ' ') // JSON whitespace before the value
		}
		b = append(b, '"')
	}
	at := len(b)
	b = append(b, bytes.Repeat([]byte{'0'}, seqDigits)...)
	if l[0] == '{' {
		b = append(b, `"}`...)
	}
	return b, at
}

// newBodyTemplate builds a body of benchPerRequest records (each a
// templateLine and a newline, as producers end records) exactly as
// fh.Body lays it out, remembering where to patch.
func newBodyTemplate(g *lineGen, now time.Time) *bodyTemplate {
	t := &bodyTemplate{entries: benchPerRequest}
	b := make([]byte, 0, 64+benchPerRequest*(base64.StdEncoding.EncodedLen(benchLineSize+8)+12))
	b = append(b, `{"requestId":"`...)
	t.idAt = len(b)
	b = append(b, "00000000-0000-0000-0000-000000000000"...)
	b = append(b, `","timestamp":`...)
	t.tsAt = len(b)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, `,"records":[`...)
	for i := 0; i < benchPerRequest; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"data":"`...)
		line, at := templateLine(g, now)
		line = append(line, '\n')
		t.seqAt = append(t.seqAt, len(b)+at/3*4)
		b = base64.StdEncoding.AppendEncode(b, line)
		b = append(b, `"}`...)
	}
	b = append(b, "]}"...)
	t.body = b
	return t
}

// patch makes t's body request reqID (36 characters) at now, its records
// numbered from first.
func (t *bodyTemplate) patch(reqID string, now time.Time, first int64) []byte {
	copy(t.body[t.idAt:t.idAt+36], reqID)
	var ts [20]byte
	if s := strconv.AppendInt(ts[:0], now.UnixMilli(), 10); len(s) == 13 {
		copy(t.body[t.tsAt:], s)
	}
	var digits [seqDigits]byte
	for i, at := range t.seqAt {
		putSeq(&digits, first+int64(i))
		base64.StdEncoding.Encode(t.body[at:at+seqDigits/3*4], digits[:])
	}
	return t.body
}

// putSeq writes n as seqDigits decimal digits.
func putSeq(d *[seqDigits]byte, n int64) {
	for i := seqDigits - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
}

// lineSeq returns the sequence number a templated line ends in (after an
// optional newline), or false.
func lineSeq(line string) (int64, bool) {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 2 && line[n-1] == '}' {
		line = line[:n-2] // `"}`
	}
	if len(line) < seqDigits {
		return 0, false
	}
	var v int64
	for _, c := range []byte(line[len(line)-seqDigits:]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// templateSender is one client's bodies.
type templateSender struct {
	bodies []*bodyTemplate
	next   int
}

func newTemplateSender(sender int) *templateSender {
	g := newLineGen(sender)
	now := time.Now()
	s := &templateSender{}
	for i := 0; i < templateBodies; i++ {
		s.bodies = append(s.bodies, newBodyTemplate(g, now))
	}
	return s
}

// body returns the body of request reqIndex (records numbered from
// reqIndex × benchPerRequest), valid until the next call.
func (s *templateSender) body(reqID string, reqIndex int64) []byte {
	t := s.bodies[s.next]
	s.next = (s.next + 1) % len(s.bodies)
	return t.patch(reqID, time.Now(), reqIndex*benchPerRequest)
}

// seqTracker checks delivered sequence numbers: each seen once (more is a
// duplicate, allowed at least once), none missing.
type seqTracker struct {
	mu      sync.Mutex
	seen    []uint64 // bitmap
	dups    int64
	bad     int64 // lines without a sequence number, or out of range
	counted int64
}

func newSeqTracker(n int64) *seqTracker {
	return &seqTracker{seen: make([]uint64, (n+63)/64)}
}

// observe records line's sequence number; the caller holds t.mu.
func (t *seqTracker) observeLocked(line string) {
	n, ok := lineSeq(line)
	if !ok {
		n = -1
	}
	t.observeSeqLocked(n)
}

// observeSeqLocked records sequence number n (-1: a line without one); the
// caller holds t.mu.
func (t *seqTracker) observeSeqLocked(n int64) {
	if n < 0 || n/64 >= int64(len(t.seen)) {
		t.bad++
		return
	}
	w, bit := n/64, uint64(1)<<(n%64)
	if t.seen[w]&bit != 0 {
		t.dups++
		return
	}
	t.seen[w] |= bit
	t.counted++
}

// missing returns how many of the sequence numbers [0, n) were never seen,
// and the first of them.
func (t *seqTracker) missing(n int64) (int64, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var miss int64
	first := int64(-1)
	for i := int64(0); i < n; i++ {
		if t.seen[i/64]&(1<<(i%64)) == 0 {
			if first < 0 {
				first = i
			}
			miss++
		}
	}
	return miss, first
}

// TestTemplateBodies checks the templated sender's requests: the body is
// byte for byte what fh.Body makes of the same records, every record is a
// distinct line of the realistic shape (JSON lines parse, logfmt lines have
// their pairs) ending in its sequence number, and the receiver's check reads
// the numbers back.
func TestTemplateBodies(t *testing.T) {
	s := newTemplateSender(3)
	seqs := newSeqTracker(3 * benchPerRequest * templateBodies)
	lines := map[string]bool{}
	now := time.Now()
	for req := int64(0); req < 3*templateBodies; req++ {
		id := fh.NewRequestID()
		tmpl := s.bodies[s.next]
		body := s.body(id, req)
		var parsed struct {
			RequestID string `json:"requestId"`
			Timestamp int64  `json:"timestamp"`
			Records   []struct {
				Data []byte `json:"data"`
			} `json:"records"`
		}
		if err := json.Unmarshal(body, &parsed); err != nil {
			t.Fatalf("request %d: %v", req, err)
		}
		if parsed.RequestID != id || parsed.Timestamp < now.UnixMilli() || len(parsed.Records) != benchPerRequest || tmpl.entries != benchPerRequest {
			t.Fatalf("request %d: id %q ts %d, %d records", req, parsed.RequestID, parsed.Timestamp, len(parsed.Records))
		}
		recs := make([][]byte, len(parsed.Records))
		for i, r := range parsed.Records {
			recs[i] = r.Data
			line := string(r.Data)
			if lines[line] {
				t.Fatalf("request %d record %d: line repeated: %q", req, i, line)
			}
			lines[line] = true
			if n := len(line); n < benchLineSize-40 || n > benchLineSize+40 || line[n-1] != '\n' {
				t.Fatalf("request %d record %d: %d bytes %q", req, i, n, line)
			}
			if line[0] == '{' {
				var m map[string]any
				if err := json.Unmarshal(r.Data, &m); err != nil || m["msg"] != "request served" {
					t.Fatalf("request %d record %d: not the JSON line: %q: %v", req, i, line, err)
				}
			} else if !strings.HasPrefix(line, "ts=") || !strings.Contains(line, " level=") || !strings.Contains(line, " seq=") {
				t.Fatalf("request %d record %d: not the logfmt line: %q", req, i, line)
			}
			if n, ok := lineSeq(line); !ok || n != req*benchPerRequest+int64(i) {
				t.Fatalf("request %d record %d: sequence number %d %v in %q", req, i, n, ok, line)
			}
			seqs.observeLocked(line)
		}
		if want := fh.Body(id, time.UnixMilli(parsed.Timestamp), recs); !bytes.Equal(body, want) {
			t.Fatalf("request %d: body is not fh.Body's layout:\n%.300s\n%.300s", req, body, want)
		}
	}
	if miss, first := seqs.missing(3 * benchPerRequest * templateBodies); miss != 0 || seqs.dups != 0 || seqs.bad != 0 {
		t.Fatalf("missing %d (first %d), duplicates %d, bad %d", miss, first, seqs.dups, seqs.bad)
	}
	seqs.observeLocked(strings.Repeat("x", 20))
	seqs.observeLocked(`{"seq":"000000000007"}`)
	if miss, _ := seqs.missing(3*benchPerRequest*templateBodies + 1); miss != 1 || seqs.dups != 1 || seqs.bad != 1 {
		t.Fatalf("missing %d, duplicates %d, bad %d; want 1, 1, 1", miss, seqs.dups, seqs.bad)
	}
}
