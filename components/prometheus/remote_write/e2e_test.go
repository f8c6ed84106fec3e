package remotewrite

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promproc"
	_ "github.com/flow-telemetry/flow/components/prometheus/relabel"
	_ "github.com/flow-telemetry/flow/components/prometheus/scrape"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

// TestNodeExporterToPrometheus is the metrics pipeline end to end with real
// processes: Debian's prometheus-node-exporter is scraped by
// prometheus.scrape, relabelled by prometheus.relabel and written by
// prometheus.remote_write to Debian's prometheus (remote-write receiver);
// then Prometheus' HTTP API must show node_* series with the relabelled
// labels and values that match this machine.
func TestNodeExporterToPrometheus(t *testing.T) {
	prom := promproc.StartPrometheus(t)
	ne := promproc.StartNodeExporter(t)

	fl := flowtest.Start(t, fmt.Sprintf(`
prometheus.scrape "node" {
  targets         = [{"__address__" = %q, "env" = "e2e"}]
  forward_to      = [prometheus.relabel.node.receiver]
  scrape_interval = "1s"
  scrape_timeout  = "900ms"
}

prometheus.relabel "node" {
  forward_to = [prometheus.remote_write.prom.receiver]

  // Keep a few node_* families and up, drop the rest.
  rule {
    source_labels = ["__name__"]
    regex         = "node_(load1|memory_MemTotal_bytes|cpu_seconds_total|boot_time_seconds)|up"
    action        = "keep"
  }
  rule {
    target_label = "pipeline"
    replacement  = "flow"
  }
  rule {
    source_labels = ["instance"]
    regex         = "([^:]+):.*"
    target_label  = "host"
  }
  rule {
    action = "labeldrop"
    regex  = "env"
  }
}

prometheus.remote_write "prom" {
  external_labels = {cluster = "e2e"}
  endpoint {
    url = %q
    queue_config {
      batch_send_deadline = "500ms"
    }
  }
}
`, ne.Addr, prom.URL()+"/api/v1/write"))
	fl.WaitHealthy(t, "prometheus.remote_write.prom", 10*time.Second)

	sel := `{pipeline="flow", host="127.0.0.1", cluster="e2e", job="prometheus.scrape.node"}`
	query := func(q string) []promproc.Sample {
		t.Helper()
		res, err := promproc.Query(prom, q)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	testwait.Eventually(t, 60*time.Second, func() bool {
		return len(query("node_memory_MemTotal_bytes"+sel)) == 1 && len(query("node_load1"+sel)) == 1
	}, "node_* series with relabelled labels in Prometheus")

	// Plausible values: MemTotal is this machine's, CPU time grows, boot
	// time is in the past, up is 1.
	mem := query("node_memory_MemTotal_bytes" + sel)[0].Value
	if want := memTotal(t); mem != want {
		t.Errorf("node_memory_MemTotal_bytes = %v, /proc/meminfo says %v", mem, want)
	}
	if load := query("node_load1" + sel)[0].Value; load < 0 || load > 1000 {
		t.Errorf("node_load1 = %v", load)
	}
	if boot := query("node_boot_time_seconds" + sel); len(boot) != 1 || boot[0].Value <= 0 || boot[0].Value > float64(time.Now().Unix()) {
		t.Errorf("node_boot_time_seconds = %v", boot)
	}
	cpu := query(`sum(node_cpu_seconds_total` + sel + `)`)
	if len(cpu) != 1 || cpu[0].Value <= 0 {
		t.Fatalf("sum(node_cpu_seconds_total) = %v", cpu)
	}
	testwait.Eventually(t, 30*time.Second, func() bool {
		rate := query(`sum(rate(node_cpu_seconds_total` + sel + `[15s]))`)
		return len(rate) == 1 && rate[0].Value > 0
	}, "node_cpu_seconds_total increasing")
	if up := query("up" + sel); len(up) != 1 || up[0].Value != 1 {
		t.Errorf("up = %v, want one series at 1", up)
	}

	// The rules did their job: no other family, no env label.
	if other := query(`count({__name__=~"node_.+", pipeline="flow", __name__!~"node_(load1|memory_MemTotal_bytes|cpu_seconds_total|boot_time_seconds)"})`); len(other) != 0 {
		t.Errorf("families the keep rule should drop arrived: %v", other)
	}
	if withEnv := query(`count({pipeline="flow", env!=""})`); len(withEnv) != 0 {
		t.Errorf("series kept the dropped env label: %v", withEnv)
	}
	for _, s := range query("node_load1" + sel) {
		if s.Metric["instance"] != ne.Addr {
			t.Errorf("instance label %q, want %q", s.Metric["instance"], ne.Addr)
		}
	}
}

// memTotal reads MemTotal from /proc/meminfo, in bytes.
func memTotal(t *testing.T) float64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb * 1024
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}
