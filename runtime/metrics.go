package runtime

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

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
// remembers them so they can be unregistered when the component is removed.
type componentRegisterer struct {
	wrapped prometheus.Registerer

	mu         sync.Mutex
	collectors []prometheus.Collector
}

func newComponentRegisterer(base prometheus.Registerer, id string) *componentRegisterer {
	return &componentRegisterer{wrapped: prometheus.WrapRegistererWith(prometheus.Labels{"component_id": id}, base)}
}

func (c *componentRegisterer) Register(col prometheus.Collector) error {
	if err := c.wrapped.Register(col); err != nil {
		return err
	}
	c.mu.Lock()
	c.collectors = append(c.collectors, col)
	c.mu.Unlock()
	return nil
}

func (c *componentRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, col := range cs {
		if err := c.Register(col); err != nil {
			panic(err)
		}
	}
}

func (c *componentRegisterer) Unregister(col prometheus.Collector) bool {
	c.mu.Lock()
	for i, x := range c.collectors {
		if x == col {
			c.collectors = append(c.collectors[:i], c.collectors[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	return c.wrapped.Unregister(col)
}

// unregisterAll removes every metric the component registered.
func (c *componentRegisterer) unregisterAll() {
	c.mu.Lock()
	cs := c.collectors
	c.collectors = nil
	c.mu.Unlock()
	for _, col := range cs {
		c.wrapped.Unregister(col)
	}
}
