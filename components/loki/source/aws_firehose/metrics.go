package awsfirehose

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests       *prometheus.CounterVec
	requestErrors  *prometheus.CounterVec
	records        *prometheus.CounterVec
	entries        prometheus.Counter
	bytes          prometheus.Counter
	relabelDropped prometheus.Counter
	duration       prometheus.Histogram
	connsRejected  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_requests_total", Help: "Firehose requests, by response status."}, []string{"status"}),
		requestErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_request_errors_total", Help: "Firehose requests refused, by reason."}, []string{"reason"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_records_received_total", Help: "Firehose records, by kind (direct, cloudwatch, cloudwatch_control)."}, []string{"type"}),
		entries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_entries_written_total", Help: "Log entries accepted by forward_to."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_record_bytes_total", Help: "Bytes of Firehose records after base64 and gunzip."}),
		relabelDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_entries_dropped_total", Help: "Log entries dropped by relabel_rules."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "loki_source_awsfirehose_request_duration_seconds", Help: "Time to answer Firehose requests, including forwarding.",
			Buckets: prometheus.DefBuckets}),
		connsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_connections_rejected_total", Help: "Connections answered 503 and closed because conn_limit connections were open and none was idle."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.requests, m.requestErrors, m.records, m.entries, m.bytes, m.relabelDropped, m.duration, m.connsRejected} {
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
		Name: "loki_source_awsfirehose_inflight_bytes", Help: "Memory reserved by requests in flight (bounded by max_inflight_size)."},
		func() float64 { return float64(c.budget.used.Load()) }))
	_ = reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "loki_source_awsfirehose_connections", Help: "Open connections to the Firehose endpoint (bounded by conn_limit)."},
		func() float64 {
			c.mu.Lock()
			l := c.lis
			c.mu.Unlock()
			return float64(l.count())
		}))
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
