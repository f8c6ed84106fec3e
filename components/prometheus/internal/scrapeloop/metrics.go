package scrapeloop

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the scrape loop's own metrics, under Prometheus' names (the
// ones a scrape manager registers per loop and pool), so dashboards and
// alerts on them keep working.
type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	intervalLength            *prometheus.SummaryVec
	sampleLimit               prometheus.Counter
	sampleDuplicate           prometheus.Counter
	sampleOutOfOrder          prometheus.Counter
	sampleOutOfBounds         prometheus.Counter
	exemplarOutOfOrder        prometheus.Counter
	exceededLabelLimits       prometheus.Counter
	nativeHistogramBucketLimt prometheus.Counter
	exceededBodySizeLimit     prometheus.Counter
	cacheFlushForced          prometheus.Counter
	exceededTargetLimit       prometheus.Counter
	poolTargets               *prometheus.GaugeVec
	poolTargetLimit           *prometheus.GaugeVec
	syncFailed                *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &metrics{
		reg: reg,
		intervalLength: prometheus.NewSummaryVec(prometheus.SummaryOpts{
			Name:       "prometheus_target_interval_length_seconds",
			Help:       "Actual intervals between scrapes.",
			Objectives: map[float64]float64{0.01: 0.001, 0.05: 0.005, 0.5: 0.05, 0.90: 0.01, 0.99: 0.001},
		}, []string{"interval"}),
		sampleLimit:               counter("prometheus_target_scrapes_exceeded_sample_limit_total", "Total number of scrapes that hit the sample limit and were rejected."),
		sampleDuplicate:           counter("prometheus_target_scrapes_sample_duplicate_timestamp_total", "Total number of samples rejected due to duplicate timestamps but different values."),
		sampleOutOfOrder:          counter("prometheus_target_scrapes_sample_out_of_order_total", "Total number of samples rejected due to not being out of the expected order."),
		sampleOutOfBounds:         counter("prometheus_target_scrapes_sample_out_of_bounds_total", "Total number of samples rejected due to timestamp falling outside of the time bounds."),
		exemplarOutOfOrder:        counter("prometheus_target_scrapes_exemplar_out_of_order_total", "Total number of exemplar rejected due to not being out of the expected order."),
		exceededLabelLimits:       counter("prometheus_target_scrape_pool_exceeded_label_limits_total", "Total number of times scrape pools hit the label limits, during sync or config reload."),
		nativeHistogramBucketLimt: counter("prometheus_target_scrapes_exceeded_native_histogram_bucket_limit_total", "Total number of scrapes that hit the native histogram bucket limit and were rejected."),
		exceededBodySizeLimit:     counter("prometheus_target_scrapes_exceeded_body_size_limit_total", "Total number of scrapes that hit the body size limit"),
		cacheFlushForced:          counter("prometheus_target_scrapes_cache_flush_forced_total", "How many times a scrape cache was flushed due to getting big while scrapes are failing."),
		exceededTargetLimit:       counter("prometheus_target_scrape_pool_exceeded_target_limit_total", "Total number of times scrape pools hit the target limit, during sync or config reload."),
		poolTargets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "prometheus_target_scrape_pool_targets",
			Help: "Current number of targets in this scrape pool.",
		}, []string{"scrape_job"}),
		poolTargetLimit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "prometheus_target_scrape_pool_target_limit",
			Help: "Maximum number of targets allowed in this scrape pool.",
		}, []string{"scrape_job"}),
		syncFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prometheus_target_sync_failed_total",
			Help: "Total number of target sync failures.",
		}, []string{"scrape_job"}),
	}
	m.collectors = []prometheus.Collector{
		m.intervalLength, m.sampleLimit, m.sampleDuplicate, m.sampleOutOfOrder, m.sampleOutOfBounds,
		m.exemplarOutOfOrder, m.exceededLabelLimits, m.nativeHistogramBucketLimt, m.exceededBodySizeLimit,
		m.cacheFlushForced, m.exceededTargetLimit, m.poolTargets, m.poolTargetLimit, m.syncFailed,
	}
	if reg != nil {
		for i, c := range m.collectors {
			if err := reg.Register(c); err != nil {
				for _, r := range m.collectors[:i] {
					reg.Unregister(r)
				}
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}
