package wal

import "github.com/prometheus/client_golang/prometheus"

// metrics are tsdb/agent's, under the same names: dashboards built for
// Prometheus agent mode and for earlier flow versions keep working.
type metrics struct {
	r prometheus.Registerer

	activeSeries          prometheus.Gauge
	deletedSeries         prometheus.Gauge
	floatSamples          prometheus.Counter
	histogramSamples      prometheus.Counter
	exemplars             prometheus.Counter
	outOfOrderSamples     prometheus.Counter
	truncateDuration      prometheus.Summary
	corruptions           prometheus.Counter
	replayDuration        prometheus.Gauge
	checkpointDeleteFail  prometheus.Counter
	checkpointDeleteTotal prometheus.Counter
	checkpointCreateFail  prometheus.Counter
	checkpointCreateTotal prometheus.Counter

	all []prometheus.Collector
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	m := &metrics{r: r}
	m.activeSeries = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "prometheus_agent_active_series",
		Help: "Number of active series being tracked by the WAL storage",
	})
	m.deletedSeries = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "prometheus_agent_deleted_series",
		Help: "Number of series pending deletion from the WAL",
	})
	samples := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "prometheus_agent_samples_appended_total",
		Help: "Total number of samples appended to the storage",
	}, []string{"type"})
	m.floatSamples = samples.WithLabelValues("float")
	m.histogramSamples = samples.WithLabelValues("histogram")
	m.exemplars = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prometheus_agent_exemplars_appended_total",
		Help: "Total number of exemplars appended to the storage",
	})
	m.outOfOrderSamples = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prometheus_agent_out_of_order_samples_total",
		Help: "Total number of out of order samples ingestion failed attempts.",
	})
	m.truncateDuration = prometheus.NewSummary(prometheus.SummaryOpts{
		Name: "prometheus_agent_truncate_duration_seconds",
		Help: "Duration of WAL truncation.",
	})
	m.corruptions = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prometheus_agent_corruptions_total",
		Help: "Total number of WAL corruptions.",
	})
	m.replayDuration = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "prometheus_agent_data_replay_duration_seconds",
		Help: "Time taken to replay the data on disk.",
	})
	m.checkpointDeleteFail = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prometheus_agent_checkpoint_deletions_failed_total",
		Help: "Total number of checkpoint deletions that failed.",
	})
	m.checkpointDeleteTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prometheus_agent_checkpoint_deletions_total",
		Help: "Total number of checkpoint deletions attempted.",
	})
	m.checkpointCreateFail = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prometheus_agent_checkpoint_creations_failed_total",
		Help: "Total number of checkpoint creations that failed.",
	})
	m.checkpointCreateTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "prometheus_agent_checkpoint_creations_total",
		Help: "Total number of checkpoint creations attempted.",
	})
	m.all = []prometheus.Collector{
		m.activeSeries, m.deletedSeries, samples, m.exemplars, m.outOfOrderSamples, m.truncateDuration,
		m.corruptions, m.replayDuration, m.checkpointDeleteFail, m.checkpointDeleteTotal,
		m.checkpointCreateFail, m.checkpointCreateTotal,
	}
	if r == nil {
		return m, nil
	}
	for i, c := range m.all {
		if err := r.Register(c); err != nil {
			for _, d := range m.all[:i] {
				r.Unregister(d)
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) unregister() {
	if m.r == nil {
		return
	}
	for _, c := range m.all {
		m.r.Unregister(c)
	}
}
