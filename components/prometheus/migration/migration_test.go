package migration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promproc"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
)

func TestMain(m *testing.M) { flowproc.Main(m) }

// TestPrometheusYAMLEndToEnd runs a prometheus.yml with the real flow
// binary (--config.format=prometheus): it scrapes a real node_exporter,
// keeps three metric families with metric_relabel_configs, adds the global
// external labels, and delivers to a real Prometheus' remote-write
// receiver. A SIGHUP re-reads and re-converts the YAML.
func TestPrometheusYAMLEndToEnd(t *testing.T) {
	node := promproc.StartNodeExporter(t)
	prom := promproc.StartPrometheus(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	write := func(env string) {
		t.Helper()
		yml := fmt.Sprintf(`global:
  scrape_interval: 1s
  external_labels:
    migrated_from: prometheus
    env: %s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: [%q]
        labels:
          team: sre
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: "node_(load1|uname_info|cpu_seconds_total)"
        action: keep
remote_write:
  - url: %s/api/v1/write
    queue_config:
      batch_send_deadline: 1s
`, env, node.Addr, prom.URL())
		if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("staging")
	flow := flowproc.Start(t, "--config.format=prometheus", cfg)

	waitSeries(t, prom, `node_load1{job="node",team="sre",migrated_from="prometheus",env="staging"}`)
	waitSeries(t, prom, `node_uname_info{job="node",env="staging"}`)
	// Everything else was dropped by the keep rule.
	if s, err := promproc.Query(prom, `count({job="node",__name__=~"node_memory_.*"})`); err != nil || len(s) != 0 {
		t.Errorf("node_memory_* reached Prometheus despite the keep rule: %v %v", s, err)
	}

	// Edit the YAML and reload: the new external label arrives.
	write("production")
	if err := flow.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitSeries(t, prom, `node_load1{job="node",env="production"}`)
	if !strings.Contains(flow.Stderr(), "config reloaded on SIGHUP") {
		t.Errorf("no reload in flow's log:\n%s", flow.Stderr())
	}
}

// waitSeries polls Prometheus until q returns a series; the deadline is
// generous because CI machines are shared.
func waitSeries(t *testing.T, prom *promproc.Process, q string) {
	t.Helper()
	var last error
	if _, ok := testwait.Poll(90*time.Second, func() bool {
		s, err := promproc.Query(prom, q)
		last = err
		return err == nil && len(s) > 0
	}); !ok {
		t.Fatalf("no series for %s after 90s (last error: %v)", q, last)
	}
}
