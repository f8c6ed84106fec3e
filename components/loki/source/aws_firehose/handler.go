package awsfirehose

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"
	promrelabel "github.com/prometheus/prometheus/model/relabel"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/common/relabel"
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
	RequestID string `json:"requestId"`
	// Timestamp is in Unix seconds, as Alloy answers (AWS's specification
	// says milliseconds; Firehose does not read it).
	Timestamp    int64  `json:"timestamp"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

func respond(w http.ResponseWriter, status int, requestID, errMsg string, retryAfter bool) {
	b, _ := json.Marshal(response{RequestID: requestID, Timestamp: time.Now().Unix(), ErrorMessage: errMsg})
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
	// The answer may take answerMargin beyond server_write_timeout, so that
	// a request cut off by server_read_timeout (or by the wait for
	// forward_to) is still answered when both timeouts are equal, as they
	// are by default. (Over gRPC there is no connection deadline to move.)
	_ = http.NewResponseController(w).SetWriteDeadline(received.Add(st.writeTimeout + answerMargin))
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
	if err := loki.Full(st.forwardTo); err != nil {
		// Refused before the body is read: no work is spent on entries the
		// pipeline would refuse (see pipelineFull).
		return pipelineFull(err)
	}
	if r.ContentLength > st.limits.body {
		return &requestError{status: http.StatusRequestEntityTooLarge, reason: "too_large",
			msg: fmt.Sprintf("Content-Length %d exceeds max_request_body_size (%d bytes); lower the Firehose buffer size", r.ContentLength, st.limits.body)}
	}

	// Everything the request holds from here is reserved from the budget
	// shared by all requests in flight, and released once it is answered.
	// Its work (reading and decoding the body, then forwarding) ends at the
	// deadline, in time to answer 503 before server_write_timeout.
	ctx, cancel := context.WithDeadline(r.Context(), forwardDeadline(received, st.writeTimeout))
	defer cancel()
	acct := newAccount(c.budget, &st.limits)
	defer acct.done()
	acct.stop, acct.expired = ctx.Done(), func() *requestError { return decodeTimeout(ctx, st.writeTimeout) }
	body := http.MaxBytesReader(nil, r.Body, st.limits.body+1)
	data, rerr := readBody(body, r.Header.Get("Content-Encoding"), r.ContentLength, &st.limits, acct)
	if rerr != nil {
		return rerr
	}
	dec, rerr := decodeBody(data, &st.limits, acct)
	acct.release(int64(cap(data))) // nothing points into the body any more
	putBodyBuffer(data)
	data = nil
	if rerr != nil {
		return rerr
	}
	if *reqID == "" {
		*reqID = dec.requestID
	}
	c.m.batchSize.Observe(float64(dec.total))
	for _, s := range dec.skipped {
		c.m.recordErrors.WithLabelValues(s.reason).Inc()
	}
	if len(dec.skipped) > 0 {
		c.log.Warn("skipped Firehose records that do not decode; the rest of the request is delivered",
			"request_id", *reqID, "skipped", len(dec.skipped), "first_error", dec.skipped[0].err.Error())
	}

	// Labels in Alloy's order: the request's headers, then the static
	// labels of the common attributes (which may override them), then the
	// component's own labels (a flow extension), which win.
	base := model.LabelSet{}
	if *reqID != "" {
		base[lblRequestID] = model.LabelValue(*reqID)
	}
	if arn := r.Header.Get(hdrSourceARN); arn != "" {
		base[lblSourceARN] = model.LabelValue(arn)
	}
	tenant := r.Header.Get(hdrTenant)
	if tenant != "" {
		base[loki.TenantLabel] = model.LabelValue(tenant)
	}
	c.commonAttributes(r.Header.Get(hdrCommonAttributes), tenant, base)
	for n, v := range st.labels {
		base[n] = v
	}

	n := dec.entries()
	if rerr := acct.reserve(int64(n) * entrySize); rerr != nil {
		return rerr
	}
	entries, dropped := c.entries(st, dec, base, received, n)
	if rerr := acct.check(); rerr != nil {
		// Too late to forward: nothing of an unacknowledged request may be.
		return rerr
	}
	for _, rec := range dec.records {
		if rec.gunzipped {
			c.m.records.WithLabelValues(originCloudWatch).Inc()
		} else {
			c.m.records.WithLabelValues(originDirectPut).Inc()
		}
	}
	c.m.bytes.Add(float64(dec.bytes))
	if dropped > 0 {
		c.m.relabelDropped.Add(float64(dropped))
	}
	if len(entries) > 0 {
		err := loki.Fanout(ctx, st.forwardTo, entries)
		if err == nil {
			loki.PublishEntries(c.opts.Live(), entries)
		}
		if err != nil {
			if errors.Is(err, loki.ErrFull) {
				return pipelineFull(err)
			}
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
			//lint:ignore SA6002 boxing the slice header costs 24 bytes per request; the pooled entries it recycles are far larger
			entriesPool.Put(entries[:0])
		}
	}
	return nil
}

// pipelineFull is the answer while forward_to is full (loki.ErrFull: for
// loki.write, its WAL backlog is over wal > max_backlog_size): 503 with
// Retry-After, so Firehose retries later (and, past its retry duration,
// backs up to S3) rather than being told entries are kept that would make
// the backlog grow without bound.
func pipelineFull(err error) *requestError {
	return &requestError{status: http.StatusServiceUnavailable, reason: "pipeline_full", retryAfter: true,
		msg: "the pipeline is full: " + err.Error() + "; Firehose will retry"}
}

// decodeTimeout is the answer to a request whose deadline passed before it
// was decoded and forwarded: 503 with Retry-After, as for other overload,
// since Firehose retries 5xx answers. Nothing of it has been forwarded.
// (ctx also ends when the client goes away; then no one reads the answer.)
func decodeTimeout(ctx context.Context, writeTimeout time.Duration) *requestError {
	return &requestError{status: http.StatusServiceUnavailable, reason: reasonDecodeTimeout, retryAfter: true,
		msg: fmt.Sprintf("the request was not decoded in time (%v): work on a request ends %v after its headers (server_write_timeout %v, less time to answer); Firehose will retry",
			context.Cause(ctx), workTime(writeTimeout), writeTimeout)}
}

// reasonDecodeTimeout is decodeTimeout's request_errors reason.
const reasonDecodeTimeout = "decode_timeout"

// answerMargin is the time an answer has beyond server_write_timeout.
const answerMargin = time.Second

// forwardDeadline is when a request's work (decoding it, then waiting for
// forward_to) ends: in time to answer 503 within server_write_timeout
// (counted from the handler's start, which follows the end of the headers).
func forwardDeadline(received time.Time, writeTimeout time.Duration) time.Time {
	return received.Add(workTime(writeTimeout))
}

// workTime is server_write_timeout less the time kept to answer: 1 s, or a
// quarter of shorter timeouts.
func workTime(writeTimeout time.Duration) time.Duration {
	return writeTimeout - min(time.Second, writeTimeout/4)
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

	// Timestamps. By default the receive time: entries of one request get
	// consecutive nanoseconds after it, so that Loki keeps their order and
	// does not take equal lines at equal times for duplicates. With
	// use_incoming_timestamp, as in Alloy: direct-PUT records take the
	// request's timestamp truncated to the second, CloudWatch events their
	// own (millisecond) timestamps. A request without a timestamp keeps the
	// receive time rather than 1970.
	var incoming time.Time
	if st.useIncoming && dec.timestamp > 0 {
		incoming = time.Unix(dec.timestamp/1000, 0)
	}
	var direct model.LabelSet
	directDone := false
	var prev *cwPayload      // the last CloudWatch payload labeled
	var final model.LabelSet // its labels
	n := 0
	for _, rec := range dec.records {
		if rec.cw == nil {
			if !directDone {
				direct, directDone = finalLabels(st, base), true
			}
			if direct == nil {
				dropped++
				continue
			}
			ts := incoming
			if ts.IsZero() {
				ts = received.Add(time.Duration(n))
			}
			out = append(out, loki.Entry{Labels: direct, Entry: push.Entry{Timestamp: ts, Line: rec.line}})
			n++
			continue
		}
		// CloudWatch Logs payloads, CONTROL_MESSAGE included (its event
		// says the subscription reaches Firehose), as Alloy forwards them;
		// __aws_cw_msg_type tells them apart for relabel rules.
		p := rec.cw
		// Consecutive records of one log stream share their labels, and
		// of one log group too when the rules ignore the log stream.
		if prev == nil || !sameSource(prev, p, st.ignoreStream) {
			ls := base.Clone()
			setLabel(ls, lblOwner, p.Owner)
			setLabel(ls, lblLogGroup, p.LogGroup)
			setLabel(ls, lblLogStream, p.LogStream)
			setLabel(ls, lblMatchedFilters, strings.Join(p.SubscriptionFilters, ","))
			setLabel(ls, lblMsgType, p.MessageType)
			prev, final = p, finalLabels(st, ls)
		}
		if final == nil {
			dropped += len(p.LogEvents)
			continue
		}
		for _, ev := range p.LogEvents {
			ts := received.Add(time.Duration(n))
			if st.useIncoming {
				ts = time.UnixMilli(ev.Timestamp)
			}
			out = append(out, loki.Entry{Labels: final, Entry: push.Entry{Timestamp: ts, Line: ev.Message}})
			n++
		}
	}
	return out, dropped
}

// sameSource tells whether two CloudWatch Logs payloads make the same labels;
// with ignoreStream, their log streams do not matter.
func sameSource(a, b *cwPayload, ignoreStream bool) bool {
	if a.Owner != b.Owner || a.LogGroup != b.LogGroup || (a.LogStream != b.LogStream && !ignoreStream) ||
		a.MessageType != b.MessageType || len(a.SubscriptionFilters) != len(b.SubscriptionFilters) {
		return false
	}
	for i := range a.SubscriptionFilters {
		if a.SubscriptionFilters[i] != b.SubscriptionFilters[i] {
			return false
		}
	}
	return true
}

// rulesIgnore tells whether the labels relabel rules make, once internal
// labels are dropped, never depend on the internal label name: no rule reads
// it (as a source label, or as the target label keepequal and dropequal
// compare with) and none acts on label names at large (labelmap, labeldrop,
// labelkeep). Its value can then only survive the rules as itself, and be
// dropped with the internal labels. (With no rules it is simply dropped.)
func rulesIgnore(rules relabel.Rules, name model.LabelName) bool {
	for _, r := range rules {
		switch r.Action {
		case promrelabel.LabelMap, promrelabel.LabelDrop, promrelabel.LabelKeep:
			return false
		case promrelabel.KeepEqual, promrelabel.DropEqual:
			if r.TargetLabel == string(name) {
				return false
			}
		}
		if slices.Contains(r.SourceLabels, name) {
			return false
		}
	}
	return true
}

// setLabel sets a label, or removes it for an empty value, as Prometheus'
// label builder (which Alloy uses) does.
func setLabel(ls model.LabelSet, name model.LabelName, value string) {
	if value == "" {
		delete(ls, name)
		return
	}
	ls[name] = model.LabelValue(value)
}

// finalLabels relabels ls and then drops, as Alloy does, internal labels
// (but the tenant), and labels whose names are not valid Prometheus names or
// whose values are not UTF-8; nil means a rule dropped the entry. No label
// is invented: an entry left without labels goes on without them, as in
// Alloy (Loki refuses it, and loki.write reports that).
func finalLabels(st *handlerState, ls model.LabelSet) model.LabelSet {
	out := loki.RelabelFinal(st.rules, ls)
	if out == nil {
		return nil
	}
	for _, v := range out {
		if !utf8.ValidString(string(v)) {
			clean := make(model.LabelSet, len(out))
			for n, v := range out {
				if utf8.ValidString(string(v)) {
					clean[n] = v
				}
			}
			return clean
		}
	}
	return out
}

// maxTenantLabelValues bounds the tenant_id values of
// loki_source_awsfirehose_invalid_static_labels_errors: the tenant comes from
// a request header, and an unbounded label would let any client grow
// flow's memory and every metrics scrape.
const maxTenantLabelValues = 64

// otherTenants is the tenant_id value of every tenant past the first
// maxTenantLabelValues.
const otherTenants = "__other__"

// commonAttributes adds the static labels of the
// X-Amz-Firehose-Common-Attributes header to ls, as Alloy does: an attribute
// "lbl_<name>" becomes the label <name>, sanitized as Alloy sanitizes it
// (sanitizeLabelName) when it is not a valid label name; a name that cannot be
// made valid, or a value that is not UTF-8, is skipped and counted. A header
// that is not {"commonAttributes": {…}} is ignored and counted, not refused.
// Other attributes become internal labels __aws_firehose_attr_<name>, for
// relabel rules only (a flow extension: they may be credential-like values).
func (c *Component) commonAttributes(header, tenant string, ls model.LabelSet) {
	if header == "" {
		return
	}
	var ca struct {
		CommonAttributes map[string]string `json:"commonAttributes"`
	}
	if err := json.Unmarshal([]byte(header), &ca); err != nil {
		c.invalidStaticLabel("invalid_json_format", tenant)
		c.log.Debug("ignoring a malformed "+hdrCommonAttributes+" header", "err", err)
		return
	}
	for k, v := range ca.CommonAttributes {
		name, ok := strings.CutPrefix(k, "lbl_")
		if !ok {
			if n := loki.SanitizeLabelName(k); n != "" {
				ls[model.LabelName(lblAttrPrefix+n)] = model.LabelValue(v)
			}
			continue
		}
		if !model.LegacyValidation.IsValidLabelName(name) {
			name = sanitizeLabelName(name)
			if !model.LegacyValidation.IsValidLabelName(name) {
				c.invalidStaticLabel("invalid_label_name", tenant)
				continue
			}
		}
		if !utf8.ValidString(v) {
			c.invalidStaticLabel("invalid_label_value", tenant)
			continue
		}
		setLabel(ls, model.LabelName(name), v)
	}
}

// invalidStaticLabel counts a common attribute that did not become a label.
func (c *Component) invalidStaticLabel(reason, tenant string) {
	c.tenantsMu.Lock()
	if _, seen := c.tenants[tenant]; !seen {
		if len(c.tenants) >= maxTenantLabelValues {
			tenant = otherTenants
		} else {
			c.tenants[tenant] = struct{}{}
		}
	}
	c.tenantsMu.Unlock()
	c.m.invalidStatic.WithLabelValues(reason, tenant).Inc()
}

// sanitizeLabelName is Alloy's repair of a common attribute's label name
// (yet-another-cloudwatch-exporter's promutil.PromString): separators and
// punctuation become '_', '%' becomes "_percent", an upper-case letter after
// a lower-case letter or a digit gets a '_' before it, and everything is
// lower-cased. The result may still be invalid (a leading digit, other
// characters): the caller then drops the label.
func sanitizeLabelName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	var prev rune
	for _, r := range s {
		switch r {
		case ' ', ',', '\t', '/', '\\', '.', '-', ':', '=', '@', '<', '>', '(', ')', '\u201c':
			b.WriteByte('_')
		case '%':
			b.WriteString("_percent")
		default:
			if unicode.IsUpper(r) && (unicode.IsLower(prev) || unicode.IsDigit(prev)) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		}
		prev = r
	}
	return b.String()
}
