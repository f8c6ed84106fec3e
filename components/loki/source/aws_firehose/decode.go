package awsfirehose

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unsafe"
)

// Limits bound what one request may make flow hold in memory.
type limits struct {
	// body is the largest request body, after gzip decoding if any.
	body int64
	// record is the largest record after base64 decoding (Firehose's own
	// limit is 1,000 KiB).
	record int
	// cloudWatch is the largest CloudWatch Logs payload after gunzipping.
	cloudWatch int64
}

var defaultLimits = limits{body: 64 << 20, record: 1 << 20, cloudWatch: 16 << 20}

// requestError is a request flow refuses, with the status and message the
// Firehose response carries.
type requestError struct {
	status int
	reason string // metric label
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(reason, format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// wireRequest is the JSON body AWS specifies for HTTP endpoint delivery.
type wireRequest struct {
	RequestID string `json:"requestId"`
	Timestamp int64  `json:"timestamp"` // Unix milliseconds
	Records   []struct {
		Data string `json:"data"`
	} `json:"records"`
}

// cwPayload is a CloudWatch Logs subscription payload, as Firehose receives
// it gzipped in a record.
type cwPayload struct {
	MessageType         string   `json:"messageType"`
	Owner               string   `json:"owner"`
	LogGroup            string   `json:"logGroup"`
	LogStream           string   `json:"logStream"`
	SubscriptionFilters []string `json:"subscriptionFilters"`
	LogEvents           []struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"` // Unix milliseconds
		Message   string `json:"message"`
	} `json:"logEvents"`
}

// record is one decoded Firehose record: a direct-PUT line, or a
// CloudWatch Logs payload.
type record struct {
	line string     // direct PUT
	cw   *cwPayload // CloudWatch Logs subscription
}

// decodedRequest is a request body taken apart.
type decodedRequest struct {
	requestID string
	timestamp int64
	records   []record
	bytes     int // decoded record bytes, for metrics
}

// readBody reads the request body, gunzipping it when Content-Encoding says
// so, refusing more than l.body bytes either way (a gzip bomb stops at the
// limit).
func readBody(r io.Reader, contentEncoding string, sizeHint int64, l limits) ([]byte, *requestError) {
	tooLarge := &requestError{status: http.StatusRequestEntityTooLarge, reason: "too_large",
		msg: fmt.Sprintf("request body exceeds max_request_body_size (%d bytes); lower the Firehose buffer size", l.body)}
	switch strings.ToLower(strings.TrimSpace(contentEncoding)) {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(io.LimitReader(r, l.body+1))
		if err != nil {
			return nil, badRequest("bad_gzip", "Content-Encoding is gzip but the body is not gzip data: %v", err)
		}
		r = zr
	default:
		return nil, &requestError{status: http.StatusUnsupportedMediaType, reason: "bad_encoding",
			msg: fmt.Sprintf("unsupported Content-Encoding %q; Firehose sends gzip or nothing", contentEncoding)}
	}
	var buf bytes.Buffer
	if sizeHint > 0 && sizeHint <= l.body {
		// Content-Length (of the possibly compressed body): read without
		// regrowing the buffer in the common, uncompressed case.
		buf.Grow(int(sizeHint) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(r, l.body+1))
	if n > l.body {
		return nil, tooLarge
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, badRequest("bad_gzip", "the gzip-encoded body is corrupt or truncated: %v", err)
		}
		return nil, &requestError{status: http.StatusBadRequest, reason: "read_error", msg: fmt.Sprintf("reading the request body: %v", err)}
	}
	return buf.Bytes(), nil
}

// gzipMagic starts every gzip stream (with the deflate method), which is how
// CloudWatch Logs payloads are told from direct-PUT records.
var gzipMagic = []byte{0x1f, 0x8b, 0x08}

// decodeBody parses a Firehose request body. Any malformed part fails the
// whole request with 400, so that Firehose keeps it (retrying, then backing it
// up to S3) rather than flow silently losing part of it.
func decodeBody(body []byte, l limits) (*decodedRequest, *requestError) {
	out := &decodedRequest{}
	var datas [][]byte
	if id, ts, recs, ok := parseFast(body); ok {
		out.requestID, out.timestamp, datas = string(id), ts, recs
	} else {
		var wr wireRequest
		if err := json.Unmarshal(body, &wr); err != nil {
			return nil, badRequest("bad_json", "request body is not the JSON Firehose sends ({requestId, timestamp, records: [{data}]}): %v", err)
		}
		out.requestID, out.timestamp = wr.RequestID, wr.Timestamp
		datas = make([][]byte, len(wr.Records))
		for i, r := range wr.Records {
			datas[i] = []byte(r.Data)
		}
	}
	out.records = make([]record, 0, len(datas))

	// Decode every record into one buffer that then backs the lines of the
	// whole request: one allocation rather than one or two per record.
	total := 0
	for i, d := range datas {
		n := base64.StdEncoding.DecodedLen(len(d))
		if n > l.record+3 {
			return nil, badRequest("record_too_large", "record %d is larger than the %d bytes a Firehose record may have", i, l.record)
		}
		total += n
	}
	arena := make([]byte, total)
	type span struct{ from, to int }
	spans := make([]span, len(datas))
	pos := 0
	for i, d := range datas {
		n, err := base64.StdEncoding.Decode(arena[pos:], d)
		if err != nil {
			return nil, badRequest("bad_base64", "record %d: data is not valid base64: %v", i, err)
		}
		if n > l.record {
			return nil, badRequest("record_too_large", "record %d is %d bytes, more than the %d a Firehose record may have", i, n, l.record)
		}
		spans[i] = span{pos, pos + n}
		pos += n
	}
	out.bytes = pos
	// arena is never written again, so the lines may share it as a string.
	var text string
	if pos > 0 {
		text = unsafe.String(&arena[0], pos)
	}
	for i, sp := range spans {
		raw := arena[sp.from:sp.to]
		if !bytes.HasPrefix(raw, gzipMagic) {
			out.records = append(out.records, record{line: trimNewline(text[sp.from:sp.to])})
			continue
		}
		rec, rerr := decodeGzipRecord(i, raw, l)
		if rerr != nil {
			return nil, rerr
		}
		out.records = append(out.records, rec)
	}
	return out, nil
}

// decodeGzipRecord gunzips a record. A CloudWatch Logs payload is parsed;
// any other gzipped data is taken as a direct-PUT line of its own.
func decodeGzipRecord(i int, raw []byte, l limits) (record, *requestError) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return record{}, badRequest("bad_gzip", "record %d: looks gzipped but is not: %v", i, err)
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(zr, l.cloudWatch+1))
	if n > l.cloudWatch {
		return record{}, badRequest("record_too_large", "record %d decompresses to more than %d bytes", i, l.cloudWatch)
	}
	if err != nil {
		return record{}, badRequest("bad_gzip", "record %d: corrupt gzip data: %v", i, err)
	}
	data := buf.Bytes()
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' && bytes.Contains(data, []byte(`"messageType"`)) {
		var p cwPayload
		if err := json.Unmarshal(data, &p); err != nil {
			return record{}, badRequest("bad_cloudwatch", "record %d: CloudWatch Logs payload is not valid JSON: %v", i, err)
		}
		if p.MessageType != "DATA_MESSAGE" && p.MessageType != "CONTROL_MESSAGE" {
			return record{}, badRequest("bad_cloudwatch", "record %d: unknown CloudWatch Logs messageType %q", i, p.MessageType)
		}
		return record{cw: &p}, nil
	}
	return record{line: trimNewline(string(data))}, nil
}

// trimNewline drops the one newline producers usually end a record with:
// it delimits records and is not part of the log line.
func trimNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}
