package logs

import (
	"fmt"
	"strings"
	"testing"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// TestKill9DuringShardedDelivery is TestKill9DuringDelivery with
// queue_config { min_shards = 4 } and one stream per sender (a common
// attribute label): pushes run in parallel, SIGKILL hits mid-delivery, and
// after the restart every acknowledged line has arrived, each stream's
// lines first arriving in the order they were sent.
func TestKill9DuringShardedDelivery(t *testing.T) {
	testwait.Long(t, "kill -9 during sharded delivery")
	lk := startFakeLoki(t)
	port := flowproc.FreePort(t)
	cfg := strings.Replace(pipelineConfig(port, lk.URL()), `max_backoff_period = "2s"`,
		"max_backoff_period = \"2s\"\n    queue_config {\n      min_shards = 4\n    }", 1)
	if !strings.Contains(cfg, "min_shards") {
		t.Fatal("config not rewritten")
	}
	k := kill9DuringDelivery(t, lk, port, cfg, func(url string, i int) *fh.Sender {
		return &fh.Sender{URL: url, CommonAttributes: map[string]string{"lbl_sender": fmt.Sprint(i)}}
	})

	// Per stream (sender), first arrivals are in the order sent.
	type pos struct{ req, rec int }
	seen := map[string]bool{}
	last := map[int]pos{}
	streams := map[string]bool{}
	for _, e := range lk.Entries() {
		streams[string(e.Labels["sender"])] = true
		key := strings.Fields(e.Line)[0]
		if seen[key] {
			continue
		}
		seen[key] = true
		var s, req, rec int
		if _, err := fmt.Sscanf(key, "s%d-r%d-e%d", &s, &req, &rec); err != nil {
			t.Fatalf("line %q: %v", key, err)
		}
		cur := pos{req, rec}
		if l, ok := last[s]; ok && (cur.req < l.req || (cur.req == l.req && cur.rec < l.rec)) {
			t.Fatalf("stream %d: %s first arrived after r%d-e%d", s, key, l.req, l.rec)
		}
		last[s] = cur
	}
	if len(streams) != 4 {
		t.Fatalf("streams %v, want one per sender", streams)
	}
	t.Logf("killed with %d lines acknowledged and %d delivered; after restart all %d acknowledged lines arrived",
		k.ackedAtKill, k.deliveredAtKill, k.acks.count())
}
