package logs

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	_ "github.com/flow-telemetry/flow/components/loki/echo"
	_ "github.com/flow-telemetry/flow/components/loki/relabel"
	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

// TestAlloyStylePipeline wires the log components as Alloy users do: the
// source's relabel_rules come from a loki.relabel's exported rules, labels
// are given as an attribute, entries go through a loki.relabel chain (and a
// loki.echo) to loki.write. CloudWatch metadata ends up in the labels the
// rules make of it.
func TestAlloyStylePipeline(t *testing.T) {
	lk := startFakeLoki(t)
	port := flowproc.FreePort(t)
	fl := flowtest.Start(t, fmt.Sprintf(`
loki.relabel "cw" {
  forward_to = []
  rule {
    source_labels = ["__aws_cw_log_group"]
    target_label  = "log_group"
  }
  rule {
    source_labels = ["__aws_cw_msg_type"]
    regex         = "CONTROL_MESSAGE"
    action        = "drop"
  }
}

loki.source.awsfirehose "in" {
  http {
    listen_address = "127.0.0.1"
    listen_port    = %d
  }
  labels        = { job = "alloy-style" }
  relabel_rules = loki.relabel.cw.rules
  forward_to    = [loki.relabel.chain.receiver, loki.echo.debug.receiver]
}

loki.relabel "chain" {
  forward_to = [loki.write.out.receiver]
  rule {
    target_label = "pipeline"
    replacement  = "flow"
  }
}

loki.echo "debug" {}

loki.write "out" {
  external_labels = { cluster = "e2e" }
  endpoint {
    url        = %q
    batch_wait = "100ms"
  }
}
`, port, lk.URL()))
	s := &fh.Sender{URL: fmt.Sprintf("http://127.0.0.1:%d/awsfirehose/api/v1/push", port)}
	p := fh.CloudWatchPayload{MessageType: "DATA_MESSAGE", Owner: "1", LogGroup: "/ecs/api", LogStream: "task-1",
		SubscriptionFilters: []string{"all"}, LogEvents: []fh.LogEvent{{ID: "1", Timestamp: time.Now().UnixMilli(), Message: "GET /health 200"}}}
	r, err := s.Send([][]byte{p.Record()})
	if err != nil || r.Status != 200 {
		t.Fatalf("%d %q %v", r.Status, r.ErrorMessage, err)
	}
	if err := lk.WaitForEntries(1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	got := lk.Entries()[0]
	want := model.LabelSet{"job": "alloy-style", "log_group": "/ecs/api", "pipeline": "flow", "cluster": "e2e"}
	if got.Line != "GET /health 200" || !got.Labels.Equal(want) {
		t.Fatalf("got %q %v, want labels %v", got.Line, got.Labels, want)
	}
	fl.WaitHealthy(t, "loki.write.out", 5*time.Second)

	// Debug info encodes for the API and UI.
	for _, id := range []string{"loki.write.out", "loki.source.awsfirehose.in"} {
		d, ok := fl.Runtime().ComponentDetail(id)
		if !ok || d.DebugInfo == nil {
			t.Fatalf("%s: no debug info", id)
		}
		b, _ := json.Marshal(d.DebugInfo)
		if strings.Contains(string(b), `"error"`) {
			t.Fatalf("%s debug info does not encode: %s", id, b)
		}
		t.Logf("%s debug info: %s", id, b)
	}
}
