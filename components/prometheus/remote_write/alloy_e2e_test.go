package remotewrite

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flow-telemetry/flow/components/prometheus/internal/appendable"
	"github.com/flow-telemetry/flow/components/prometheus/internal/rwtest"
	prometheusrelabel "github.com/flow-telemetry/flow/components/prometheus/relabel"
	_ "github.com/flow-telemetry/flow/components/prometheus/scrape"
	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

// Alloy's Amazon Managed Service for Prometheus config, unchanged: `sigv4`
// with only a region and static keys. Every request is signed for the
// service "aps" (checked by the fake AWS against its keys) and the samples
// arrive.
func TestAlloyAMPConfigSignsForAPS(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	key := f.AddUser("agent")
	r, check := signedReceiver(t, f, "aps", f.Region())
	fl := flowtest.Start(t, fmt.Sprintf(`
prometheus.remote_write "amp" {
  endpoint {
    url = %q
    queue_config {
      batch_send_deadline = "100ms"
    }
    sigv4 {
      region     = %q
      access_key = %q
      secret_key = %q
    }
  }
}
`, r.URL(), f.Region(), key.AccessKeyID, key.SecretAccessKey))
	recv := fl.Exports("prometheus.remote_write.amp").(Exports).Receiver
	g := newGenerator(recv, 3)
	g.warmUp(t, r)
	g.tick(t)
	waitAll(t, g, r, 20*time.Second)
	if st := check.Stats(); st.Accepted == 0 || st.Rejected != 0 {
		t.Fatalf("signature checks: %d accepted, %d rejected (%q)", st.Accepted, st.Rejected, st.LastRejection)
	}
	if h := fl.Health("prometheus.remote_write.amp"); h.Health != component.HealthHealthy {
		t.Errorf("health %s: %s", h.Health, h.Message)
	}
}

// prometheus.scrape with honor_metadata feeding prometheus.remote_write
// with a Remote-Write 1.0 endpoint: each family's type and help reach the
// receiver, as Prometheus sends them from its own scrape manager.
func TestScrapeMetadataReachesRemoteWrite1(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "jobs_done_total", Help: "Jobs done."})
	c.Inc()
	reg.MustRegister(c)
	target := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer target.Close()

	r := rwtest.Start(t)
	flowtest.Start(t, fmt.Sprintf(`
prometheus.scrape "app" {
  targets         = [{"__address__" = %q}]
  forward_to      = [prometheus.remote_write.out.receiver]
  scrape_interval = "200ms"
  scrape_timeout  = "150ms"
  honor_metadata  = true
  scrape_protocols = ["PrometheusText0.0.4"]
}

prometheus.remote_write "out" {
  endpoint {
    url = %q
    queue_config {
      batch_send_deadline = "100ms"
    }
    metadata_config {
      send_interval = "200ms"
    }
  }
}
`, strings.TrimPrefix(target.URL, "http://"), r.URL()))
	testwait.Eventually(t, 20*time.Second, func() bool {
		return slices.Contains(metadataSeen(r), "jobs_done_total counter Jobs done.")
	}, "jobs_done_total's metadata at the receiver; seen %v", metadataSeen(r))
}

// metadataExporter serves an OpenMetrics exposition with a counter and a
// gauge that has a unit.
func metadataExporter(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
		fmt.Fprint(w, `# HELP jobs_done Jobs done.
# TYPE jobs_done counter
jobs_done_total 3
# HELP room_temperature_celsius Room temperature.
# TYPE room_temperature_celsius gauge
# UNIT room_temperature_celsius celsius
room_temperature_celsius 21.5
# EOF
`)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func metadataPipeline(target, url, endpointExtra string) string {
	return fmt.Sprintf(`
prometheus.scrape "app" {
  targets          = [{"__address__" = %q}]
  forward_to       = [prometheus.relabel.keep.receiver]
  scrape_interval  = "200ms"
  scrape_timeout   = "150ms"
  scrape_protocols = ["OpenMetricsText1.0.0"]
}

prometheus.relabel "keep" {
  forward_to = [prometheus.remote_write.out.receiver]
  rule {
    action        = "keep"
    source_labels = ["__name__"]
    regex         = ".+"
  }
}

prometheus.remote_write "out" {
  endpoint {
    url = %q
    queue_config {
      batch_send_deadline = "100ms"
    }
%s
  }
}
`, target, url, endpointExtra)
}

// Without honor_metadata, a scrape still appends metadata when a
// prometheus.remote_write downstream (here behind prometheus.relabel) sends
// it: Remote-Write 1.0 with the default metadata_config sends each family's
// type and help, 2.0 carries type, help and unit with each series. Checked
// by decoding the requests the receiver got.
func TestScrapeMetadataWhenRemoteWriteSendsIt(t *testing.T) {
	target := metadataExporter(t)
	t.Run("1.0", func(t *testing.T) {
		r := rwtest.Start(t)
		flowtest.Start(t, metadataPipeline(target, r.URL(), `    metadata_config {
      send_interval = "200ms"
    }`))
		testwait.Eventually(t, 20*time.Second, func() bool {
			seen := metadataSeen(r)
			return slices.Contains(seen, "room_temperature_celsius gauge Room temperature.") &&
				slices.ContainsFunc(seen, func(e string) bool {
					return strings.HasPrefix(e, "jobs_done") && strings.HasSuffix(e, " counter Jobs done.")
				})
		}, "both families' metadata at the 1.0 receiver; seen %v", metadataSeen(r))
	})
	t.Run("2.0", func(t *testing.T) {
		r := rwtest.Start(t)
		flowtest.Start(t, metadataPipeline(target, r.URL(), `    protobuf_message = "io.prometheus.write.v2.Request"`))
		testwait.Eventually(t, 20*time.Second, func() bool {
			seen := metadataSeen(r)
			return slices.Contains(seen, "room_temperature_celsius gauge Room temperature. unit=celsius") &&
				slices.Contains(seen, "jobs_done_total counter Jobs done.")
		}, "type, help and unit with the 2.0 series; seen %v", metadataSeen(r))
	})
}

// A remote_write whose only endpoint sends no metadata does not get it
// appended (the scrape asks: Receiver.UsesMetadata); when the endpoint is
// changed to one that sends it, the scrape notices by itself (nothing
// updates it) and metadata reaches the receiver.
func TestScrapeMetadataFollowsRemoteWriteChange(t *testing.T) {
	target := metadataExporter(t)
	r := rwtest.Start(t)
	fl := flowtest.Start(t, metadataPipeline(target, r.URL(), `    metadata_config {
      send          = false
      send_interval = "200ms"
    }`))
	recv := fl.Exports("prometheus.remote_write.out").(Exports).Receiver.(*Receiver)
	if recv.UsesMetadata() {
		t.Fatal("UsesMetadata is true with metadata_config { send = false } on the only (1.0) endpoint")
	}
	rel := fl.Exports("prometheus.relabel.keep").(prometheusrelabel.Exports).Receiver.(appendable.MetadataUser)
	if rel.UsesMetadata() {
		t.Fatal("prometheus.relabel says metadata is used, its only receiver does not use it")
	}
	testwait.Eventually(t, 20*time.Second, func() bool { return r.Stats().Samples > 10 }, "samples at the receiver")
	if seen := metadataSeen(r); len(seen) != 0 {
		t.Fatalf("metadata sent with send = false: %v", seen)
	}
	// Only the remote_write changes: Update it directly, so that the
	// runtime has no reason to touch the scrape.
	comp := fl.Component("prometheus.remote_write.out").(*Component)
	comp.mu.Lock()
	a := comp.args
	comp.mu.Unlock()
	a.Endpoints = slices.Clone(a.Endpoints)
	a.Endpoints[0].ProtobufMessage = "io.prometheus.write.v2.Request"
	if err := comp.Update(a); err != nil {
		t.Fatal(err)
	}
	if !recv.UsesMetadata() || !rel.UsesMetadata() {
		t.Fatalf("after the change to 2.0: remote_write uses metadata %v, relabel %v; want both true", recv.UsesMetadata(), rel.UsesMetadata())
	}
	testwait.Eventually(t, 20*time.Second, func() bool {
		return slices.Contains(metadataSeen(r), "room_temperature_celsius gauge Room temperature. unit=celsius")
	}, "metadata after the endpoint changed to 2.0; seen %v", metadataSeen(r))
}
