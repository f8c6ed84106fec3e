// Package firehosetest is a client of the Amazon Data Firehose "HTTP
// endpoint delivery" protocol, written from AWS's request and response
// specification, for tests and benchmarks: it sends records as Firehose
// does (JSON body of base64 records, optional gzip, the X-Amz-Firehose-*
// headers) and checks that answers follow the specification. It also builds
// the gzipped CloudWatch Logs subscription payloads Firehose carries.
package firehosetest

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Sender sends Firehose delivery requests to one URL.
type Sender struct {
	URL       string
	AccessKey string
	// SourceARN is the delivery stream's ARN, sent in X-Amz-Firehose-Source-Arn.
	SourceARN string
	// Gzip compresses request bodies (Content-Encoding: gzip), as a stream
	// with "GZIP content encoding" enabled does.
	Gzip bool
	// CommonAttributes become the X-Amz-Firehose-Common-Attributes header.
	CommonAttributes map[string]string
	// Tenant, when set, is sent as X-Scope-OrgID (as a proxy would add it).
	Tenant string
	Client *http.Client
}

// Response is the answer to one request, as the specification defines it.
type Response struct {
	Status       int
	RequestID    string `json:"requestId"`
	Timestamp    int64  `json:"timestamp"`
	ErrorMessage string `json:"errorMessage"`
	// RetryAfter is the answer's Retry-After header, if any.
	RetryAfter string `json:"-"`
}

// Send delivers records (raw bytes; the sender base64-encodes them) in one
// request with a new request ID, and checks the answer's format.
func (s *Sender) Send(records [][]byte) (Response, error) {
	return s.SendWithID(NewRequestID(), records)
}

// SendWithID is Send with a given request ID; Firehose keeps the ID when it
// retries a request.
func (s *Sender) SendWithID(requestID string, records [][]byte) (Response, error) {
	body := Body(requestID, time.Now(), records)
	return s.Post(requestID, body)
}

// Body builds the JSON body of a request.
func Body(requestID string, ts time.Time, records [][]byte) []byte {
	var b bytes.Buffer
	b.Grow(64 + len(records)*(base64.StdEncoding.EncodedLen(200)+12))
	fmt.Fprintf(&b, `{"requestId":%q,"timestamp":%d,"records":[`, requestID, ts.UnixMilli())
	enc := make([]byte, 0, 512)
	for i, r := range records {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"data":"`)
		n := base64.StdEncoding.EncodedLen(len(r))
		if cap(enc) < n {
			enc = make([]byte, n)
		}
		enc = enc[:n]
		base64.StdEncoding.Encode(enc, r)
		b.Write(enc)
		b.WriteString(`"}`)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// Post sends a prepared body (possibly malformed, for tests) with the
// sender's headers.
func (s *Sender) Post(requestID string, body []byte) (Response, error) {
	if s.Gzip {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(body)
		zw.Close()
		body = zb.Bytes()
	}
	h := Headers{SourceARN: s.SourceARN, AccessKey: s.AccessKey, Gzip: s.Gzip, Tenant: s.Tenant}
	if len(s.CommonAttributes) > 0 {
		a, _ := json.Marshal(map[string]any{"commonAttributes": s.CommonAttributes})
		h.CommonAttributes = string(a)
	}
	return Do(s.Client, s.URL, requestID, body, h)
}

// Headers are the request headers a Firehose request carries besides its
// request ID; an empty field is not sent.
type Headers struct {
	SourceARN string
	AccessKey string
	// Gzip says the body is already gzip-compressed (Content-Encoding: gzip).
	Gzip bool
	// CommonAttributes is the X-Amz-Firehose-Common-Attributes header (JSON).
	CommonAttributes string
	// Tenant is sent as X-Scope-OrgID (as a proxy would add it).
	Tenant string
}

// Do sends body to url as Firehose does, with client (nil: the default
// client), and checks the answer against the specification.
func Do(client *http.Client, url, requestID string, body []byte, h Headers) (Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Firehose-Protocol-Version", "1.0")
	req.Header.Set("X-Amz-Firehose-Request-Id", requestID)
	for name, v := range map[string]string{
		"X-Amz-Firehose-Source-Arn":        h.SourceARN,
		"X-Amz-Firehose-Access-Key":        h.AccessKey,
		"X-Amz-Firehose-Common-Attributes": h.CommonAttributes,
		"X-Scope-OrgID":                    h.Tenant,
	} {
		if v != "" {
			req.Header.Set(name, v)
		}
	}
	if h.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if client == nil {
		client = http.DefaultClient
	}
	sent := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Response{Status: resp.StatusCode}, err
	}
	out := Response{Status: resp.StatusCode}
	if err := CheckResponse(resp, rb, requestID, sent, &out); err != nil {
		return out, err
	}
	return out, nil
}

// CheckResponse checks an answer against the specification: a JSON body of
// at most 1 MiB with the request's ID, a timestamp, and an error message on
// failures. The timestamp is in seconds, as Grafana Alloy answers (AWS's
// specification says milliseconds; Firehose does not read it).
func CheckResponse(resp *http.Response, body []byte, requestID string, sent time.Time, out *Response) error {
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("response Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("response body %q is not JSON: %w", body, err)
	}
	out.Status = resp.StatusCode
	out.RetryAfter = resp.Header.Get("Retry-After")
	if out.RequestID != requestID {
		return fmt.Errorf("response requestId %q, want %q", out.RequestID, requestID)
	}
	// Seconds, as Alloy answers: within a minute of when the request was sent.
	if d := time.Unix(out.Timestamp, 0).Sub(sent); d < -time.Minute || d > time.Minute {
		return fmt.Errorf("response timestamp %d is not the current time in seconds", out.Timestamp)
	}
	if resp.StatusCode != http.StatusOK && out.ErrorMessage == "" {
		return fmt.Errorf("status %d without errorMessage", resp.StatusCode)
	}
	return nil
}

// NewRequestID returns a random GUID, as Firehose uses.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// LogEvent is one CloudWatch Logs event.
type LogEvent struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"` // Unix milliseconds
	Message   string `json:"message"`
}

// CloudWatchPayload is a CloudWatch Logs subscription payload.
type CloudWatchPayload struct {
	MessageType         string     `json:"messageType"`
	Owner               string     `json:"owner"`
	LogGroup            string     `json:"logGroup"`
	LogStream           string     `json:"logStream"`
	SubscriptionFilters []string   `json:"subscriptionFilters"`
	LogEvents           []LogEvent `json:"logEvents"`
}

// Record returns the payload as CloudWatch Logs hands it to Firehose: gzipped JSON.
func (p CloudWatchPayload) Record() []byte {
	j, _ := json.Marshal(p)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(j)
	zw.Close()
	return b.Bytes()
}

// ControlMessage is the payload CloudWatch Logs sends to check that a
// destination is reachable.
func ControlMessage() []byte {
	return CloudWatchPayload{
		MessageType: "CONTROL_MESSAGE", Owner: "CloudwatchLogs", LogGroup: "", LogStream: "",
		SubscriptionFilters: []string{},
		LogEvents:           []LogEvent{{ID: "", Timestamp: time.Now().UnixMilli(), Message: "CWL CONTROL MESSAGE: Checking health of destination Firehose."}},
	}.Record()
}
