package awsfirehose

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are Alloy's (names, labels and help of its loki.source.awsfirehose
// and of the dskit server it runs, namespace loki_source_awsfirehose), and a
// few of flow's own for the bounds Alloy does not have. Alloy's counters have
// no _total suffix; the text format shows them as named.
type metrics struct {
	// Alloy's component metrics.
	requestErrors *prometheus.CounterVec
	recordErrors  *prometheus.CounterVec
	records       *prometheus.CounterVec
	batchSize     prometheus.Histogram
	invalidStatic *prometheus.CounterVec
	entries       prometheus.Counter
	// Alloy's server (dskit) metrics.
	duration      *prometheus.HistogramVec
	inflight      *prometheus.GaugeVec
	requestBytes  *prometheus.HistogramVec
	responseBytes *prometheus.HistogramVec
	// flow's.
	bytes          prometheus.Counter
	relabelDropped prometheus.Counter
	connsRejected  *prometheus.CounterVec
}

// bodySizeBuckets are dskit's for message sizes.
var bodySizeBuckets = []float64{1 << 20, 2.5 * (1 << 20), 5 << 20, 10 << 20, 25 << 20, 50 << 20, 100 << 20, 250 << 20}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requestErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_request_errors", Help: "Number of errors while receiving AWS Firehose API requests"}, []string{"reason"}),
		recordErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_record_errors", Help: "Number of errors while decoding AWS Firehose records"}, []string{"reason"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_records_received", Help: "Number of records received from AWS Firehose"}, []string{"type"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "loki_source_awsfirehose_batch_size", Help: "AWS Firehose received batch size in number of records",
			Buckets: prometheus.DefBuckets, NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 100,
			NativeHistogramMinResetDuration: time.Hour}),
		invalidStatic: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_invalid_static_labels_errors", Help: "Number of errors while processing AWS Firehose static labels"},
			[]string{"reason", "tenant_id"}),
		entries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_entries_written", Help: "Total number of entries written."}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "loki_source_awsfirehose_request_duration_seconds", Help: "Time (in seconds) spent serving HTTP requests.",
			Buckets: prometheus.DefBuckets, NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 100,
			NativeHistogramMinResetDuration: time.Hour}, []string{"method", "route", "status_code", "ws"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "loki_source_awsfirehose_inflight_requests", Help: "Current number of inflight requests."}, []string{"method", "route"}),
		requestBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "loki_source_awsfirehose_request_message_bytes", Help: "Size (in bytes) of messages received in the request.",
			Buckets: bodySizeBuckets}, []string{"method", "route"}),
		responseBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "loki_source_awsfirehose_response_message_bytes", Help: "Size (in bytes) of messages sent in response.",
			Buckets: bodySizeBuckets}, []string{"method", "route"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_record_bytes_total", Help: "Bytes of Firehose records after base64 and gunzip."}),
		relabelDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_entries_dropped_total", Help: "Log entries dropped by relabel_rules."}),
		connsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_connections_rejected_total", Help: "Connections refused because conn_limit connections were open and none was idle."},
			[]string{"protocol"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.requestErrors, m.recordErrors, m.records, m.batchSize, m.invalidStatic, m.entries,
		m.duration, m.inflight, m.requestBytes, m.responseBytes, m.bytes, m.relabelDropped, m.connsRejected} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("registering loki.source.aws_firehose metrics: %w", err)
		}
	}
	return m, nil
}

// registerGauges registers the gauges that read the component's state.
// Registration errors were already reported for the other metrics.
func (m *metrics) registerGauges(reg prometheus.Registerer, c *Component) {
	if reg == nil {
		return
	}
	_ = reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "loki_source_awsfirehose_inflight_bytes", Help: "Memory reserved by requests in flight, with what they released that the collector has not freed yet (bounded by max_inflight_size)."},
		func() float64 { return float64(c.budget.used.Load()) }))
	for _, proto := range []string{"http", "grpc"} {
		_ = reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "loki_source_awsfirehose_tcp_connections", Help: "Current number of accepted TCP connections.",
			ConstLabels: prometheus.Labels{"protocol": proto}},
			func() float64 { n, _ := c.connections(proto); return float64(n) }))
		_ = reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "loki_source_awsfirehose_tcp_connections_limit", Help: "The max number of TCP connections that can be accepted (0 means no limit).",
			ConstLabels: prometheus.Labels{"protocol": proto}},
			func() float64 { _, l := c.connections(proto); return float64(l) }))
	}
}

// requestStats feeds debug info.
type requestStats struct {
	mu          sync.Mutex
	byStatus    map[int]int64
	lastRequest time.Time
	lastError   string
	lastErrorAt time.Time
}

func (s *requestStats) record(status int, msg string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byStatus == nil {
		s.byStatus = map[int]int64{}
	}
	s.byStatus[status]++
	s.lastRequest = at
	if status != 200 {
		s.lastError, s.lastErrorAt = msg, at
	}
}
