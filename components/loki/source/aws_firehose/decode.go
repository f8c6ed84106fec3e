package awsfirehose

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"unsafe"

	kgzip "github.com/klauspost/compress/gzip"
)

// limits bound what one request may make flow hold in memory; the
// component's memBudget bounds all requests together.
type limits struct {
	// body is the largest request body, as read from the connection and
	// again after Content-Encoding gzip decoding (http > max_request_body_size).
	body int64
	// record is the largest record after base64 decoding (Firehose's own
	// limit is 1,000 KiB).
	record int
	// cloudWatch is the largest gzipped record after gunzipping.
	cloudWatch int64
	// decoded bounds all records of a request after base64 and gunzip
	// (http > max_request_decoded_size).
	decoded int64
}

var defaultLimits = limits{body: 64 << 20, record: 1 << 20, cloudWatch: 16 << 20, decoded: 64 << 20}

// requestError is a request flow refuses, with the status and message the
// Firehose response carries.
type requestError struct {
	status     int
	reason     string // metric label
	msg        string
	retryAfter bool // answer with Retry-After: the condition is temporary
}

func (e *requestError) Error() string { return e.msg }

func badRequest(reason, format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// cwPayload is a CloudWatch Logs subscription payload, as Firehose receives
// it gzipped in a record.
type cwPayload struct {
	MessageType         string    `json:"messageType"`
	Owner               string    `json:"owner"`
	LogGroup            string    `json:"logGroup"`
	LogStream           string    `json:"logStream"`
	SubscriptionFilters []string  `json:"subscriptionFilters"`
	LogEvents           []cwEvent `json:"logEvents"`
}

// cwEvent is one event of a payload. Its "id" is not decoded: nothing uses
// it, and each would cost a 56-byte string.
type cwEvent struct {
	Timestamp int64  `json:"timestamp"` // Unix milliseconds
	Message   string `json:"message"`
}

// record is one decoded Firehose record: a direct-PUT line, or a
// CloudWatch Logs payload.
type record struct {
	line  string     // direct PUT (while decoding, a gzipped record's raw bytes)
	cw    *cwPayload // CloudWatch Logs subscription
	gz    bool       // line holds gzip data still to decode
	index int        // position in the request, for error messages
	// gunzipped: the record was gzip data (records_received counts it as
	// Alloy does, "cloudwatch-logs", even when it is not a CloudWatch payload).
	gunzipped bool
}

// decodedRequest is a request body taken apart.
type decodedRequest struct {
	requestID string
	timestamp int64
	records   []record // the records that decoded, in order
	total     int      // records in the body, decoded or skipped
	skipped   []recordError
	bytes     int // decoded record bytes, for metrics
}

// recordError is a record skipped because it does not decode, as Alloy
// skips it: the rest of the request is still delivered and answered 200.
// reason is the record_errors metric's label, Alloy's where Alloy has one.
type recordError struct {
	reason string
	err    error
}

// Reasons of record_errors: Alloy's names, and record-too-large for flow's
// per-record bounds (docs/security.md).
const (
	reasonBase64      = "base64-decode"
	reasonGzip        = "gzip-deflate"
	reasonGzipHeader  = "unknown" // Alloy's label for a bad gzip header
	reasonCWJSON      = "cw-json-decode"
	reasonRecordLarge = "record-too-large"
)

// Origins of records_received, Alloy's names: gzipped records are taken
// for CloudWatch Logs payloads.
const (
	originDirectPut  = "direct-put"
	originCloudWatch = "cloudwatch-logs"
)

// initialBuffer is the most a buffer holds before bytes arrive: a body's
// Content-Length is only an upper bound of what may come.
const initialBuffer = 64 << 10

// errOverLimit is readAll's answer when r yields more than max bytes.
var errOverLimit = errors.New("over the limit")

// readAll reads r to EOF into a buffer that grows as bytes arrive: it starts
// at initialBuffer at most and doubles (or grows at once to known when that
// is at most 4 times what arrived), never beyond max+1 bytes (the extra byte
// tells an over-long input). It reserves each capacity from acct before
// allocating it. known is an upper bound of what r yields
// (Content-Length of an identity body, which net/http enforces), or -1. The
// buffer returned is charged to acct at its capacity; the caller releases it.
// A non-empty spare (a pooled buffer) is read into first, and charged at its
// capacity. Between reads it stops with acct.check's answer once the
// request's deadline has passed.
func readAll(r io.Reader, max, known int64, acct *account, spare []byte) ([]byte, error) {
	limit := max + 1
	if known >= 0 && known < max {
		limit = known + 1 // the extra byte lets the last Read report EOF without growing
	}
	var buf []byte
	if cap(spare) > 0 {
		if rerr := acct.reserve(int64(cap(spare))); rerr != nil {
			return nil, rerr
		}
		buf = spare[:0]
	} else {
		size := min(int64(initialBuffer), limit)
		if rerr := acct.reserve(size); rerr != nil {
			return nil, rerr
		}
		buf = make([]byte, 0, size)
	}
	for {
		if rerr := acct.check(); rerr != nil {
			return buf, rerr
		}
		if len(buf) == cap(buf) {
			if int64(len(buf)) > max {
				return buf, errOverLimit
			}
			if int64(cap(buf)) >= limit {
				limit = max + 1 // r yields more than known said it would
			}
			newCap := min(2*int64(cap(buf)), limit)
			if known >= 0 && limit <= 4*int64(cap(buf)) {
				// An honest Content-Length is the usual case: go straight
				// to it when it is within two doublings of what arrived.
				newCap = limit
			}
			if rerr := acct.reserve(newCap); rerr != nil {
				return buf, rerr
			}
			nb := make([]byte, len(buf), newCap)
			copy(nb, buf)
			acct.release(int64(cap(buf)))
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if int64(len(buf)) > max {
				return buf, errOverLimit
			}
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// bodyBuffers recycles request bodies: nothing points into a body once it
// is decoded (records are decoded into an arena of their own), and reading
// every body into a new buffer cost a zeroed allocation of its size per
// request. What it keeps is outside the memory budget (max_inflight_size),
// so it is bounded: maxPooledBodies buffers of maxPooledBody bytes at most
// (8 MiB), bodies larger than that are left to the GC.
var bodyBuffers = make(chan []byte, maxPooledBodies)

const (
	maxPooledBodies = 8
	maxPooledBody   = 1 << 20
)

func getBodyBuffer() []byte {
	noteBodyBufferUse() // bodypool.go: the pool empties itself when idle
	select {
	case b := <-bodyBuffers:
		return b
	default:
		return nil
	}
}

// bodyBufferFor returns a pooled buffer for a body of known bytes at most
// (-1: unknown), or nil. A buffer is charged to the budget at its capacity,
// so one more than twice the size needed is put back, not used.
func bodyBufferFor(known int64) []byte {
	b := getBodyBuffer()
	if known >= 0 && (int64(cap(b)) <= known || int64(cap(b)) > 2*(known+1)) {
		putBodyBuffer(b)
		return nil
	}
	return b
}

// putBodyBuffer recycles a body returned by readBody once nothing points
// into it.
func putBodyBuffer(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBody {
		return
	}
	select {
	case bodyBuffers <- b[:0]:
	default:
	}
}

// gzipReaders are reused: a gzip reader's window and tables are most of
// the cost of a small gzipped record.
var gzipReaders sync.Pool

// emptyGzip is a gzip stream of nothing, which a reader is reset to before
// it goes back to the pool: a pooled reader must not keep the request it
// read (a record's reader would keep the whole request's arena) alive. It
// is what compress/gzip writes for nothing (TestEmptyGzip), spelled out:
// making it at start allocated a compressor's 800 KB.
var emptyGzip = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}

func putGzipReader(zr *gzip.Reader) {
	if zr.Reset(bytes.NewReader(emptyGzip)) == nil {
		gzipReaders.Put(zr)
	}
}

// recordReaders are the gzip readers of gzipped records (CloudWatch Logs
// payloads): klauspost's inflate, API-compatible with compress/gzip, decodes
// these few-KB streams, each with its own Huffman tables, 2-4 times as fast
// (BenchmarkHandleCloudWatch). Request bodies (Content-Encoding: gzip) keep
// compress/gzip: their cost is the bytes, and a faster inflate only makes a
// gzip bomb reach its limit sooner (TestAttackMixFlowBinary's peak RSS).
var recordReaders sync.Pool

func putRecordReader(zr *kgzip.Reader) {
	if zr.Reset(bytes.NewReader(emptyGzip)) == nil {
		recordReaders.Put(zr)
	}
}

func getGzipReader(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := gzipReaders.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			putGzipReader(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}

// readBody reads the request body, gunzipping it when Content-Encoding says
// so, refusing more than l.body bytes either way (a gzip bomb stops at the
// limit). Memory grows with the bytes that arrive and is reserved from acct
// first; the body returned is charged at its capacity.
func readBody(r io.Reader, contentEncoding string, contentLength int64, l *limits, acct *account) ([]byte, *requestError) {
	tooLarge := &requestError{status: http.StatusRequestEntityTooLarge, reason: "too_large",
		msg: fmt.Sprintf("request body exceeds max_request_body_size (%d bytes); lower the Firehose buffer size", l.body)}
	known := int64(-1)
	identity := false
	switch strings.ToLower(strings.TrimSpace(contentEncoding)) {
	case "", "identity":
		identity = true
		if contentLength >= 0 {
			known = contentLength
		}
	case "gzip":
		if rerr := acct.reserve(gzipReaderSize); rerr != nil {
			return nil, rerr
		}
		defer acct.release(gzipReaderSize)
		zr, err := getGzipReader(io.LimitReader(r, l.body+1))
		if err != nil {
			if isTimeout(err) {
				return nil, bodyTimeout()
			}
			return nil, badRequest("pre_read", "Content-Encoding is gzip but the body is not gzip data: %v", err)
		}
		defer putGzipReader(zr)
		r = zr
	default:
		return nil, &requestError{status: http.StatusUnsupportedMediaType, reason: "bad_encoding",
			msg: fmt.Sprintf("unsupported Content-Encoding %q; Firehose sends gzip or nothing", contentEncoding)}
	}
	buf, err := readAll(r, l.body, known, acct, bodyBufferFor(known))
	if err == nil {
		return buf, nil
	}
	acct.release(int64(cap(buf)))
	var rerr *requestError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &rerr) && identity && rerr.reason == reasonDecodeTimeout:
		// The deadline passed while the body was still arriving, which
		// costs no CPU: the client is slow, as with server_read_timeout
		// (which comes first when it is the shorter).
		return nil, &requestError{status: http.StatusRequestTimeout, reason: "timeout",
			msg: "the request body did not arrive in time to be answered within server_write_timeout"}
	case errors.As(err, &rerr):
		return nil, rerr
	case errors.Is(err, errOverLimit), errors.As(err, &mbe):
		return nil, tooLarge
	case isTimeout(err):
		return nil, bodyTimeout()
	case errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, badRequest("read_or_format", "the gzip-encoded body is corrupt or truncated: %v", err)
	}
	return nil, &requestError{status: http.StatusBadRequest, reason: "read_or_format", msg: fmt.Sprintf("reading the request body: %v", err)}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func bodyTimeout() *requestError {
	return &requestError{status: http.StatusRequestTimeout, reason: "timeout",
		msg: "the request body did not arrive within server_read_timeout"}
}

// gzipMagic starts every gzip stream (with the deflate method), which is how
// CloudWatch Logs payloads are told from direct-PUT records.
var gzipMagic = []byte{0x1f, 0x8b, 0x08}

// decodeBody parses a Firehose request body. A body that is not Firehose's
// JSON fails the request with 400; a record that does not decode (bad base64
// or gzip, a CloudWatch payload that is not JSON, a record over the
// per-record bounds) is skipped and listed in skipped, as Alloy does, so that
// one bad record does not make Firehose retry (and finally back up to S3) the
// whole batch. Request-wide bounds still refuse the request (413, 503). What
// it builds is reserved from acct as it goes.
func decodeBody(body []byte, l *limits, acct *account) (*decodedRequest, *requestError) {
	// Every record decodes into one arena that then backs the lines of the
	// whole request: one allocation rather than one or two per record. The
	// body bounds the base64 of all records, so the arena is sized from bytes
	// that arrived, not from anything a client declared.
	arenaSize := int64(base64.StdEncoding.DecodedLen(len(body)))
	if rerr := acct.reserve(arenaSize); rerr != nil {
		return nil, rerr
	}
	d := recordDecoder{l: l, acct: acct, arena: make([]byte, 0, arenaSize)}
	defer d.close()

	out := &decodedRequest{}
	if id, ts, ok := parseFast(body, d.add); ok {
		out.requestID, out.timestamp = string(id), ts
	} else if d.err != nil {
		return nil, d.err
	} else {
		d.reset()
		id, ts, rerr := d.decodeSlow(body)
		if rerr != nil {
			return nil, rerr
		}
		out.requestID, out.timestamp = id, ts
	}

	direct := false
	zr := (*kgzip.Reader)(nil)
	gz := false
	var cw cwArena
	kept := d.records[:0]
	for i := range d.records {
		rec := d.records[i]
		if !rec.gz {
			direct = true
			kept = append(kept, rec)
			continue
		}
		if !gz {
			// Whichever inflater decodes the records (see decodeGzipRecord).
			if rerr := acct.reserve(gzipReaderSize); rerr != nil {
				return nil, rerr
			}
			gz = true
		}
		var skip *recordError
		var rerr *requestError
		if rec, zr, skip, rerr = decodeGzipRecord(rec.index, rec.line, zr, l, acct, &cw); rerr != nil {
			if zr != nil {
				putRecordReader(zr)
			}
			return nil, rerr
		}
		if skip != nil {
			d.skipped = append(d.skipped, *skip)
			continue
		}
		if rec.cw == nil {
			direct = true
		}
		kept = append(kept, rec)
	}
	clear(d.records[len(kept):])
	d.records = kept
	if zr != nil {
		putRecordReader(zr)
	}
	if gz {
		acct.release(gzipReaderSize)
	}
	if !direct {
		// No line points into the arena: it is garbage now.
		acct.release(int64(cap(d.arena)))
		d.arena = nil
	}
	out.records, out.bytes, out.total, out.skipped = d.records, int(acct.decoded), d.seen, d.skipped
	d.records = nil
	return out, nil
}

// recordDecoder decodes records into its arena as the parser finds them.
type recordDecoder struct {
	l       *limits
	acct    *account
	arena   []byte
	records []record
	seen    int // records found, decoded or skipped
	skipped []recordError
	err     *requestError
	decoded int64 // acct.decoded when decoding started
}

// skip records that record i was skipped.
func (d *recordDecoder) skip(reason, format string, args ...any) {
	d.skipped = append(d.skipped, recordError{reason: reason, err: fmt.Errorf(format, args...)})
}

// add decodes one record's base64 data; a record that does not decode is
// skipped. false stops the parser, with d.err set when the request must be
// refused.
func (d *recordDecoder) add(data []byte) bool {
	if d.err = d.acct.check(); d.err != nil {
		return false
	}
	i := d.seen
	d.seen++
	n := base64.StdEncoding.DecodedLen(len(data))
	if n > d.l.record+3 {
		d.skip(reasonRecordLarge, "record %d is larger than the %d bytes a Firehose record may have", i, d.l.record)
		return true
	}
	pos := len(d.arena)
	if cap(d.arena)-pos < n {
		// Cannot happen: the arena is sized for the whole body.
		d.err = badRequest("read_or_format", "record %d does not fit in the request body", i)
		return false
	}
	m, err := base64.StdEncoding.Decode(d.arena[pos:pos+n], data)
	if err != nil {
		d.skip(reasonBase64, "record %d: data is not valid base64: %v", i, err)
		return true
	}
	if m > d.l.record {
		d.skip(reasonRecordLarge, "record %d is %d bytes, more than the %d a Firehose record may have", i, m, d.l.record)
		return true
	}
	d.arena = d.arena[:pos+m]
	raw := d.arena[pos : pos+m]
	// The arena is never written again where it is filled, so records may
	// share it as strings.
	rec := record{index: i}
	if bytes.HasPrefix(raw, gzipMagic) {
		rec.line, rec.gz = unsafe.String(&raw[0], m), true
	} else {
		if d.err = d.acct.decode(int64(m)); d.err != nil {
			return false
		}
		if m > 0 {
			rec.line = trimNewline(unsafe.String(&raw[0], m))
		}
	}
	if len(d.records) == cap(d.records) {
		newCap := max(64, 2*cap(d.records))
		if d.err = d.acct.reserve(int64(newCap) * recordSize); d.err != nil {
			return false
		}
		nr := make([]record, len(d.records), newCap)
		copy(nr, d.records)
		d.acct.release(int64(cap(d.records)) * recordSize)
		d.records = nr
	}
	d.records = append(d.records, rec)
	return true
}

// reset drops what the fast parser decoded before it declined.
func (d *recordDecoder) reset() {
	clear(d.records)
	d.records = d.records[:0]
	d.seen, d.skipped = 0, nil
	d.arena = d.arena[:0]
	d.acct.decoded = d.decoded
}

// close releases the record slice's charge when decoding failed.
func (d *recordDecoder) close() {
	if d.records != nil {
		d.acct.release(int64(cap(d.records)) * recordSize)
	}
}

// slowPathFactor is what decodeSlow reserves, in multiples of the body: the
// records array copied raw, the decoder's buffer (up to twice the largest
// record's JSON) and that record's data as a string.
const slowPathFactor = 4

// decodeSlow decodes what parseFast declines with encoding/json, which
// decides what is valid and explains what is not. The records array is
// kept raw and decoded one record at a time, so that each record goes
// through add (and its reservations) as the fast path's do.
func (d *recordDecoder) decodeSlow(body []byte) (string, int64, *requestError) {
	reserved := slowPathFactor * int64(len(body))
	if rerr := d.acct.reserve(reserved); rerr != nil {
		return "", 0, rerr
	}
	defer d.acct.release(reserved)
	var wr struct {
		RequestID string          `json:"requestId"`
		Timestamp int64           `json:"timestamp"` // Unix milliseconds
		Records   json.RawMessage `json:"records"`
	}
	notFirehose := func(err error) *requestError {
		return badRequest("read_or_format", "request body is not the JSON Firehose sends ({requestId, timestamp, records: [{data}]}): %v", err)
	}
	if err := json.Unmarshal(body, &wr); err != nil {
		return "", 0, notFirehose(err)
	}
	if len(wr.Records) == 0 {
		return wr.RequestID, wr.Timestamp, nil
	}
	dec := json.NewDecoder(bytes.NewReader(wr.Records))
	tok, err := dec.Token()
	if err != nil {
		return "", 0, notFirehose(err)
	}
	if tok == nil { // "records": null
		return wr.RequestID, wr.Timestamp, nil
	}
	if tok != json.Delim('[') {
		return "", 0, notFirehose(errors.New("records is not an array"))
	}
	for dec.More() {
		var r struct {
			Data string `json:"data"`
		}
		if err := dec.Decode(&r); err != nil {
			return "", 0, notFirehose(err)
		}
		var data []byte
		if r.Data != "" {
			data = unsafe.Slice(unsafe.StringData(r.Data), len(r.Data)) // read only
		}
		if !d.add(data) {
			return "", 0, d.err
		}
	}
	return wr.RequestID, wr.Timestamp, nil
}

// cwArena is where the CloudWatch Logs payloads of one request decode to,
// so that a payload costs no allocation of its own: each is gunzipped into
// scratch, reused record after record, and parsed from there into chunks
// that the entries then point into: strings (messages unescaped), events
// and payload structs. What a chunk hands out is never written again (a
// full chunk is left to what points into it and a new one is taken), so
// it may be shared as strings and outlive the request. Each chunk is
// charged to the request when it is allocated.
type cwArena struct {
	scratch  []byte
	strs     []byte
	events   []cwEvent
	payloads []cwPayload
}

// Chunk sizes of cwArena: a request of 50 payloads of 10 events of ~250
// bytes (a Firehose buffer of 128 KiB compressed) fits one of each.
const (
	cwStringsChunk  = 128 << 10
	cwEventsChunk   = 512
	cwPayloadsChunk = 64
	// maxScratch is the largest scratch kept for the next record.
	maxScratch = 1 << 20
)

var payloadSize = int64(unsafe.Sizeof(cwPayload{}))

// payload returns a new payload struct from the arena.
func (a *cwArena) payload(acct *account) (*cwPayload, *requestError) {
	if len(a.payloads) == cap(a.payloads) {
		if rerr := acct.reserve(cwPayloadsChunk * payloadSize); rerr != nil {
			return nil, rerr
		}
		a.payloads = make([]cwPayload, 0, cwPayloadsChunk)
	}
	a.payloads = a.payloads[:len(a.payloads)+1]
	return &a.payloads[len(a.payloads)-1], nil
}

// room makes sure the strings and events chunks have room for n bytes of
// strings and events events.
func (a *cwArena) room(n, events int, acct *account) *requestError {
	if cap(a.strs)-len(a.strs) < n {
		size := max(cwStringsChunk, n)
		if rerr := acct.reserve(int64(size)); rerr != nil {
			return rerr
		}
		a.strs = make([]byte, 0, size)
	}
	if cap(a.events)-len(a.events) < events {
		size := max(cwEventsChunk, events)
		if rerr := acct.reserve(int64(size) * eventSize); rerr != nil {
			return rerr
		}
		a.events = make([]cwEvent, 0, size)
	}
	return nil
}

// decodeGzipRecord gunzips a record with zr (nil: a new reader, returned for
// reuse) into cw's scratch. A CloudWatch Logs payload is parsed into cw;
// any other gzipped data is taken as a direct-PUT line of its own. A record
// that does not decode is skipped (skip); a request-wide bound refuses the
// request (rerr). Decompressed bytes count against max_request_decoded_size
// as they are produced, and what the payload becomes is reserved from acct
// before it is built.
func decodeGzipRecord(i int, raw string, zr *kgzip.Reader, l *limits, acct *account, cw *cwArena) (rec record, _ *kgzip.Reader, skip *recordError, rerr *requestError) {
	limit := min(l.cloudWatch, l.decoded-acct.decoded)
	hint := gzipSizeHint(raw, limit)
	spare := cw.scratch
	if hint >= 0 && int64(cap(spare)) < hint {
		spare = nil
	}
	var buf []byte
	kept := false // the payload's strings point into buf, which stays charged
	defer func() {
		if kept {
			return
		}
		// Nothing points into the scratch once the record is decoded.
		acct.release(int64(cap(buf)))
		if cap(buf) <= maxScratch && cap(buf) > cap(cw.scratch) {
			cw.scratch = buf[:0]
		}
	}()
	// gunzip decodes the record into buf: with gunzipFast when the
	// trailer's size is right (but for a broken or unusual stream, or one
	// compressed more than maxGzipHintRatio times, which it declines), else
	// with the streaming reader, which decides and explains.
	gunzip := func() (*recordError, *requestError) {
		if hint >= 0 {
			if spare == nil {
				// With room for gunzipFast's last match copies: without
				// it, the end of the output is decoded by its careful loop.
				if rerr := acct.reserve(hint + fastMatchRoom); rerr != nil {
					return nil, rerr
				}
				buf = make([]byte, 0, hint+fastMatchRoom)
			} else {
				if rerr := acct.reserve(int64(cap(spare))); rerr != nil {
					return nil, rerr
				}
				buf = spare[:0]
			}
			var ok bool
			if buf, ok = gunzipFast(buf, unsafe.Slice(unsafe.StringData(raw), len(raw))); ok {
				return nil, acct.decode(int64(len(buf)))
			}
			acct.release(int64(cap(buf)))
			spare, buf = buf, nil
		}
		src := strings.NewReader(raw)
		var err error
		if zr == nil {
			if zr, _ = recordReaders.Get().(*kgzip.Reader); zr == nil {
				zr, err = kgzip.NewReader(src)
			} else {
				err = zr.Reset(src)
			}
		} else {
			err = zr.Reset(src)
		}
		if err != nil {
			return &recordError{reason: reasonGzipHeader, err: fmt.Errorf("record %d: looks gzipped but is not: %v", i, err)}, nil
		}
		buf, err = readAll(zr, limit, hint, acct, spare)
		var rerr *requestError
		switch {
		case err == nil:
			return nil, acct.decode(int64(len(buf)))
		case errors.As(err, &rerr):
			return nil, rerr
		case errors.Is(err, errOverLimit) && limit == l.cloudWatch:
			return &recordError{reason: reasonRecordLarge, err: fmt.Errorf("record %d decompresses to more than %d bytes", i, l.cloudWatch)}, nil
		case errors.Is(err, errOverLimit):
			return nil, acct.decode(int64(len(buf)))
		default:
			return &recordError{reason: reasonGzip, err: fmt.Errorf("record %d: corrupt gzip data: %v", i, err)}, nil
		}
	}
	if skip, rerr = gunzip(); skip != nil || rerr != nil {
		return record{}, zr, skip, rerr
	}
	rec, skip, rerr, kept = decodePayload(i, buf, acct, cw)
	if kept && rec.cw == nil && skip == nil && rerr == nil {
		// Parsed in place and declined, buf is no longer the payload:
		// gunzip it again for encoding/json (it decoded the first time).
		acct.release(int64(cap(buf)))
		acct.decoded -= int64(len(buf))
		kept, buf, spare = false, nil, nil
		if skip, rerr = gunzip(); skip != nil || rerr != nil {
			return record{}, zr, skip, rerr
		}
		rec, skip, rerr = decodeJSONPayload(i, buf, acct, cw)
	}
	return rec, zr, skip, rerr
}

// decodePayload parses a gunzipped record (see decodeGzipRecord) from data,
// which the caller may reuse afterwards, unless inPlace: a CloudWatch
// Logs payload larger than maxScratch is parsed in place (its strings then
// point into data, which must be kept) rather than copied, so that it is
// not held twice. Parsed in place and declined (inPlace true, no record,
// no error), data is no longer the payload: the caller gunzips it again
// for decodeJSONPayload.
func decodePayload(i int, data []byte, acct *account, cw *cwArena) (rec record, skip *recordError, rerr *requestError, inPlace bool) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' || !bytes.Contains(data, []byte(`"messageType"`)) {
		if rerr := acct.reserve(int64(len(data))); rerr != nil {
			return record{}, nil, rerr, false
		}
		return record{line: trimNewline(string(data)), index: i, gunzipped: true}, nil, nil, false
	}
	// The payload's strings are no longer than its JSON, and each event
	// is an object (the payload's own is one of the '{').
	events := bytes.Count(data, []byte{'{'}) - 1
	inPlace = len(data) > maxScratch
	strs := 0
	if !inPlace {
		strs = len(data)
	}
	if rerr := cw.room(strs, events, acct); rerr != nil {
		return record{}, nil, rerr, false
	}
	if rerr := acct.reserve(cwRecordOverhead); rerr != nil {
		return record{}, nil, rerr, false
	}
	p, rerr := cw.payload(acct)
	if rerr != nil {
		return record{}, nil, rerr, false
	}
	out := cw.strs
	if inPlace {
		// Each byte written comes from one at or after it.
		out = data[:0]
	}
	n := len(cw.events)
	if strs, ok := parseCloudWatchFast(data, p, out, cw.events[n:n]); ok {
		if !inPlace {
			cw.strs = strs
		}
		p.LogEvents = p.LogEvents[:len(p.LogEvents):len(p.LogEvents)]
		cw.events = cw.events[:n+len(p.LogEvents)]
		return record{cw: p, index: i, gunzipped: true}, nil, nil, inPlace
	}
	*p = cwPayload{}
	if inPlace {
		return record{}, nil, nil, true
	}
	rec, skip, rerr = decodeJSONPayload(i, data, acct, cw)
	return rec, skip, rerr, false
}

// decodeJSONPayload decodes a CloudWatch Logs payload with encoding/json,
// which decides what is valid and explains what is not.
func decodeJSONPayload(i int, data []byte, acct *account, cw *cwArena) (record, *recordError, *requestError) {
	// encoding/json makes strings of its own: reserve them and twice the
	// events (its slice grows by doubling).
	extra := int64(len(data)) + 2*int64(bytes.Count(data, []byte{'{'}))*eventSize + cwRecordOverhead
	if rerr := acct.reserve(extra); rerr != nil {
		return record{}, nil, rerr
	}
	p, rerr := cw.payload(acct)
	if rerr != nil {
		return record{}, nil, rerr
	}
	if err := json.Unmarshal(data, p); err != nil {
		*p = cwPayload{}
		return record{}, &recordError{reason: reasonCWJSON, err: fmt.Errorf("record %d: CloudWatch Logs payload is not valid JSON: %v", i, err)}, nil
	}
	return record{cw: p, index: i, gunzipped: true}, nil, nil
}

// maxGzipHintRatio bounds gzipSizeHint relative to the compressed size.
const maxGzipHintRatio = 32

// gzipSizeHint is what a gzip member says it decompresses to (ISIZE, its
// last 4 bytes), within limit, so that its buffer is allocated once at the
// right size rather than grown from initialBuffer; -1 when there is none.
// A wrong ISIZE (or several members) only costs readAll a regrowth.
func gzipSizeHint(raw string, limit int64) int64 {
	if len(raw) < 18 { // header (10) + trailer (8)
		return -1
	}
	t := raw[len(raw)-4:]
	n := int64(uint32(t[0]) | uint32(t[1])<<8 | uint32(t[2])<<16 | uint32(t[3])<<24)
	// A tiny record claiming megabytes must not cost a large allocation
	// before anything decompresses: trust ISIZE up to maxGzipHintRatio
	// times the compressed size (text compresses 5-20 times).
	return min(n, limit, maxGzipHintRatio*int64(len(raw)))
}

// trimNewline drops the one newline producers usually end a record with:
// it delimits records and is not part of the log line.
func trimNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}
