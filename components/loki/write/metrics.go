package write

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	entriesReceived    prometheus.Counter
	entriesNoLabels    prometheus.Counter
	walBytes           prometheus.Counter
	walAppendErrors    prometheus.Counter
	walCorruptions     prometheus.Counter
	walSegmentsDeleted prometheus.Counter
	refusedFull        prometheus.Counter
	endpoint           *endpointMetrics
}

type endpointMetrics struct {
	sentEntries     *prometheus.CounterVec
	sentBytes       *prometheus.CounterVec
	droppedEntries  *prometheus.CounterVec
	retries         *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		entriesReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_write_entries_received_total", Help: "Log entries accepted by loki.write (into the WAL or the queues)."}),
		entriesNoLabels: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_write_entries_without_labels_total", Help: "Log entries discarded because no valid label was left."}),
		walBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_write_wal_bytes_written_total", Help: "Bytes written to the WAL."}),
		walAppendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_write_wal_append_errors_total", Help: "Sends refused because the WAL could not be written."}),
		walCorruptions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_write_wal_corruptions_total", Help: "Torn or damaged WAL records skipped (one per crash is expected)."}),
		walSegmentsDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_write_wal_segments_deleted_total", Help: "WAL segments deleted after every endpoint delivered them."}),
		refusedFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_write_entries_refused_full_total", Help: "Log entries refused because an endpoint's WAL backlog was over wal > max_backlog_size (sources retry them)."}),
		endpoint: &endpointMetrics{
			sentEntries: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "loki_write_sent_entries_total", Help: "Log entries pushed to Loki."}, []string{"endpoint"}),
			sentBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "loki_write_sent_bytes_total", Help: "Bytes of log lines pushed to Loki."}, []string{"endpoint"}),
			droppedEntries: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "loki_write_dropped_entries_total", Help: "Log entries dropped, by reason: the HTTP status Loki refused them with (400, 413, …; 401/403 only with retry_on_http_auth_error = false, 429 only with retry_on_http_429 = false), max_retries or shutdown (without a WAL), corrupt (undecodable WAL record)."}, []string{"endpoint", "reason"}),
			retries: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "loki_write_batch_retries_total", Help: "Failed pushes that are retried (network errors, 5xx, 429, 401/403)."}, []string{"endpoint"}),
			requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name: "loki_write_request_duration_seconds", Help: "Duration of push requests, by status code.",
				Buckets: prometheus.DefBuckets}, []string{"endpoint", "status_code"}),
		},
	}
	if reg == nil {
		return m, nil
	}
	// The backlog gauges are registered by the component (see
	// backlogCollector), which knows its endpoints.
	for _, col := range []prometheus.Collector{m.entriesReceived, m.entriesNoLabels, m.walBytes, m.walAppendErrors,
		m.walCorruptions, m.walSegmentsDeleted, m.refusedFull, m.endpoint.sentEntries, m.endpoint.sentBytes,
		m.endpoint.droppedEntries, m.endpoint.retries, m.endpoint.requestDuration} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("registering loki.write metrics: %w", err)
		}
	}
	return m, nil
}

// backlogCollector reports each endpoint's backlog at scrape time.
type backlogCollector struct{ c *Component }

var (
	backlogEntriesDesc = prometheus.NewDesc("loki_write_backlog_entries",
		"Log entries accepted but not yet delivered by the endpoint (in the WAL, or its memory queue). With the WAL, counted to within about 100 ms of appends.", []string{"endpoint"}, nil)
	backlogBytesDesc = prometheus.NewDesc("loki_write_backlog_bytes",
		"Bytes of WAL (or memory queue) not yet delivered by the endpoint; wal > max_backlog_size bounds it.", []string{"endpoint"}, nil)
	backlogAgeDesc = prometheus.NewDesc("loki_write_backlog_oldest_age_seconds",
		"Age of the oldest entry the endpoint has not yet delivered (0 when none waits): the delivery lag.", []string{"endpoint"}, nil)
)

func (b backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- backlogEntriesDesc
	ch <- backlogBytesDesc
	ch <- backlogAgeDesc
}

func (b backlogCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, eb := range b.c.backlogs() {
		ch <- prometheus.MustNewConstMetric(backlogEntriesDesc, prometheus.GaugeValue, float64(eb.entries), eb.name)
		ch <- prometheus.MustNewConstMetric(backlogBytesDesc, prometheus.GaugeValue, float64(eb.bytes), eb.name)
		age := 0.0
		if !eb.oldest.IsZero() {
			age = now.Sub(eb.oldest).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(backlogAgeDesc, prometheus.GaugeValue, age, eb.name)
	}
}
