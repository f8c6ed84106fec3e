package queue

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the queues' metrics, under the names and labels of
// Prometheus' queue manager (prometheus_remote_storage_*, by remote_name
// and url), so dashboards and alerts written for Prometheus, Grafana
// Agent and Alloy keep working. One Metrics serves all queues of a
// component; each queue deletes its series when it stops.
type Metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	samples, exemplars, histograms, metadata                   *prometheus.CounterVec
	samplesFailed, exemplarsFailed, histogramsFailed, mdFailed *prometheus.CounterVec
	samplesRetried, exemplarsRetried, histogramsRetried        *prometheus.CounterVec
	mdRetried                                                  *prometheus.CounterVec
	samplesDropped                                             *prometheus.CounterVec
	bytes, mdBytes                                             *prometheus.CounterVec
	enqueueRetries                                             *prometheus.CounterVec
	pending, shards, shardsDesired, shardsMin, shardsMax       *prometheus.GaugeVec
	shardCapacity, maxSamplesPerSend, highestSent              *prometheus.GaugeVec
	batchDuration                                              *prometheus.HistogramVec
	highestIn                                                  prometheus.Gauge
	currentSegment                                             *prometheus.GaugeVec
	highestInMs                                                atomic.Int64
}

const ns, sub = "prometheus", "remote_storage"

var queueLabels = []string{"remote_name", "url"}

// NewMetrics creates and registers the metrics (reg may be nil).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{reg: reg}
	counter := func(name, help string, extra ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, append(append([]string{}, queueLabels...), extra...))
		m.collectors = append(m.collectors, c)
		return c
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, queueLabels)
		m.collectors = append(m.collectors, g)
		return g
	}
	m.samples = counter("samples_total", "Total number of samples sent to remote storage.")
	m.exemplars = counter("exemplars_total", "Total number of exemplars sent to remote storage.")
	m.histograms = counter("histograms_total", "Total number of histograms sent to remote storage.")
	m.metadata = counter("metadata_total", "Total number of metadata entries sent to remote storage.")
	m.samplesFailed = counter("samples_failed_total", "Total number of samples which failed on send to remote storage, non-recoverable errors.")
	m.exemplarsFailed = counter("exemplars_failed_total", "Total number of exemplars which failed on send to remote storage, non-recoverable errors.")
	m.histogramsFailed = counter("histograms_failed_total", "Total number of histograms which failed on send to remote storage, non-recoverable errors.")
	m.mdFailed = counter("metadata_failed_total", "Total number of metadata entries which failed on send to remote storage, non-recoverable errors.")
	m.samplesRetried = counter("samples_retried_total", "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.")
	m.exemplarsRetried = counter("exemplars_retried_total", "Total number of exemplars which failed on send to remote storage but were retried because the send error was recoverable.")
	m.histogramsRetried = counter("histograms_retried_total", "Total number of histograms which failed on send to remote storage but were retried because the send error was recoverable.")
	m.mdRetried = counter("metadata_retried_total", "Total number of metadata entries which failed on send to remote storage but were retried because the send error was recoverable.")
	m.samplesDropped = counter("samples_dropped_total", "Total number of samples which were dropped after being read from the WAL before being sent via remote write, either via relabelling, due to being too old or unintentionally because of an unknown reference ID.", "reason")
	m.bytes = counter("bytes_total", "The total number of bytes of data (not metadata) sent by the queue after compression.")
	m.mdBytes = counter("metadata_bytes_total", "The total number of bytes of metadata sent by the queue after compression.")
	m.enqueueRetries = counter("enqueue_retries_total", "Total number of times enqueue has failed because a shards queue was full.")
	m.pending = gauge("samples_pending", "The number of samples pending in the queues shards to be sent to the remote storage.")
	m.shards = gauge("shards", "The number of shards used for parallel sending to the remote storage.")
	m.shardsDesired = gauge("shards_desired", "The number of shards that the queues shard calculation wants to run based on the rate of samples in vs. samples out.")
	m.shardsMin = gauge("shards_min", "The minimum number of shards that the queue is allowed to run.")
	m.shardsMax = gauge("shards_max", "The maximum number of shards that the queue is allowed to run.")
	m.shardCapacity = gauge("shard_capacity", "The capacity of each shard of the queue used for parallel sending to the remote storage.")
	m.maxSamplesPerSend = gauge("max_samples_per_send", "The maximum number of samples to be sent, in a single request, to the remote storage.")
	m.highestSent = gauge("queue_highest_sent_timestamp_seconds", "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch.")
	m.batchDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "sent_batch_duration_seconds",
		Help:    "Duration of send calls to the remote storage.",
		Buckets: append(prometheus.DefBuckets, 25, 60, 120, 300),
	}, queueLabels)
	m.collectors = append(m.collectors, m.batchDuration)
	m.highestIn = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "highest_timestamp_in_seconds",
		Help: "Highest timestamp that has come into the remote storage (read from the WAL by a queue), in seconds since epoch."})
	m.currentSegment = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "prometheus", Subsystem: "wal_watcher", Name: "current_segment",
		Help: "Current segment the WAL watcher is reading records from."}, []string{"consumer"})
	m.collectors = append(m.collectors, m.highestIn, m.currentSegment)
	if reg != nil {
		for i, c := range m.collectors {
			if err := reg.Register(c); err != nil {
				for _, r := range m.collectors[:i] {
					reg.Unregister(r)
				}
				return nil, errors.Join(errors.New("registering remote-write queue metrics"), err)
			}
		}
	}
	return m, nil
}

// Unregister removes the metrics from the registerer.
func (m *Metrics) Unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

// queueMetrics are one queue's children of Metrics.
type queueMetrics struct {
	m                                                     *Metrics
	lv                                                    []string
	samples, exemplars, histograms, metadata              prometheus.Counter
	samplesFailed, exemplarsFailed, histFailed, mdFailed  prometheus.Counter
	samplesRetried, exemplarsRetried, histRetried, mdRetr prometheus.Counter
	droppedTooOld, droppedUnknown                         prometheus.Counter
	bytes, mdBytes, enqueueRetries                        prometheus.Counter
	pending, shards, desired, highestSent                 prometheus.Gauge
	batchDuration                                         prometheus.Observer
}

func (m *Metrics) forQueue(name, url string, cfg *Config) *queueMetrics {
	lv := []string{name, url}
	q := &queueMetrics{
		m: m, lv: lv,
		samples: m.samples.WithLabelValues(lv...), exemplars: m.exemplars.WithLabelValues(lv...),
		histograms: m.histograms.WithLabelValues(lv...), metadata: m.metadata.WithLabelValues(lv...),
		samplesFailed: m.samplesFailed.WithLabelValues(lv...), exemplarsFailed: m.exemplarsFailed.WithLabelValues(lv...),
		histFailed: m.histogramsFailed.WithLabelValues(lv...), mdFailed: m.mdFailed.WithLabelValues(lv...),
		samplesRetried: m.samplesRetried.WithLabelValues(lv...), exemplarsRetried: m.exemplarsRetried.WithLabelValues(lv...),
		histRetried: m.histogramsRetried.WithLabelValues(lv...), mdRetr: m.mdRetried.WithLabelValues(lv...),
		droppedTooOld:  m.samplesDropped.WithLabelValues(name, url, "too_old"),
		droppedUnknown: m.samplesDropped.WithLabelValues(name, url, "unintentionally_dropped_series"),
		bytes:          m.bytes.WithLabelValues(lv...), mdBytes: m.mdBytes.WithLabelValues(lv...),
		enqueueRetries: m.enqueueRetries.WithLabelValues(lv...),
		pending:        m.pending.WithLabelValues(lv...), shards: m.shards.WithLabelValues(lv...),
		desired: m.shardsDesired.WithLabelValues(lv...), highestSent: m.highestSent.WithLabelValues(lv...),
		batchDuration: m.batchDuration.WithLabelValues(lv...),
	}
	q.configured(cfg)
	return q
}

func (q *queueMetrics) configured(cfg *Config) {
	q.m.shardsMin.WithLabelValues(q.lv...).Set(float64(cfg.MinShards))
	q.m.shardsMax.WithLabelValues(q.lv...).Set(float64(cfg.MaxShards))
	q.m.shardCapacity.WithLabelValues(q.lv...).Set(float64(cfg.Capacity))
	q.m.maxSamplesPerSend.WithLabelValues(q.lv...).Set(float64(cfg.MaxSamplesPerSend))
}

// delete removes the queue's series from every metric.
func (q *queueMetrics) delete() {
	for _, c := range q.m.collectors {
		switch v := c.(type) {
		case *prometheus.CounterVec:
			v.DeletePartialMatch(prometheus.Labels{"remote_name": q.lv[0], "url": q.lv[1]})
		case *prometheus.GaugeVec:
			if v != q.m.currentSegment {
				v.DeletePartialMatch(prometheus.Labels{"remote_name": q.lv[0], "url": q.lv[1]})
			}
		case *prometheus.HistogramVec:
			v.DeletePartialMatch(prometheus.Labels{"remote_name": q.lv[0], "url": q.lv[1]})
		}
	}
	q.m.currentSegment.DeleteLabelValues(q.lv[0])
}

// noteIn raises highest_timestamp_in_seconds to t (ms) if it is higher.
func (m *Metrics) noteIn(t int64) {
	for {
		h := m.highestInMs.Load()
		if t <= h {
			return
		}
		if m.highestInMs.CompareAndSwap(h, t) {
			m.highestIn.Set(float64(t) / 1000)
			return
		}
	}
}
