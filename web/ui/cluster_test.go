package ui

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flow-telemetry/flow/internal/flowproc"
)

// clusterConfig distributes 40 targets (nothing listens at them; ownership
// does not need them to answer).
func clusterConfig(t *testing.T) string {
	var b strings.Builder
	b.WriteString("prometheus.scrape \"fleet\" {\n  targets = [\n")
	for i := range 40 {
		fmt.Fprintf(&b, "    {\"__address__\" = \"127.0.0.1:%d\"},\n", 1+i)
	}
	b.WriteString("  ]\n  forward_to = []\n  scrape_interval = \"1m\"\n  clustering {\n    enabled = true\n  }\n}\n")
	path := filepath.Join(t.TempDir(), "fleet.river")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestClusteringPage: two clustered agents; the page of one lists both
// peers as participants with the target counts the API reports, which add
// up to the 40 targets, and the scrape component's debug info shows its
// share.
func TestClusteringPage(t *testing.T) {
	cfg := clusterConfig(t)
	o := flowproc.Options{Binary: flowproc.Build(t, flowTags...), ReadyTimeout: 20 * time.Second, StopTimeout: 15 * time.Second}
	a := o.Start(t, "--cluster.enabled", "--cluster.node-name=agent-a", cfg)
	b := o.Start(t, "--cluster.enabled", "--cluster.node-name=agent-b", "--cluster.join-addresses="+a.Addr(), cfg)
	_ = b

	ctx := newTab(t, a.URL())
	do(t, ctx, "opening the clustering page", chromedp.Navigate(a.URL()+"/#/clustering"))
	waitJS(t, ctx, "both peers participating",
		`document.querySelectorAll('#peers-table tbody tr[data-state="participant"]').length === 2`, 30*time.Second)
	// The page and the API agree (the API is polled by the page every 2s,
	// so wait for the page to show what the API says now).
	var st struct {
		Peers []struct {
			Name    string `json:"name"`
			Targets int    `json:"targets"`
		} `json:"peers"`
	}
	f := &flowServer{t: t, URL: a.URL()}
	_, body := f.get("/api/v0/cluster/peers")
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, p := range st.Peers {
		total += p.Targets
		waitJS(t, ctx, "peer "+p.Name+"'s count",
			fmt.Sprintf(`(document.querySelector('#peers-table tr[data-peer=%q] td[data-targets]') || {}).dataset?.targets === "%d"`, p.Name, p.Targets), 10*time.Second)
	}
	if total != 40 {
		t.Fatalf("the peers own %d targets in all, want 40: %s", total, body)
	}
	if self := eval[string](t, ctx, `document.querySelector('#peers-table tr[data-peer="agent-a"]').innerText`); !strings.Contains(self, "this agent") {
		t.Errorf("agent-a's row does not say it is this agent: %q", self)
	}
	if node := eval[string](t, ctx, `document.querySelector('#cluster-summary dd[data-key="Node"]').textContent`); node != "agent-a" {
		t.Errorf("summary names node %q", node)
	}
	if n := eval[string](t, ctx, `document.querySelector('#cluster-components-table tr[data-id="prometheus.scrape.fleet"] td.num').textContent`); n != "40" {
		t.Errorf("the component row counts %s targets, want 40", n)
	}
	if cur := eval[string](t, ctx, `document.querySelector('[data-nav="clustering"]').getAttribute("aria-current")`); cur != "page" {
		t.Errorf("the Clustering nav link is not marked current")
	}

	// The component's page shows its share in the debug info.
	do(t, ctx, "opening the scrape component", chromedp.Click(chromedp.CSS(`#cluster-components-table a`), chromedp.NodeVisible))
	waitJS(t, ctx, "the debug info's clustering block", `(document.querySelector("#debug") || {}).innerText?.includes("targets_owned")`, 10*time.Second)
	debug := eval[string](t, ctx, `document.querySelector("#debug").innerText`)
	for _, want := range []string{"clustering", "agent-a", "agent-b", "targets_total", "40"} {
		if !strings.Contains(debug, want) {
			t.Errorf("debug info lacks %q:\n%s", want, debug)
		}
	}
}

// TestClusteringPageWhenOff: without --cluster.enabled the page says how to
// turn clustering on.
func TestClusteringPageWhenOff(t *testing.T) {
	f := startFlow(t, `prometheus.scrape "x" {
  targets    = []
  forward_to = []
}
`, nil)
	ctx := newTab(t, f.URL)
	do(t, ctx, "opening the clustering page", chromedp.Navigate(f.URL+"/#/clustering"))
	waitJS(t, ctx, "the clustering-off note", `document.querySelector("#cluster-off") && !document.querySelector("#cluster-off").hidden`, 10*time.Second)
	if txt := eval[string](t, ctx, `document.querySelector("#cluster-off").innerText`); !strings.Contains(txt, "--cluster.enabled") {
		t.Errorf("the note %q does not name --cluster.enabled", txt)
	}
	if !eval[bool](t, ctx, `document.querySelector("#cluster-on").hidden`) {
		t.Error("the peer tables show with clustering off")
	}
}
