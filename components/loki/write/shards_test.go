package write

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/loki/write/internal/wal"
	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// concurrency wraps fakeloki's handler: it delays each push, counts the
// pushes in flight at once, and fails the pushes of one tenant while
// failTenant says so.
type concurrency struct {
	delay      time.Duration
	inFlight   atomic.Int64
	peak       atomic.Int64
	failTenant atomic.Value // string; "" fails nothing
	failed     atomic.Int64
}

func (c *concurrency) wrap(h http.Handler) http.Handler {
	c.failTenant.Store("")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := c.inFlight.Add(1)
		defer c.inFlight.Add(-1)
		for {
			p := c.peak.Load()
			if n <= p || c.peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(c.delay)
		if ft := c.failTenant.Load().(string); ft != "" && r.Header.Get("X-Scope-OrgID") == ft {
			c.failed.Add(1)
			http.Error(w, "slow shard", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func startConcurrentLoki(t *testing.T, c *concurrency) *fakeloki.Server {
	t.Helper()
	s, err := fakeloki.Start(fakeloki.Options{Wrap: c.wrap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// sendStreams sends perStream entries to each of streams streams, one Send
// per round with an entry of every stream, numbered in order per stream.
func sendStreams(h *harness, streams, perStream int, tenant func(i int) string) {
	for j := 0; j < perStream; j++ {
		h.send(roundOf(streams, j, tenant)...)
	}
}

// roundOf is entry j of each stream.
func roundOf(streams, j int, tenant func(i int) string) []loki.Entry {
	ts := time.Unix(1700000000, 0)
	var batch []loki.Entry
	for i := 0; i < streams; i++ {
		ls := model.LabelSet{"job": "shards", "stream": model.LabelValue(fmt.Sprint(i))}
		if tenant != nil {
			ls[loki.TenantLabel] = model.LabelValue(tenant(i))
		}
		batch = append(batch, entry(fmt.Sprintf("s%02d-%05d", i, j), ts.Add(time.Duration(j)), ls))
	}
	return batch
}

// checkStreamOrder fails unless every stream has all perStream entries,
// each exactly in the order sent (duplicates from a replay may follow an
// entry, never precede a missing one).
func checkStreamOrder(t *testing.T, got []fakeloki.Entry, streams, perStream int) {
	t.Helper()
	next := map[string]int{}
	for _, e := range got {
		var s, j int
		if _, err := fmt.Sscanf(e.Line, "s%02d-%05d", &s, &j); err != nil {
			t.Fatalf("unexpected line %q", e.Line)
		}
		k := fmt.Sprint(s)
		switch {
		case j == next[k]:
			next[k]++
		case j < next[k]: // a resend after a replay
		default:
			t.Fatalf("stream %d: entry %d arrived before entry %d", s, j, next[k])
		}
	}
	for i := 0; i < streams; i++ {
		if n := next[fmt.Sprint(i)]; n != perStream {
			t.Errorf("stream %d: %d of %d entries in order", i, n, perStream)
		}
	}
}

// With min_shards = 4, pushes run in parallel and every stream still
// arrives in order; with 1, one push at a time.
func TestShardsPushInParallelKeepingStreamOrder(t *testing.T) {
	for _, shards := range []int{1, 4} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			c := &concurrency{delay: 20 * time.Millisecond}
			lk := startConcurrentLoki(t, c)
			args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) {
				e.QueueConfig.MinShards = shards
				e.BatchSize = 2 << 10 // many small pushes
				e.BatchWait = 20 * time.Millisecond
			}))
			h := start(t, t.TempDir(), args)
			const streams, perStream = 16, 300
			sendStreams(h, streams, perStream, nil)
			if err := lk.WaitForEntries(streams*perStream, 60*time.Second); err != nil {
				t.Fatal(err)
			}
			checkStreamOrder(t, lk.Entries(), streams, perStream)
			peak := c.peak.Load()
			if shards == 1 && peak != 1 {
				t.Fatalf("%d pushes in flight at once with one shard", peak)
			}
			if shards > 1 && peak < 2 {
				t.Fatalf("at most %d push in flight at once with %d shards", peak, shards)
			}
		})
	}
}

// A shard whose pushes keep failing holds back the committed WAL position
// (the low watermark) while the other shards deliver; a crash then loses
// none of its entries, and their replay keeps every stream in order.
func TestFailingShardHoldsWatermarkAndLosesNothing(t *testing.T) {
	c := &concurrency{delay: time.Millisecond}
	lk := startConcurrentLoki(t, c)
	dir := t.TempDir()
	const shards, streams, perStream = 4, 8, 50
	tenantOf := func(i int) string { return fmt.Sprintf("t%d", i) }
	// The slow stream's shard, and the streams sharing it.
	slow := 0
	slowShard := shardIndex(streamKeyFor(tenantOf(slow), slow), shards)
	otherShard := 0
	for i := 0; i < streams; i++ {
		if shardIndex(streamKeyFor(tenantOf(i), i), shards) != slowShard {
			otherShard++
		}
	}
	if otherShard == 0 {
		t.Fatal("every test stream hashes to one shard; change the labels")
	}
	c.failTenant.Store(tenantOf(slow))
	args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) {
		e.Name = "main"
		e.QueueConfig.MinShards = shards
	}))
	h := start(t, dir, args)
	// One Send, so one record: each shard gets one batch, and the failing
	// one, retried forever, never blocks the others' however slow the
	// machine is (a shard with a batch in flight and one waiting makes the
	// dispatcher wait).
	var all []loki.Entry
	for j := 0; j < perStream; j++ {
		all = append(all, roundOf(streams, j, tenantOf)...)
	}
	h.send(all...)

	// Every stream outside the failing shard is delivered.
	if err := lk.WaitForEntries(int64(otherShard*perStream), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 30*time.Second, func() bool { return c.failed.Load() >= 3 }, "the slow tenant's pushes were not retried")
	for _, e := range lk.Entries() {
		if e.Tenant == tenantOf(slow) {
			t.Fatalf("an entry of the failing tenant was delivered: %v", e)
		}
	}
	// A crash now (what kill -9 leaves: the WAL directory as it is).
	crash := t.TempDir()
	copyDir(t, filepath.Join(dir, "wal"), filepath.Join(crash, "wal"))
	pos, err := wal.LoadPositions(filepath.Join(crash, "wal", wal.PositionsFile))
	if err != nil {
		t.Fatal(err)
	}
	if p := pos["main"]; p.Offset != 0 {
		// The failing stream has an entry in the first record, so nothing
		// can be committed past the segment's start.
		t.Fatalf("committed position %v passes undelivered entries", p)
	}
	h.stop()

	// The restarted component delivers the failing stream's entries, and
	// every stream is in order (the others' are sent again after theirs).
	c.failTenant.Store("")
	h2 := start(t, crash, args)
	if err := lk.WaitForEntries(int64(streams*perStream+otherShard*perStream), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	checkStreamOrder(t, lk.Entries(), streams, perStream)
	h2.stop()
}

// A push that fails a few times on one shard is retried in place: nothing
// lost, nothing reordered, while the other shards go on.
func TestSlowShardRetriesWithoutReordering(t *testing.T) {
	c := &concurrency{delay: 2 * time.Millisecond}
	lk := startConcurrentLoki(t, c)
	tenantOf := func(i int) string { return fmt.Sprintf("t%d", i) }
	args := defaultArgs(endpointArgs(lk.URL(), func(e *EndpointArgs) {
		e.QueueConfig.MinShards = 3
		e.BatchSize = 1 << 10
	}))
	h := start(t, t.TempDir(), args)
	const streams, perStream = 6, 200
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.failTenant.Store(tenantOf(2))
		time.Sleep(300 * time.Millisecond)
		c.failTenant.Store("")
	}()
	sendStreams(h, streams, perStream, tenantOf)
	wg.Wait()
	if err := lk.WaitForEntries(streams*perStream, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	got := lk.Entries()
	if len(got) != streams*perStream {
		t.Fatalf("%d entries delivered, want %d exactly (no replay happened)", len(got), streams*perStream)
	}
	checkStreamOrder(t, got, streams, perStream)
	if c.failed.Load() == 0 {
		t.Fatal("no push failed: the test did not exercise a slow shard")
	}
}

func streamKeyFor(tenant string, i int) streamKey {
	return streamKey{tenant: tenant, labels: model.LabelSet{"job": "shards", "stream": model.LabelValue(fmt.Sprint(i))}.String()}
}
