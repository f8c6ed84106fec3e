package scrape

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// Tests of the arguments flow took from Alloy's prometheus.scrape, each
// against a real target (a client_golang registry served over HTTP, which
// negotiates every exposition format and name escaping as real exporters
// do).

// serve exposes reg as a scrape target and returns its address.
func serve(t *testing.T, reg *prometheus.Registry) string {
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// scrapeOf serves cs on a local target and returns a recorder and the
// fast-scraping arguments that forward that target to it.
func scrapeOf(t *testing.T, cs ...prometheus.Collector) (*promtest.Recorder, Arguments) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(cs...)
	rec := promtest.NewRecorder()
	return rec, fastArgs(rec, map[string]string{"__address__": serve(t, reg)})
}

func startScrape(t testing.TB, id string, a Arguments) *Component {
	t.Helper()
	opts, _, _ := promtest.Options(t, id)
	c, err := New(opts, a)
	if err != nil {
		t.Fatal(err)
	}
	promtest.Run(t, c)
	return c
}

func hasSeries(rec *promtest.Recorder, name string) bool {
	for _, s := range rec.Samples() {
		if s.Labels.Get(model.MetricNameLabel) == name {
			return true
		}
	}
	return false
}

// metric_name_validation_scheme and metric_name_escaping_scheme: with
// Alloy's default (legacy validation, underscores) a UTF-8 metric name
// arrives escaped, because the target is asked to escape it; with utf8 and
// allow-utf-8 it arrives as exposed; "dots" asks for Prometheus' dots
// escaping.
func TestMetricNameSchemes(t *testing.T) {
	for _, tc := range []struct {
		validation, escaping, want string
	}{
		{"", "", "http_requests_total_v2"},
		{"legacy", "underscores", "http_requests_total_v2"},
		{"utf8", "", "http.requests.total.v2"},
		{"utf8", "allow-utf-8", "http.requests.total.v2"},
		{"legacy", "dots", "http_dot_requests_dot_total_dot_v2"},
	} {
		t.Run(tc.validation+"/"+tc.escaping, func(t *testing.T) {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "http.requests.total.v2", Help: "A UTF-8 name."})
			g.Set(7)
			rec, a := scrapeOf(t, g)
			if tc.validation != "" {
				a.MetricNameValidationScheme = tc.validation
			}
			a.MetricNameEscapingScheme = tc.escaping
			startScrape(t, "prometheus.scrape.names", a)
			testwait.Eventually(t, 10*time.Second, func() bool { return hasSeries(rec, tc.want) }, "%s", tc.want)
		})
	}
	var a Arguments
	a.SetToDefault()
	a.MetricNameEscapingScheme = "allow-utf-8"
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "metric_name_validation_scheme") {
		t.Errorf("allow-utf-8 with legacy validation: %v, want an error naming metric_name_validation_scheme", err)
	}
}

// scrape_failure_log_file gets a JSON line for each failed scrape.
func TestScrapeFailureLogFile(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "exporter broken", http.StatusInternalServerError)
	}))
	defer bad.Close()
	file := filepath.Join(t.TempDir(), "failures.log")
	rec := promtest.NewRecorder()
	a := fastArgs(rec, map[string]string{"__address__": strings.TrimPrefix(bad.URL, "http://")})
	a.ScrapeFailureLogFile = file
	startScrape(t, "prometheus.scrape.failures", a)
	testwait.Eventually(t, 10*time.Second, func() bool {
		b, _ := os.ReadFile(file)
		return strings.Contains(string(b), "500") && strings.Contains(string(b), strings.TrimPrefix(bad.URL, "http://")) && strings.HasPrefix(string(b), "{")
	}, "a failure line in %s", file)
}

// honor_metadata passes each family's type and help downstream; off (the
// default) passes none. Turning it on in an update replaces Prometheus'
// scrape manager, which takes it only at creation.
func TestHonorMetadata(t *testing.T) {
	tg := newTarget(t, "meta_gauge", 3)
	rec := promtest.NewRecorder()
	a := fastArgs(rec, map[string]string{"__address__": tg.addr()})
	c := startScrape(t, "prometheus.scrape.meta", a)
	testwait.Eventually(t, 10*time.Second, func() bool { return hasSeries(rec, "meta_gauge") }, "meta_gauge scraped")
	if _, ok := rec.MetadataFor("meta_gauge"); ok {
		t.Fatal("metadata passed downstream with honor_metadata = false")
	}
	a.HonorMetadata = true
	if err := c.Update(a); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 10*time.Second, func() bool {
		m, ok := rec.MetadataFor("meta_gauge")
		return ok && string(m.Type) == "gauge" && m.Help == "A test gauge."
	}, "meta_gauge metadata")
}

// enable_type_and_unit_labels adds __type__ (and __unit__ when known).
func TestTypeAndUnitLabels(t *testing.T) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "io_bytes_total", Help: "Bytes."})
	c.Add(5)
	rec, a := scrapeOf(t, c)
	a.EnableTypeAndUnitLabels = true
	startScrape(t, "prometheus.scrape.types", a)
	testwait.Eventually(t, 10*time.Second, func() bool {
		for _, s := range rec.Samples() {
			if s.Labels.Get(model.MetricNameLabel) == "io_bytes_total" && s.Labels.Get("__type__") == "counter" {
				return true
			}
		}
		return false
	}, `io_bytes_total{__type__="counter"}`)
}

// A target with a broken Content-Type is read with scrape_fallback_protocol,
// which defaults to PrometheusText0.0.4 as in Alloy (Prometheus 3 alone
// fails such scrapes).
func TestScrapeFallbackProtocolDefault(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/weird")
		_, _ = w.Write([]byte("# TYPE legacy_gauge gauge\nlegacy_gauge 9\n"))
	}))
	defer srv.Close()
	rec := promtest.NewRecorder()
	a := fastArgs(rec, map[string]string{"__address__": strings.TrimPrefix(srv.URL, "http://")})
	startScrape(t, "prometheus.scrape.fallback", a)
	testwait.Eventually(t, 10*time.Second, func() bool { return hasSeries(rec, "legacy_gauge") }, "legacy_gauge")
}

// nativeTarget exposes one histogram with both a native and a classic form.
func nativeTarget(t *testing.T) string {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "rpc_seconds", Help: "RPC latency.",
		Buckets:                     []float64{0.1, 1, 10},
		NativeHistogramBucketFactor: 1.01, // fine: schema 6
	})
	for i := 1; i <= 200; i++ {
		h.Observe(float64(i) / 37)
	}
	reg.MustRegister(h)
	return serve(t, reg)
}

func histogramsOf(rec *promtest.Recorder, name string) []promtest.Histogram {
	var out []promtest.Histogram
	for _, h := range rec.Histograms() {
		if h.Labels.Get(model.MetricNameLabel) == name {
			out = append(out, h)
		}
	}
	return out
}

func schemaOf(h promtest.Histogram) int32 {
	if h.H != nil {
		return h.H.Schema
	}
	return h.FH.Schema
}

// scrape_native_histograms reads native histograms (protobuf is offered
// first); scrape_classic_histograms also keeps the bucket series;
// native_histogram_bucket_limit and native_histogram_min_bucket_factor
// lower the resolution.
func TestNativeHistogramArguments(t *testing.T) {
	addr := nativeTarget(t)

	rec := promtest.NewRecorder()
	a := fastArgs(rec, map[string]string{"__address__": addr})
	a.ScrapeNativeHistograms = true
	startScrape(t, "prometheus.scrape.native", a)
	testwait.Eventually(t, 10*time.Second, func() bool { return len(histogramsOf(rec, "rpc_seconds")) > 0 }, "a native rpc_seconds")
	fine := schemaOf(histogramsOf(rec, "rpc_seconds")[0])
	if hasSeries(rec, "rpc_seconds_bucket") {
		t.Error("classic buckets kept without scrape_classic_histograms")
	}

	rec2 := promtest.NewRecorder()
	a2 := fastArgs(rec2, map[string]string{"__address__": addr})
	a2.ScrapeNativeHistograms = true
	a2.ScrapeClassicHistograms = true
	a2.NativeHistogramBucketLimit = 4
	startScrape(t, "prometheus.scrape.native2", a2)
	testwait.Eventually(t, 10*time.Second, func() bool {
		return len(histogramsOf(rec2, "rpc_seconds")) > 0 && hasSeries(rec2, "rpc_seconds_bucket")
	}, "native and classic rpc_seconds")
	h := histogramsOf(rec2, "rpc_seconds")[0]
	if s := schemaOf(h); s >= fine {
		t.Errorf("native_histogram_bucket_limit = 4: schema %d, want below the exposed %d", s, fine)
	}
	if h.H != nil {
		n := 0
		for _, sp := range h.H.PositiveSpans {
			n += int(sp.Length)
		}
		if n > 4 {
			t.Errorf("native_histogram_bucket_limit = 4: %d buckets spanned", n)
		}
	}

	rec3 := promtest.NewRecorder()
	a3 := fastArgs(rec3, map[string]string{"__address__": addr})
	a3.ScrapeNativeHistograms = true
	a3.NativeHistogramMinBucketFactor = 1.5 // schema 0 or coarser
	startScrape(t, "prometheus.scrape.native3", a3)
	testwait.Eventually(t, 10*time.Second, func() bool { return len(histogramsOf(rec3, "rpc_seconds")) > 0 }, "a coarse rpc_seconds")
	if s := schemaOf(histogramsOf(rec3, "rpc_seconds")[0]); s > 0 {
		t.Errorf("native_histogram_min_bucket_factor = 1.5: schema %d, want 0 or less", s)
	}

	a.ScrapeProtocols = []string{"OpenMetricsText1.0.0"}
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "PrometheusProto") {
		t.Errorf("native histograms without PrometheusProto: %v, want an error naming PrometheusProto", err)
	}
}

// convert_classic_histograms_to_nhcb turns a classic histogram into a
// native histogram with custom buckets (schema -53), from the text format.
func TestConvertClassicHistogramsToNHCB(t *testing.T) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "job_seconds", Help: "Job time.", Buckets: []float64{1, 5, 30}})
	h.Observe(3)
	h.Observe(20)
	rec, a := scrapeOf(t, h)
	a.ConvertClassicHistogramsToNHCB = true
	startScrape(t, "prometheus.scrape.nhcb", a)
	testwait.Eventually(t, 10*time.Second, func() bool {
		for _, hs := range histogramsOf(rec, "job_seconds") {
			if schemaOf(hs) == histogram.CustomBucketsSchema {
				return true
			}
		}
		return false
	}, "job_seconds as NHCB")
}

// start_timestamp_zero_ingestion writes a zero sample at a counter's start
// timestamp, which client_golang exposes in the protobuf format.
func TestStartTimestampZeroIngestion(t *testing.T) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "jobs_done_total", Help: "Jobs."})
	c.Add(3)
	rec, a := scrapeOf(t, c)
	a.ScrapeProtocols = []string{"PrometheusProto"}
	a.StartTimestampZeroIngestion = true
	startScrape(t, "prometheus.scrape.st", a)
	testwait.Eventually(t, 10*time.Second, func() bool {
		for _, s := range rec.STZeroSamples() {
			if s.Labels.Get(model.MetricNameLabel) == "jobs_done_total" && s.T > 0 {
				return true
			}
		}
		return false
	}, "a zero sample for jobs_done_total")
}

// enable_protobuf_negotiation still works (protobuf first, native
// histograms) and says it is deprecated, as Alloy does.
func TestEnableProtobufNegotiationDeprecated(t *testing.T) {
	var logs lockedLog
	opts, _, _ := promtest.Options(t, "prometheus.scrape.protoneg")
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	tg := newTarget(t, "proto_gauge", 1)
	rec := promtest.NewRecorder()
	a := fastArgs(rec, map[string]string{"__address__": tg.addr()})
	a.EnableProtobufNegotiation = true
	c, err := New(opts, a)
	if err != nil {
		t.Fatal(err)
	}
	promtest.Run(t, c)
	if !strings.Contains(logs.String(), "enable_protobuf_negotiation is deprecated") {
		t.Errorf("no deprecation warning:\n%s", logs.String())
	}
	testwait.Eventually(t, 10*time.Second, func() bool {
		return strings.HasPrefix(tg.lastContentType(), "application/vnd.google.protobuf")
	}, "a protobuf scrape")
	a.ScrapeProtocols = []string{"PrometheusText0.0.4"}
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "enable_protobuf_negotiation") {
		t.Errorf("both set: %v, want an error", err)
	}
}

type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
