package remotewrite

import (
	"testing"
	"time"
)

// The live path still stands on details of Prometheus' storage/remote that
// are not public API (queues.go, watchers.go; issue 14 replaces them with
// flow's own queue). Each assumption is checked here, so that a Prometheus
// upgrade that breaks one fails this test by name instead of showing up as
// lost or duplicated samples.
func TestPrometheusInternalsAssumptions(t *testing.T) {
	r1, r2 := newReceiver(t), newReceiver(t)
	args := testArgs(r1.URL())
	second := args.Endpoints[0]
	second.Name, second.URL = "second", testArgs(r2.URL()).Endpoints[0].URL
	second.ProtobufMessage = "io.prometheus.write.v2.Request"
	args.Endpoints = append(args.Endpoints, second)
	c, _, _ := start(t, args)

	// queues.go: WriteStorage keeps its queues in a field `queues` keyed by
	// the MD5 of each configuration's YAML (storage/remote.toHash).
	queues, err := queuesOf(c.remote)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	applied := c.applied
	c.mu.Unlock()
	if len(queues) != len(applied) {
		t.Fatalf("%d queues for %d endpoints", len(queues), len(applied))
	}
	for _, rc := range applied {
		h, err := queueHash(rc)
		if err != nil {
			t.Fatal(err)
		}
		if queues[h] == nil {
			t.Fatalf("no queue for endpoint %q under its hash %s: storage/remote.toHash changed", rc.Name, h)
		}
	}

	// watchers.go: a started WAL watcher keeps a segment open, which is how
	// flow learns it has taken its start time. Without that, waitWatchers
	// would wait its 10 s fallback and log a warning.
	start := time.Now()
	c.waitWatchers(len(applied))
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("waitWatchers took %s: the WAL watchers no longer show as open segment files", d)
	}
	if n, ok := openFilesUnder(c.walDir() + "/"); ok && n < 1+len(applied) {
		t.Fatalf("%d open files under the WAL, want the writer's segment and one per watcher (%d)", n, 1+len(applied))
	}
}
