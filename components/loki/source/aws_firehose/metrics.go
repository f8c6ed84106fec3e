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
			Name: "loki_source_awsfirehose_record_bytes_total", Help: "Bytes of decoded Firehose records."}),
		relabelDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_source_awsfirehose_entries_dropped_total", Help: "Log entries dropped by relabel_rules."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "loki_source_awsfirehose_request_duration_seconds", Help: "Time to answer Firehose requests, including forwarding.",
			Buckets: prometheus.DefBuckets}),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.requests, m.requestErrors, m.records, m.entries, m.bytes, m.relabelDropped, m.duration} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("registering loki.source.aws_firehose metrics: %w", err)
		}
	}
	return m, nil
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
