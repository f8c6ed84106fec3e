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
	r := newReceiver(t)
	var check *fakeaws.SigV4Handler
	r.Wrap(func(next http.Handler) http.Handler {
		check = f.RequireSigV4(next, "aps", f.Region())
		return check
	})
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

	r := newReceiver(t)
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
