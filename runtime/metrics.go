package runtime

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flow-telemetry/flow/internal/promreg"
	"github.com/flow-telemetry/flow/runtime/component"
)

// metrics are the runtime's own metrics.
type metrics struct {
	evalSeconds    prometheus.Histogram
	reloads        *prometheus.CounterVec
	lastReloadTime prometheus.Gauge
	configHash     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, r *Runtime) *metrics {
	m := &metrics{
		evalSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "flow_component_evaluation_seconds",
			Help:    "Time taken to evaluate a component's arguments and apply them (Build or Update).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30},
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flow_config_reloads_total",
			Help: "Config loads by outcome (success or failure); the initial load counts.",
		}, []string{"outcome"}),
		lastReloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flow_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful config load.",
		}),
		configHash: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flow_config_hash",
			Help: "Always 1; the sha256 label is the hash of the running config files.",
		}, []string{"sha256"}),
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	for _, c := range []prometheus.Collector{m.evalSeconds, m.reloads, m.lastReloadTime, m.configHash, &healthCollector{r}} {
		// A second runtime on the same registry (tests) keeps the first one's
		// metrics; that is not worth failing for.
		_ = reg.Register(c)
	}
	return m
}

// healthCollector reports components by health at scrape time, so the gauge
// can never drift from the health the API shows.
type healthCollector struct{ r *Runtime }

var componentsDesc = prometheus.NewDesc("flow_components", "Number of components by health.", []string{"health"}, nil)

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- componentsDesc }

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[component.HealthType]int{}
	for _, n := range c.r.graph.Load().nodes {
		counts[n.st.health().Health]++
	}
	for _, h := range []component.HealthType{component.HealthHealthy, component.HealthUnhealthy, component.HealthUnknown, component.HealthExited} {
		ch <- prometheus.MustNewConstMetric(componentsDesc, prometheus.GaugeValue, float64(counts[h]), h.String())
	}
}

// componentRegisterer gives a component's metrics a component_id label and
// remembers them so they can be unregistered when the component is removed
// (UnregisterAll).
type componentRegisterer = promreg.Tracking

func newComponentRegisterer(base prometheus.Registerer, id string) *componentRegisterer {
	return promreg.NewTracking(prometheus.WrapRegistererWith(prometheus.Labels{"component_id": id}, base))
}
