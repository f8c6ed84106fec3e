package awsfirehose

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
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

func respond(w http.ResponseWriter, status int, requestID, errMsg string) {
	b, _ := json.Marshal(response{RequestID: requestID, Timestamp: time.Now().UnixMilli(), ErrorMessage: errMsg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ServeHTTP handles one Firehose delivery request.
func (c *Component) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	st := c.state.Load()
	reqID := r.Header.Get(hdrRequestID)
	status, msg, reason := c.handle(r, st, received, &reqID)
	respond(w, status, reqID, msg)
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

// handle processes a request and returns the status, the error message for
// the response ("" on success) and a reason label for metrics.
func (c *Component) handle(r *http.Request, st *handlerState, received time.Time, reqID *string) (int, string, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "Firehose delivers with POST", "method"
	}
	if len(st.accessKey) > 0 {
		got := r.Header.Get(hdrAccessKey)
		if got == "" {
			return http.StatusUnauthorized, "missing " + hdrAccessKey + " header: set the access key on the Firehose stream's HTTP endpoint destination", "unauthorized"
		}
		if subtle.ConstantTimeCompare([]byte(got), st.accessKey) != 1 {
			return http.StatusUnauthorized, "wrong " + hdrAccessKey + ": it does not match this component's access_key", "unauthorized"
		}
	}
	if v := r.Header.Get(hdrProtocolVersion); v != "" && v != "1.0" {
		c.log.Debug("unknown Firehose protocol version; decoding as 1.0", "version", v)
	}

	body := http.MaxBytesReader(nil, r.Body, st.limits.body+1)
	data, rerr := readBody(body, r.Header.Get("Content-Encoding"), r.ContentLength, st.limits)
	if rerr != nil {
		return rerr.status, rerr.msg, rerr.reason
	}
	dec, rerr := decodeBody(data, st.limits)
	if rerr != nil {
		return rerr.status, rerr.msg, rerr.reason
	}
	if *reqID == "" {
		*reqID = dec.requestID
	}

	base := model.LabelSet{}
	if err := commonAttributes(r.Header.Get(hdrCommonAttributes), base); err != nil {
		return http.StatusBadRequest, err.Error(), "bad_common_attributes"
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

	entries, dropped := c.entries(st, dec, base, received)
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
				return http.StatusServiceUnavailable, "the pipeline did not accept the entries in time (" + err.Error() + "); Firehose will retry", "forward_timeout"
			}
			return http.StatusInternalServerError, "the pipeline did not accept the entries: " + err.Error() + "; Firehose will retry", "forward_failed"
		}
		c.m.entries.Add(float64(len(entries)))
		clear(entries) // do not pin this request's lines from the pool
		entriesPool.Put(entries[:0])
	}
	return http.StatusOK, "", ""
}

// entriesPool recycles the per-request entry slices: receivers may not keep
// them after Send returns (loki.LogsReceiver's contract).
var entriesPool = sync.Pool{New: func() any { return []loki.Entry(nil) }}

// entries turns the decoded records into log entries with final labels. It
// relabels once per distinct label set (once per request for direct PUT,
// once per record for CloudWatch), and returns how many entries a rule dropped.
func (c *Component) entries(st *handlerState, dec *decodedRequest, base model.LabelSet, received time.Time) ([]loki.Entry, int) {
	out := entriesPool.Get().([]loki.Entry)
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
