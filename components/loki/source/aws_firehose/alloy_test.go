package awsfirehose

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
)

// rawBody builds a request body from records' base64 data as given (which
// may be invalid base64).
func rawBody(id string, data ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"requestId":%q,"timestamp":%d,"records":[`, id, time.Now().UnixMilli())
	for i, d := range data {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"data":%q}`, d)
	}
	b.WriteString("]}")
	return b.Bytes()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// One record that does not decode is skipped and counted under Alloy's
// reason; the records around it are delivered and the request gets 200.
func TestBadRecordIsSkippedAndTheRestDelivered(t *testing.T) {
	f := newFixture(t, nil)
	corrupt := gz([]byte(`{"messageType":"DATA_MESSAGE","logEvents":[]}`))
	corrupt[len(corrupt)-5] ^= 0xff // the CRC no longer matches
	for _, tc := range []struct {
		name, bad, reason string
	}{
		{"invalid base64", "!!not base64!!", "base64-decode"},
		{"corrupt gzip", b64(corrupt), "gzip-deflate"},
		{"gzip magic without a gzip header", b64([]byte{0x1f, 0x8b, 0x08, 0}), "unknown"},
		{"cloudwatch payload not json", b64(gz([]byte(`{"messageType": "DATA_MESSAGE", "logEvents": 7}`))), "cw-json-decode"},
		{"record over 1 MiB", b64(bytes.Repeat([]byte("a"), 1<<20+1)), "record-too-large"},
		{"gzip bomb record", b64(gz(bytes.Repeat([]byte("B"), 17<<20))), "record-too-large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.out.got())
			errsBefore := testutil.ToFloat64(f.c.m.recordErrors.WithLabelValues(tc.reason))
			id := fh.NewRequestID()
			r, err := f.send.Post(id, rawBody(id, b64([]byte("before")), tc.bad, b64([]byte("after"))))
			ok(t, r, err)
			got := f.out.got()[before:]
			if len(got) != 2 || got[0].Line != "before" || got[1].Line != "after" {
				t.Fatalf("delivered %+v, want the two good records", got)
			}
			if n := testutil.ToFloat64(f.c.m.recordErrors.WithLabelValues(tc.reason)) - errsBefore; n != 1 {
				t.Fatalf("record_errors{reason=%q} rose by %v, want 1", tc.reason, n)
			}
		})
	}
	// batch_size counts every record of a request, good or bad, as Alloy's.
	var m dto.Metric
	if err := f.c.m.batchSize.Write(&m); err != nil {
		t.Fatal(err)
	}
	if h := m.GetHistogram(); h.GetSampleCount() != 6 || h.GetSampleSum() != 18 {
		t.Fatalf("batch_size: %d requests, %v records; want 6 and 18", h.GetSampleCount(), h.GetSampleSum())
	}
}

// The X-Amz-Firehose-Common-Attributes header gives static labels as
// Alloy's does: names repaired as Alloy repairs them, what cannot be
// repaired dropped and counted, a malformed header ignored and counted.
func TestCommonAttributesAsAlloy(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name    string
		header  string
		want    model.LabelSet
		invalid map[string]float64 // reason → count
	}{
		{"valid names as they are", `{"commonAttributes":{"lbl_team":"payments","lbl_myLabel":"v"}}`,
			model.LabelSet{"team": "payments", "myLabel": "v"}, nil},
		{"names repaired", `{"commonAttributes":{"lbl_app.name":"a","lbl_Team-Name":"b","lbl_cpu%":"c","lbl_error-Count2X":"d"}}`,
			model.LabelSet{"app_name": "a", "team_name": "b", "cpu_percent": "c", "error_count2_x": "d"}, nil},
		{"names that cannot be repaired are dropped", `{"commonAttributes":{"lbl_0abc":"x","lbl_":"y","lbl_ok":"z"}}`,
			model.LabelSet{"ok": "z"}, map[string]float64{"invalid_label_name": 2}},
		{"other attributes are not labels", `{"commonAttributes":{"api_token":"secret","lbl_env":"prod"}}`,
			model.LabelSet{"env": "prod"}, nil},
		{"empty value", `{"commonAttributes":{"lbl_env":""}}`, model.LabelSet{}, nil},
		{"malformed header ignored", `{not json`, model.LabelSet{}, map[string]float64{"invalid_json_format": 1}},
		{"wrong shape ignored", `{"commonAttributes":["a"]}`, model.LabelSet{}, map[string]float64{"invalid_json_format": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := map[string]float64{}
			for _, r := range []string{"invalid_json_format", "invalid_label_name"} {
				before[r] = testutil.ToFloat64(f.c.m.invalidStatic.WithLabelValues(r, "team-a"))
			}
			n := len(f.out.got())
			id := fh.NewRequestID()
			r, err := postWith(f.send, id, fh.Body(id, time.Now(), [][]byte{[]byte("line")}), func(h http.Header) {
				h.Set(hdrCommonAttributes, tc.header)
				h.Set(hdrTenant, "team-a")
			})
			ok(t, r, err)
			got := f.out.got()[n:]
			want := tc.want.Clone()
			want[loki.TenantLabel] = "team-a"
			if len(got) != 1 || !got[0].Labels.Equal(want) {
				t.Fatalf("labels %v, want %v", got, want)
			}
			for _, r := range []string{"invalid_json_format", "invalid_label_name"} {
				if d := testutil.ToFloat64(f.c.m.invalidStatic.WithLabelValues(r, "team-a")) - before[r]; d != tc.invalid[r] {
					t.Errorf("invalid_static_labels_errors{reason=%q,tenant_id=team-a} rose by %v, want %v", r, d, tc.invalid[r])
				}
			}
		})
	}
}

func TestSanitizeLabelNameIsAlloys(t *testing.T) {
	// Cases of yet-another-cloudwatch-exporter's PromString, which Alloy uses.
	for in, want := range map[string]string{
		"Count": "count", "CPUUtilization": "cpuutilization", "DiskReadBytes": "disk_read_bytes",
		"HTTPCode_ELB_5XX": "httpcode_elb_5_xx", "Latency.p99": "latency_p99", "a b,c\td/e\\f": "a_b_c_d_e_f",
		"x:y=z@w<v>u(t)s": "x_y_z_w_v_u_t_s", "disk%": "disk_percent", "“quoted”": "_quoted”",
		"9lives": "9lives", "árvíztűrőTükörfúró": "árvíztűrő_tükörfúró",
	} {
		if got := sanitizeLabelName(in); got != want {
			t.Errorf("sanitizeLabelName(%q) = %q, want %q", in, got, want)
		}
	}
}

// The tenant_id label of invalid_static_labels_errors comes from a request
// header: its values are bounded.
func TestInvalidStaticLabelsTenantsAreBounded(t *testing.T) {
	f := newFixture(t, nil)
	for i := range maxTenantLabelValues + 10 {
		id := fh.NewRequestID()
		r, err := postWith(f.send, id, fh.Body(id, time.Now(), [][]byte{[]byte("x")}), func(h http.Header) {
			h.Set(hdrCommonAttributes, "{")
			h.Set(hdrTenant, fmt.Sprintf("tenant-%d", i))
		})
		ok(t, r, err)
	}
	if n := testutil.CollectAndCount(f.c.m.invalidStatic); n != maxTenantLabelValues+1 {
		t.Fatalf("%d series, want %d tenants and %q", n, maxTenantLabelValues, otherTenants)
	}
	if n := testutil.ToFloat64(f.c.m.invalidStatic.WithLabelValues("invalid_json_format", otherTenants)); n != 10 {
		t.Fatalf("%q counted %v, want 10", otherTenants, n)
	}
}

// No label is invented: an entry without labels goes on without them.
func TestNoJobLabelInvented(t *testing.T) {
	f := newFixture(t, nil)
	r, err := f.send.Send([][]byte{[]byte("bare")})
	ok(t, r, err)
	got := f.out.got()
	if len(got) != 1 || len(got[0].Labels) != 0 {
		t.Fatalf("got %+v, want one entry without labels", got)
	}
}

// The component's metrics have Alloy's names, help, types and labels.
func TestMetricsAreAlloys(t *testing.T) {
	f := newFixture(t, nil)
	id := fh.NewRequestID()
	r, err := postWith(f.send, id, rawBody(id, b64([]byte("ok")), "!!"), func(h http.Header) { h.Set(hdrCommonAttributes, "{") })
	ok(t, r, err)
	if r, _ := postRaw(f.send, "x", []byte("nope"), "gzip"); r.Status != 400 {
		t.Fatalf("bad gzip body: %d", r.Status)
	}
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf
	}
	for _, w := range []struct {
		name, help string
		typ        dto.MetricType
		labels     string
	}{
		{"loki_source_awsfirehose_request_errors", "Number of errors while receiving AWS Firehose API requests", dto.MetricType_COUNTER, "reason"},
		{"loki_source_awsfirehose_record_errors", "Number of errors while decoding AWS Firehose records", dto.MetricType_COUNTER, "reason"},
		{"loki_source_awsfirehose_records_received", "Number of records received from AWS Firehose", dto.MetricType_COUNTER, "type"},
		{"loki_source_awsfirehose_batch_size", "AWS Firehose received batch size in number of records", dto.MetricType_HISTOGRAM, ""},
		{"loki_source_awsfirehose_invalid_static_labels_errors", "Number of errors while processing AWS Firehose static labels", dto.MetricType_COUNTER, "reason,tenant_id"},
		{"loki_source_awsfirehose_entries_written", "Total number of entries written.", dto.MetricType_COUNTER, ""},
		{"loki_source_awsfirehose_request_duration_seconds", "Time (in seconds) spent serving HTTP requests.", dto.MetricType_HISTOGRAM, "method,route,status_code,ws"},
		{"loki_source_awsfirehose_tcp_connections", "Current number of accepted TCP connections.", dto.MetricType_GAUGE, "protocol"},
		{"loki_source_awsfirehose_tcp_connections_limit", "The max number of TCP connections that can be accepted (0 means no limit).", dto.MetricType_GAUGE, "protocol"},
	} {
		mf := got[w.name]
		if mf == nil {
			t.Errorf("%s is missing", w.name)
			continue
		}
		if mf.GetHelp() != w.help || mf.GetType() != w.typ {
			t.Errorf("%s: help %q type %v, want %q %v", w.name, mf.GetHelp(), mf.GetType(), w.help, w.typ)
		}
		var names []string
		for _, l := range mf.GetMetric()[0].GetLabel() {
			names = append(names, l.GetName())
		}
		sort.Strings(names)
		if strings.Join(names, ",") != w.labels {
			t.Errorf("%s: labels %v, want %s", w.name, names, w.labels)
		}
	}
	for name, want := range map[string]float64{
		`loki_source_awsfirehose_request_errors{reason="pre_read"}`:                                       1,
		`loki_source_awsfirehose_record_errors{reason="base64-decode"}`:                                   1,
		`loki_source_awsfirehose_records_received{type="direct-put"}`:                                     1,
		`loki_source_awsfirehose_invalid_static_labels_errors{reason="invalid_json_format",tenant_id=""}`: 1,
		`loki_source_awsfirehose_entries_written`:                                                         1,
	} {
		if v := metricValue(got, name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if v := metricValue(got, `loki_source_awsfirehose_request_duration_seconds{method="POST",route="awsfirehose_api_v1_push",status_code="200",ws="false"}`); v != 1 {
		t.Errorf("request_duration_seconds of the 200: count %v, want 1", v)
	}
}

// metricValue finds a series written as name{label="value",…} (labels in
// sorted order) and returns its counter value or histogram count.
func metricValue(mfs map[string]*dto.MetricFamily, series string) float64 {
	name, _, _ := strings.Cut(series, "{")
	mf := mfs[name]
	if mf == nil {
		return -1
	}
	for _, m := range mf.GetMetric() {
		var parts []string
		for _, l := range m.GetLabel() {
			parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
		s := name
		if len(parts) > 0 {
			s += "{" + strings.Join(parts, ",") + "}"
		}
		if s != series {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

type dtoFamily = dto.MetricFamily
