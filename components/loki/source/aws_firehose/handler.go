package awsfirehose

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
)

// Headers of the Firehose HTTP endpoint delivery specification.
const (
	hdrRequestID        = "X-Amz-Firehose-Request-Id"
	hdrSourceARN        = "X-Amz-Firehose-Source-Arn"
	hdrProtocolVersion  = "X-Amz-Firehose-Protocol-Version"
	hdrAccessKey        = "X-Amz-Firehose-Access-Key"
	hdrCommonAttributes = "X-Amz-Firehose-Common-Attributes"
	hdrTenant           = "X-Scope-OrgID"
)

// Internal labels, named as Alloy names them so its relabel rules carry over.
const (
	lblRequestID      = "__aws_firehose_request_id"
	lblSourceARN      = "__aws_firehose_source_arn"
	lblOwner          = "__aws_owner"
	lblLogGroup       = "__aws_cw_log_group"
	lblLogStream      = "__aws_cw_log_stream"
	lblMatchedFilters = "__aws_cw_matched_filters"
	lblMsgType        = "__aws_cw_msg_type"
	// lblAttrPrefix carries common attributes without the lbl_ prefix, for
	// relabel rules only (they may be credentials-like values).
	lblAttrPrefix = "__aws_firehose_attr_"
)

// response is the body AWS specifies for every answer.
type response struct {
	RequestID    string `json:"requestId"`
	Timestamp    int64  `json:"timestamp"` // Unix milliseconds, as AWS specifies
	ErrorMessage string `json:"errorMessage,omitempty"`
}

func respond(w http.ResponseWriter, status int, requestID, errMsg string, retryAfter bool) {
	b, _ := json.Marshal(response{RequestID: requestID, Timestamp: time.Now().UnixMilli(), ErrorMessage: errMsg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if retryAfter {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// retryAfterSeconds is the Retry-After of 503 answers: load that sheds
// requests passes in about that time. (Firehose retries with its own
// backoff in any case.)
const retryAfterSeconds = "1"

// ServeHTTP handles one Firehose delivery request.
func (c *Component) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	st := c.state.Load()
	reqID := r.Header.Get(hdrRequestID)
	rerr := c.handle(r, st, received, &reqID)
	status, msg, reason := http.StatusOK, "", ""
	if rerr != nil {
		status, msg, reason = rerr.status, rerr.msg, rerr.reason
		if status == http.StatusRequestEntityTooLarge || status == http.StatusRequestTimeout {
			// The rest of the body is not worth reading.
			w.Header().Set("Connection", "close")
		}
	}
	respond(w, status, reqID, msg, rerr != nil && rerr.retryAfter)
	c.m.requests.WithLabelValues(strconv.Itoa(status)).Inc()
	c.m.duration.Observe(time.Since(received).Seconds())
	c.stats.record(status, msg, received)
	if status != http.StatusOK {
		c.m.requestErrors.WithLabelValues(reason).Inc()
		level := c.log.Warn
		if status >= 500 {
			level = c.log.Error
		}
		level("Firehose request refused", "status", status, "reason", reason, "request_id", reqID,
			"source_arn", r.Header.Get(hdrSourceARN), "remote", r.RemoteAddr, "error", msg)
	}
}

// handle processes a request; a non-nil error carries the status, the
// message for the response and a reason label for metrics.
func (c *Component) handle(r *http.Request, st *handlerState, received time.Time, reqID *string) *requestError {
	if r.Method != http.MethodPost {
		return &requestError{status: http.StatusMethodNotAllowed, reason: "method", msg: "Firehose delivers with POST"}
	}
	if len(st.accessKey) > 0 {
		got := r.Header.Get(hdrAccessKey)
		if got == "" {
			return &requestError{status: http.StatusUnauthorized, reason: "unauthorized", msg: "missing " + hdrAccessKey + " header: set the access key on the Firehose stream's HTTP endpoint destination"}
		}
		if subtle.ConstantTimeCompare([]byte(got), st.accessKey) != 1 {
			return &requestError{status: http.StatusUnauthorized, reason: "unauthorized", msg: "wrong " + hdrAccessKey + ": it does not match this component's access_key"}
		}
	}
	if v := r.Header.Get(hdrProtocolVersion); v != "" && v != "1.0" {
		c.log.Debug("unknown Firehose protocol version; decoding as 1.0", "version", v)
	}
	if r.ContentLength > st.limits.body {
		return &requestError{status: http.StatusRequestEntityTooLarge, reason: "too_large",
			msg: fmt.Sprintf("Content-Length %d exceeds max_request_body_size (%d bytes); lower the Firehose buffer size", r.ContentLength, st.limits.body)}
	}

	// Everything the request holds from here is reserved from the budget
	// shared by all requests in flight, and released once it is answered.
	acct := newAccount(c.budget, &st.limits)
	defer acct.done()
	body := http.MaxBytesReader(nil, r.Body, st.limits.body+1)
	data, rerr := readBody(body, r.Header.Get("Content-Encoding"), r.ContentLength, &st.limits, acct)
	if rerr != nil {
		return rerr
	}
	dec, rerr := decodeBody(data, &st.limits, acct)
	acct.release(int64(cap(data))) // nothing points into the body any more
	data = nil
	if rerr != nil {
		return rerr
	}
	if *reqID == "" {
		*reqID = dec.requestID
	}

	base := model.LabelSet{}
	if err := commonAttributes(r.Header.Get(hdrCommonAttributes), base); err != nil {
		return badRequest("bad_common_attributes", "%s", err.Error())
	}
	for n, v := range st.labels { // configured labels win over attributes
		base[n] = v
	}
	if *reqID != "" {
		base[lblRequestID] = model.LabelValue(*reqID)
	}
	if arn := r.Header.Get(hdrSourceARN); arn != "" {
		base[lblSourceARN] = model.LabelValue(arn)
	}
	if t := r.Header.Get(hdrTenant); t != "" {
		base[loki.TenantLabel] = model.LabelValue(t)
	}

	n := dec.entries()
	if rerr := acct.reserve(int64(n) * entrySize); rerr != nil {
		return rerr
	}
	entries, dropped := c.entries(st, dec, base, received, n)
	c.m.bytes.Add(float64(dec.bytes))
	if dropped > 0 {
		c.m.relabelDropped.Add(float64(dropped))
	}
	if len(entries) > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), st.sendTimeout)
		err := loki.Fanout(ctx, st.forwardTo, entries)
		cancel()
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return &requestError{status: http.StatusServiceUnavailable, reason: "forward_timeout", retryAfter: true,
					msg: "the pipeline did not accept the entries in time (" + err.Error() + "); Firehose will retry"}
			}
			return &requestError{status: http.StatusInternalServerError, reason: "forward_failed",
				msg: "the pipeline did not accept the entries: " + err.Error() + "; Firehose will retry"}
		}
		c.m.entries.Add(float64(len(entries)))
		if cap(entries) <= maxPooledEntries {
			clear(entries) // do not pin this request's lines from the pool
			entriesPool.Put(entries[:0])
		}
	}
	return nil
}

// maxPooledEntries is the largest entry slice kept for reuse: a request of
// exceptional size should not leave its slice in memory for the next ones.
const maxPooledEntries = 16 << 10

// entries is the number of log entries the records make at most.
func (d *decodedRequest) entries() int {
	n := 0
	for _, rec := range d.records {
		if rec.cw == nil {
			n++
		} else {
			n += len(rec.cw.LogEvents)
		}
	}
	return n
}

// entriesPool recycles the per-request entry slices: receivers may not keep
// them after Send returns (loki.LogsReceiver's contract).
var entriesPool = sync.Pool{New: func() any { return []loki.Entry(nil) }}

// entries turns the decoded records into log entries (n at most) with final labels. It
// relabels once per distinct label set (once per request for direct PUT,
// once per record for CloudWatch), and returns how many entries a rule dropped.
func (c *Component) entries(st *handlerState, dec *decodedRequest, base model.LabelSet, received time.Time, capacity int) ([]loki.Entry, int) {
	out := entriesPool.Get().([]loki.Entry)
	if cap(out) < capacity {
		out = make([]loki.Entry, 0, capacity)
	}
	dropped := 0

	// The timestamp of entries without their own: the receive time, or with
	// use_incoming_timestamp the request's. Entries of one request get
	// consecutive nanoseconds after it, so that Loki keeps their order and
	// does not take equal lines at equal times for duplicates.
	reqTime := received
	if st.useIncoming && dec.timestamp > 0 {
		reqTime = time.UnixMilli(dec.timestamp)
	}
	var direct model.LabelSet
	directDone := false
	n := 0
	for _, rec := range dec.records {
		if rec.cw == nil {
			c.m.records.WithLabelValues("direct").Inc()
			if !directDone {
				direct, directDone = finalLabels(st, base), true
			}
			if direct == nil {
				dropped++
				continue
			}
			out = append(out, loki.Entry{Labels: direct, Entry: push.Entry{Timestamp: reqTime.Add(time.Duration(n)), Line: rec.line}})
			n++
			continue
		}
		p := rec.cw
		if p.MessageType == "CONTROL_MESSAGE" {
			// CloudWatch's connectivity checks carry no logs.
			c.m.records.WithLabelValues("cloudwatch_control").Inc()
			continue
		}
		c.m.records.WithLabelValues("cloudwatch").Inc()
		ls := base.Clone()
		ls[lblOwner] = model.LabelValue(p.Owner)
		ls[lblLogGroup] = model.LabelValue(p.LogGroup)
		ls[lblLogStream] = model.LabelValue(p.LogStream)
		ls[lblMatchedFilters] = model.LabelValue(strings.Join(p.SubscriptionFilters, ","))
		ls[lblMsgType] = model.LabelValue(p.MessageType)
		final := finalLabels(st, ls)
		if final == nil {
			dropped += len(p.LogEvents)
			continue
		}
		for _, ev := range p.LogEvents {
			ts := reqTime.Add(time.Duration(n))
			if st.useIncoming {
				ts = time.UnixMilli(ev.Timestamp)
			}
			out = append(out, loki.Entry{Labels: final, Entry: push.Entry{Timestamp: ts, Line: ev.Message}})
			n++
		}
	}
	return out, dropped
}

// finalLabels relabels ls and drops internal labels; nil means drop the entry.
func finalLabels(st *handlerState, ls model.LabelSet) model.LabelSet {
	out := loki.Relabel(st.rules, ls)
	if out == nil {
		return nil
	}
	out = loki.DropInternal(out)
	if len(out) == 0 || (len(out) == 1 && out[loki.TenantLabel] != "") {
		// Loki refuses streams without labels; keep the entry findable.
		out = out.Clone()
		out["job"] = "loki.source.aws_firehose"
	}
	return out
}

// commonAttributes adds the X-Amz-Firehose-Common-Attributes header's
// attributes to ls: "lbl_name" becomes the label "name" (Alloy's convention);
// any other attribute becomes the internal label __aws_firehose_attr_<name>,
// available to relabel rules and dropped afterwards.
func commonAttributes(header string, ls model.LabelSet) error {
	if header == "" {
		return nil
	}
	var ca struct {
		CommonAttributes map[string]string `json:"commonAttributes"`
	}
	if err := json.Unmarshal([]byte(header), &ca); err != nil {
		return errors.New(hdrCommonAttributes + ` header is not {"commonAttributes": {"name": "value", …}}: ` + err.Error())
	}
	for k, v := range ca.CommonAttributes {
		if name, ok := strings.CutPrefix(k, "lbl_"); ok && name != "" {
			ls[model.LabelName(loki.SanitizeLabelName(name))] = model.LabelValue(v)
			continue
		}
		ls[model.LabelName(lblAttrPrefix+loki.SanitizeLabelName(k))] = model.LabelValue(v)
	}
	return nil
}
