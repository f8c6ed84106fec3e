package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// bigConfig generates a 500-component config: a log pipeline where each
// loki.relabel forwards to two earlier ones (fan-in, as real pipelines have)
// and a tree of discovery.relabel components passing targets on.
func bigConfig() string {
	var b strings.Builder
	b.WriteString("loki.echo \"sink\" { }\n\n")
	recv := func(i int) string {
		if i < 1 {
			return "loki.echo.sink.receiver"
		}
		return fmt.Sprintf("loki.relabel.l%d.receiver", i)
	}
	for i := 1; i <= 249; i++ {
		to := []string{recv(i / 2)}
		if i/3 != i/2 && i/3 >= 1 {
			to = append(to, recv(i/3))
		}
		fmt.Fprintf(&b, "loki.relabel \"l%d\" {\n  forward_to = [%s]\n\n  rule {\n    target_label = \"hop\"\n    replacement  = \"%d\"\n  }\n}\n\n", i, strings.Join(to, ", "), i)
	}
	b.WriteString("discovery.relabel \"d0\" {\n  targets = [{\"__address__\" = \"127.0.0.1:9100\"}]\n}\n\n")
	for i := 1; i < 250; i++ {
		fmt.Fprintf(&b, "discovery.relabel \"d%d\" {\n  targets = discovery.relabel.d%d.output\n\n  rule {\n    target_label = \"hop\"\n    replacement  = \"%d\"\n  }\n}\n\n", i, (i-1)/2, i)
	}
	return b.String()
}

type renderTiming struct {
	RenderedAt float64 `json:"renderedAt"` // ms from navigation start to the painted graph
	LayoutMs   float64 `json:"layoutMs"`
	RenderMs   float64 `json:"renderMs"`
	Nodes      int     `json:"nodes"`
	Edges      int     `json:"edges"`
}

// TestGraphRenders500Components checks that a 500-component graph is drawn
// whole: every component and every edge the API lists. How fast is
// BenchmarkGraphRender500Components's business (BENCHMARKS.md): a wall-clock
// limit here would fail whenever the machine is busy.
func TestGraphRenders500Components(t *testing.T) {
	f := startFlow(t, bigConfig(), nil)
	api := f.components()
	if len(api.Components) != 500 {
		t.Fatalf("flow runs %d components, want 500", len(api.Components))
	}
	ctx := newTab(t, f.URL)
	do(t, ctx, "opening the graph page", chromedp.Navigate(f.URL+"/#/graph"))
	waitJS(t, ctx, "the graph to be painted", `window.__flowGraph`, time.Minute)
	rt := eval[renderTiming](t, ctx, `window.__flowGraph`)
	if rt.Nodes != 500 || rt.Edges != len(api.Edges) {
		t.Errorf("the graph drew %d nodes and %d edges, want 500 and %d", rt.Nodes, rt.Edges, len(api.Edges))
	}
	var wantIDs, wantEdges []string
	for _, c := range api.Components {
		wantIDs = append(wantIDs, c.ID)
	}
	for _, e := range api.Edges {
		wantEdges = append(wantEdges, e.Source+"|"+e.Sink+"|"+e.Export)
	}
	slices.Sort(wantIDs)
	slices.Sort(wantEdges)
	if got := graphNodes(t, ctx); !slices.Equal(got, wantIDs) {
		t.Errorf("the graph shows %d components, want the API's %d (first differences: %v)", len(got), len(wantIDs), firstDiff(got, wantIDs))
	}
	if got := graphEdges(t, ctx); !slices.Equal(got, wantEdges) {
		t.Errorf("the graph shows %d edges, want the API's %d (first differences: %v)", len(got), len(wantEdges), firstDiff(got, wantEdges))
	}
	// Each node is laid out: a position, and a box of a real size.
	if bad := eval[[]string](t, ctx, `[...document.querySelectorAll("svg.graph a.node")].filter(a => { const b = a.querySelector("rect.box").getBBox(); return !(b.width > 100 && b.height > 30) || !a.getAttribute("transform").startsWith("translate(") }).map(a => a.dataset.id)`); len(bad) > 0 {
		t.Errorf("nodes not laid out: %v", bad)
	}
	t.Logf("500 components, %d edges: painted %.0f ms after navigation (layout %.0f ms, draw %.0f ms)", rt.Edges, rt.RenderedAt, rt.LayoutMs, rt.RenderMs)
}

func firstDiff(got, want []string) []string {
	var out []string
	for _, g := range got {
		if !slices.Contains(want, g) && len(out) < 5 {
			out = append(out, "+"+g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) && len(out) < 10 {
			out = append(out, "-"+w)
		}
	}
	return out
}

// BenchmarkGraphRender500Components measures, in headless Chromium, how long
// the graph page takes to show 500 components and their edges: from the
// navigation to the first painted frame of the graph (ms/render), and of that
// the dagre layout (layout-ms) and drawing the SVG (draw-ms). Each iteration
// is a fresh tab in a new browser context (empty cache), closed before the
// next. Run it with
//
//	go test ./web/ui/ -run '^$' -bench GraphRender500 -benchtime 5x
func BenchmarkGraphRender500Components(b *testing.B) {
	f := startFlow(b, bigConfig(), nil)
	if n := len(f.components().Components); n != 500 {
		b.Fatalf("flow runs %d components, want 500", n)
	}
	var sum renderTiming
	n := 0
	for b.Loop() {
		rt := renderInFreshTab(b, f.URL)
		if rt.Nodes != 500 {
			b.Fatalf("the graph drew %d nodes, want 500", rt.Nodes)
		}
		sum.RenderedAt += rt.RenderedAt
		sum.LayoutMs += rt.LayoutMs
		sum.RenderMs += rt.RenderMs
		n++
	}
	b.ReportMetric(sum.RenderedAt/float64(n), "ms/render")
	b.ReportMetric(sum.LayoutMs/float64(n), "layout-ms")
	b.ReportMetric(sum.RenderMs/float64(n), "draw-ms")
}

// renderInFreshTab loads the graph page in a new tab and browser context,
// waits for the painted graph and returns the page's own timing; the tab is
// closed on return.
func renderInFreshTab(b *testing.B, base string) renderTiming {
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()
	do(b, ctx, "opening a tab", chromedp.EmulateViewport(1280, 800))
	do(b, ctx, "opening the graph page", chromedp.Navigate(base+"/#/graph"))
	waitJS(b, ctx, "the graph to be painted", `window.__flowGraph`, time.Minute)
	return eval[renderTiming](b, ctx, `window.__flowGraph`)
}
