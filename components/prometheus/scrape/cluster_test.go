package scrape

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/value"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/cluster/clustertest"
	"github.com/flow-telemetry/flow/runtime/component"
)

// The clustering tests run real cluster nodes (memberlist over HTTP/2 on
// loopback) through clustertest; the component reaches them only through
// component.Options.Cluster.

func clusterTargets(t *testing.T, n int) ([]*target, []map[string]string) {
	var tgs []*target
	var labels []map[string]string
	for i := range n {
		tg := newTarget(t, "fleet_gauge", float64(i))
		tgs = append(tgs, tg)
		labels = append(labels, map[string]string{"__address__": tg.addr(), "team": "infra"})
	}
	return tgs, labels
}

func activeAddrs(c *Component) []string {
	var out []string
	for _, tg := range c.activeTargets() {
		out = append(out, tg.URL().Host)
	}
	slices.Sort(out)
	return out
}

// startClustered runs a scrape with `clustering { enabled = true }` over
// targets in an agent whose cluster is node (nil: run without
// --cluster.enabled), recording what it scrapes.
func startClustered(t *testing.T, id string, node component.Cluster, targets []map[string]string) (*Component, *promtest.Recorder) {
	t.Helper()
	rec := promtest.NewRecorder()
	opts, _, _ := promtest.Options(t, id)
	opts.Cluster = node
	args := fastArgs(rec, targets...)
	args.Clustering.Enabled = true
	c, err := New(opts, args)
	if err != nil {
		t.Fatal(err)
	}
	promtest.Run(t, c)
	return c, rec
}

// TestClusteringScrapesOnlyOwnedTargets: alone, an agent scrapes every
// target; when a second agent joins it keeps only its own share and writes
// staleness markers for the series of the targets it gave up; when the
// other agent leaves it takes them all back.
func TestClusteringScrapesOnlyOwnedTargets(t *testing.T) {
	tgs, labels := clusterTargets(t, 12)
	a := clustertest.Start(t, "agent-a")
	c, rec := startClustered(t, "prometheus.scrape.fleet", a.Node, labels)
	testwait.Eventually(t, 10*time.Second, func() bool {
		for _, tg := range tgs {
			if _, ok := find(rec, "fleet_gauge", tg.addr()); !ok {
				return false
			}
		}
		return true
	}, "all 12 targets scraped by the only agent")

	b := clustertest.Start(t, "agent-b", a.Addr)
	clustertest.WaitPeers(t, 30*time.Second, []string{"agent-a", "agent-b"}, a, b)
	var mine, theirs []string
	own := a.Ownership()
	for i, l := range labels {
		switch own.Owner(l) {
		case "agent-a":
			mine = append(mine, tgs[i].addr())
		case "agent-b":
			theirs = append(theirs, tgs[i].addr())
		default:
			t.Fatalf("target %v has owner %q", l, own.Owner(l))
		}
	}
	if len(mine) == 0 || len(theirs) == 0 {
		t.Fatalf("12 targets split %d/%d; the test needs both agents to own some", len(mine), len(theirs))
	}
	slices.Sort(mine)
	testwait.Eventually(t, 10*time.Second, func() bool {
		return slices.Equal(activeAddrs(c), mine)
	}, "only agent-a's targets left in the pool")
	for _, addr := range theirs {
		testwait.Eventually(t, 10*time.Second, func() bool {
			s, ok := find(rec, "fleet_gauge", addr)
			return ok && value.IsStaleNaN(s.V)
		}, "staleness marker for a target given up")
	}
	// What the debug info, health and API say.
	info := c.DebugInfo().(debugInfo)
	if len(info.Clustering) != 1 {
		t.Fatalf("debug info has %d clustering blocks", len(info.Clustering))
	}
	ci := info.Clustering[0]
	if !ci.Enabled || !ci.Ready || ci.Node != "agent-a" || ci.TargetsTotal != 12 || ci.TargetsOwned != len(mine) || !slices.Equal(ci.Peers, []string{"agent-a", "agent-b"}) {
		t.Errorf("clustering debug info = %+v; want agent-a owning %d of 12 with 2 peers", ci, len(mine))
	}
	if len(info.Targets) != len(mine) {
		t.Errorf("debug info lists %d targets, want the %d owned", len(info.Targets), len(mine))
	}
	if msg := c.CurrentHealth().Message; !strings.Contains(msg, fmt.Sprintf("owns %d of 12 targets", len(mine))) {
		t.Errorf("health message %q does not give the share", msg)
	}
	st := a.Status()
	if len(st.Components) != 1 || st.Components[0].ID != "prometheus.scrape.fleet" || st.Components[0].ByPeer["agent-a"] != len(mine) {
		t.Errorf("cluster status components = %+v", st.Components)
	}

	// agent-b leaves: agent-a scrapes everything again.
	b.Leave()
	testwait.Eventually(t, 10*time.Second, func() bool { return len(c.activeTargets()) == 12 }, "all 12 targets back in agent-a's pool")
}

// TestClusteringBlockWithoutCluster: `clustering { enabled = true }` in an
// agent run without --cluster.enabled scrapes every target, as Alloy does,
// and says so.
func TestClusteringBlockWithoutCluster(t *testing.T) {
	tgs, labels := clusterTargets(t, 3)
	c, _ := startClustered(t, "prometheus.scrape.alone", nil, labels)
	testwait.Eventually(t, 10*time.Second, func() bool { return len(c.activeTargets()) == len(tgs) }, "every target scraped")
	ci := c.DebugInfo().(debugInfo).Clustering
	if len(ci) != 1 || ci[0].Enabled || ci[0].TargetsOwned != 3 || !strings.Contains(ci[0].Note, "--cluster.enabled") {
		t.Errorf("clustering debug info = %+v", ci)
	}
}

// TestNoClusteringBlockScrapesEverything: in a clustered agent, a
// prometheus.scrape without the block scrapes every target, and reports
// nothing to the cluster; adding the block by Update distributes them.
func TestNoClusteringBlockScrapesEverything(t *testing.T) {
	_, labels := clusterTargets(t, 8)
	a := clustertest.Start(t, "agent-a")
	b := clustertest.Start(t, "agent-b", a.Addr)
	clustertest.WaitPeers(t, 30*time.Second, []string{"agent-a", "agent-b"}, a, b)
	rec := promtest.NewRecorder()
	opts, _, _ := promtest.Options(t, "prometheus.scrape.all")
	opts.Cluster = a.Node
	args := fastArgs(rec, labels...)
	c, err := New(opts, args)
	if err != nil {
		t.Fatal(err)
	}
	promtest.Run(t, c)
	testwait.Eventually(t, 10*time.Second, func() bool { return len(c.activeTargets()) == 8 }, "all 8 targets in the pool")
	if len(a.Status().Components) != 0 {
		t.Errorf("a component without clustering reported targets to the cluster: %+v", a.Status().Components)
	}
	if len(c.DebugInfo().(debugInfo).Clustering) != 0 {
		t.Error("debug info has a clustering block without the block in the config")
	}
	args.Clustering.Enabled = true
	if err := c.Update(args); err != nil {
		t.Fatal(err)
	}
	owned := 0
	for _, l := range labels {
		if a.Ownership().Owns(l) {
			owned++
		}
	}
	if owned == 8 {
		t.Fatal("agent-a owns all 8 targets; the test needs agent-b to own some")
	}
	testwait.Eventually(t, 10*time.Second, func() bool { return len(c.activeTargets()) == owned }, "the pool shrinks to agent-a's share")
}
