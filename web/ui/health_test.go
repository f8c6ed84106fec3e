package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Tests of the UI explaining health (the health history on a component's
// page, the paths unhealthy components break on the graph) and of pipeline
// focus and the components list's name filter.

// recordCSP makes the tab collect Content-Security-Policy violations from
// the next page load on; the returned function fails t if there were any.
func recordCSP(t *testing.T, ctx context.Context) func(where string) {
	t.Helper()
	do(t, ctx, "recording CSP violations", chromedp.Func(func(c context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(c, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder})
		return err
	}))
	return func(where string) {
		t.Helper()
		if v := eval[[]string](t, ctx, `window.cspViolations || ["the CSP recorder did not run"]`); len(v) > 0 {
			t.Errorf("%s: the Content-Security-Policy blocked %v", where, v)
		}
	}
}

const healthHistoryConfig = `testcomponents.fail "f" {
  unhealthy = %q
}
`

// TestHealthHistoryShowsTransitions takes a component through healthy →
// unhealthy ("disk full") → unhealthy ("upstream unreachable") → healthy →
// unhealthy ("disk full again") by reloading its config while its page is
// open, and checks the page's health history shows each change as it
// happens, newest first, with its message and a relative and absolute time,
// as the API's health_history has them.
func TestHealthHistoryShowsTransitions(t *testing.T) {
	const id = "testcomponents.fail.f"
	f := startFlow(t, fmt.Sprintf(healthHistoryConfig, ""), nil)
	ctx := newTab(t, f.URL)
	noCSP := recordCSP(t, ctx)
	do(t, ctx, "opening the component page", chromedp.Navigate(f.URL+"/#/component/"+id))
	waitJS(t, ctx, "the component to be healthy", `document.querySelector("#health .badge") && document.querySelector("#health .badge").textContent === "healthy"`, 20*time.Second)
	topRow := `(() => { const r = document.querySelector("#health-history-table tbody tr"); return r ? r.dataset.state + ": " + r.querySelector("td.msg").textContent : ""; })()`
	for _, msg := range []string{"disk full", "upstream unreachable", "", "disk full again"} {
		if code, body := f.post("/-/reload", fmt.Sprintf(healthHistoryConfig, msg)); code != 200 {
			t.Fatalf("reloading with unhealthy = %q: %d %s", msg, code, body)
		}
		want := `r.startsWith("healthy: ")`
		if msg != "" {
			want = fmt.Sprintf(`r === %q`, "unhealthy: "+msg)
		}
		waitJS(t, ctx, fmt.Sprintf("the change to %q at the top of the health history", msg), `(() => { const r = `+topRow+`; return `+want+`; })()`, 10*time.Second)
	}

	type row struct{ State, Message, Ago, Abs, Datetime string }
	rows := eval[[]row](t, ctx, `[...document.querySelectorAll("#health-history-table tbody tr")].map(r => ({
		State: r.dataset.state, Message: r.querySelector("td.msg").textContent,
		Ago: r.querySelector("time.ago").textContent, Abs: r.querySelector(".abs").textContent,
		Datetime: r.querySelector("time.ago").getAttribute("datetime")}))`)
	var got []string
	for _, r := range rows {
		got = append(got, r.State+": "+r.Message)
		if !regexp.MustCompile(`^(just now|\d+s ago)$`).MatchString(r.Ago) {
			t.Errorf("change %q shows %q, want how long ago it was", r.Message, r.Ago)
		}
		at, err := time.Parse(time.RFC3339Nano, r.Datetime)
		if err != nil || time.Since(at) > time.Minute || r.Abs == "" {
			t.Errorf("change %q: absolute time %q, datetime %q (%v), want the time of the change", r.Message, r.Abs, r.Datetime, err)
		}
	}
	// Newest first; before the first healthy state come the unknown
	// states of a component not yet evaluated or started.
	want := []string{"unhealthy: disk full again", "healthy", "unhealthy: upstream unreachable", "unhealthy: disk full", "healthy"}
	ok := len(got) >= len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = got[i] == want[i] || (want[i] == "healthy" && strings.HasPrefix(got[i], "healthy: "))
	}
	for i := len(want); ok && i < len(got); i++ {
		ok = strings.HasPrefix(got[i], "unknown: ")
	}
	if !ok {
		t.Fatalf("the health history shows (newest first)\n%s\nwant %q, then only unknown states", strings.Join(got, "\n"), want)
	}
	// The page shows what the API keeps.
	code, b := f.get("/api/v0/components/" + id)
	var detail struct {
		History []struct {
			Time    time.Time `json:"time"`
			State   string    `json:"state"`
			Message string    `json:"message"`
		} `json:"health_history"`
	}
	if err := json.Unmarshal(b, &detail); code != 200 || err != nil {
		t.Fatalf("GET the component: %d %v %s", code, err, b)
	}
	var api []string
	for _, h := range detail.History {
		api = append(api, h.State+": "+h.Message)
	}
	if !slices.Equal(api, got) {
		t.Errorf("the API's health_history is\n%s\nthe page shows\n%s", strings.Join(api, "\n"), strings.Join(got, "\n"))
	}
	noCSP("component page")
}

// healthPathsConfig is a graph around an unhealthy local.file ($DIR/cfg does
// not exist at first). In data-flow order:
//
//	dir → cfg → use → use2
//	dir → side
//	cfg → a → out      (a forwards to out: a data edge)
//	pre → a            (pre forwards to a)
//	c → tick           (unrelated)
const healthPathsConfig = `testcomponents.passthrough "dir" {
  input = "$DIR/cfg"
}

local.file "cfg" {
  filename       = testcomponents.passthrough.dir.output
  poll_frequency = "100ms"
}

testcomponents.passthrough "use" {
  input = local.file.cfg.content
}

testcomponents.passthrough "use2" {
  input = testcomponents.passthrough.use.value
}

testcomponents.passthrough "side" {
  input = testcomponents.passthrough.dir.value
}

loki.echo "out" { }

loki.relabel "a" {
  forward_to = [loki.echo.out.receiver]

  rule {
    target_label = "cfg"
    replacement  = local.file.cfg.content
  }
}

loki.relabel "pre" {
  forward_to = [loki.relabel.a.receiver]
}

testcomponents.counter "c" { }

testcomponents.passthrough "tick" {
  input = testcomponents.counter.c.count
}
`

const (
	hpDir  = "testcomponents.passthrough.dir"
	hpCfg  = "local.file.cfg"
	hpUse  = "testcomponents.passthrough.use"
	hpUse2 = "testcomponents.passthrough.use2"
	hpSide = "testcomponents.passthrough.side"
	hpA    = "loki.relabel.a"
	hpOut  = "loki.echo.out"
	hpPre  = "loki.relabel.pre"
	hpC    = "testcomponents.counter.c"
	hpTick = "testcomponents.passthrough.tick"
)

// classed returns the sorted IDs of the graph's nodes, and source|sink pairs
// of its edges, that have the class cls.
func classed(t *testing.T, ctx context.Context, cls string) (nodes, edges []string) {
	t.Helper()
	nodes = eval[[]string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll("svg.graph a.node.%s")].map(a => a.dataset.id)`, cls))
	edges = eval[[]string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll("svg.graph g.edge.%s")].map(g => g.dataset.from + "|" + g.dataset.to)`, cls))
	slices.Sort(nodes)
	slices.Sort(edges)
	return nodes, edges
}

func sorted(xs ...string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}

func TestUnhealthyComponentHighlightsThePathItBreaks(t *testing.T) {
	f := startFlow(t, healthPathsConfig, nil)
	ctx := newTab(t, f.URL)
	noCSP := recordCSP(t, ctx)
	openGraph(t, ctx, f.URL)
	waitJS(t, ctx, "local.file.cfg to show unhealthy", `document.querySelector('svg.graph a.node[data-id="local.file.cfg"]').dataset.health === "unhealthy"`, 10*time.Second)

	wantNodes := sorted(hpDir, hpCfg, hpUse, hpUse2, hpA, hpOut)
	wantEdges := sorted(hpDir+"|"+hpCfg, hpCfg+"|"+hpUse, hpUse+"|"+hpUse2, hpCfg+"|"+hpA, hpA+"|"+hpOut)
	nodes, edges := classed(t, ctx, "broken")
	if !slices.Equal(nodes, wantNodes) {
		t.Errorf("components marked on the broken path: %v, want %v (the unhealthy one, its sources and its sinks; not side, pre, c or tick)", nodes, wantNodes)
	}
	if !slices.Equal(edges, wantEdges) {
		t.Errorf("edges marked on the broken path: %v, want %v", edges, wantEdges)
	}
	for _, id := range wantNodes {
		if by := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('svg.graph a.node[data-id="%s"]').dataset.brokenBy || ""`, id)); by != hpCfg {
			t.Errorf("%s: data-broken-by %q, want %q", id, by, hpCfg)
		}
	}
	// Drawn in the unhealthy colour: the path's components' borders and its edges' lines.
	red := `(() => { const probe = document.createElement("span"); probe.style.color = "var(--unhealthy)"; document.body.append(probe); const c = getComputedStyle(probe).color; probe.remove(); return c; })()`
	want := eval[string](t, ctx, red)
	if got := eval[string](t, ctx, `getComputedStyle(document.querySelector('svg.graph a.node[data-id="`+hpUse2+`"] rect.box')).stroke`); got != want {
		t.Errorf("%s's border is %s, want the unhealthy colour %s", hpUse2, got, want)
	}
	if got := eval[string](t, ctx, `getComputedStyle(document.querySelector('svg.graph g.edge[data-from="`+hpA+`"][data-to="`+hpOut+`"] path.line')).stroke`); got != want {
		t.Errorf("edge %s → %s is drawn in %s, want the unhealthy colour %s", hpA, hpOut, got, want)
	}
	if got := eval[string](t, ctx, `getComputedStyle(document.querySelector('svg.graph g.edge[data-from="`+hpPre+`"][data-to="`+hpA+`"] path.line')).stroke`); got == want {
		t.Errorf("edge %s → %s, not on the broken path, is drawn in the unhealthy colour", hpPre, hpA)
	}
	if tip := eval[string](t, ctx, `document.querySelector('svg.graph a.node[data-id="`+hpUse+`"] title').textContent`); !strings.Contains(tip, "on the path of unhealthy "+hpCfg) {
		t.Errorf("%s's tooltip %q does not say whose path it is on", hpUse, tip)
	}

	// Once the file exists the component is healthy and the marks go, live.
	if err := os.WriteFile(filepath.Join(f.Dir, "cfg"), []byte("now here"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the broken path to clear once local.file.cfg is healthy",
		`document.querySelector('svg.graph a.node[data-id="local.file.cfg"]').dataset.health === "healthy" && !document.querySelector("svg.graph .broken")`, 10*time.Second)
	noCSP("graph")
}

// TestPipelineFocus clicks an edge, then a component's pipeline button, and
// checks exactly the paths through them stay lit; Clear, Escape, and a
// deep link from the component page work too.
func TestPipelineFocus(t *testing.T) {
	f := startFlow(t, healthPathsConfig, nil)
	ctx := newTab(t, f.URL)
	noCSP := recordCSP(t, ctx)
	openGraph(t, ctx, f.URL)
	all := sorted(hpDir, hpCfg, hpUse, hpUse2, hpSide, hpA, hpOut, hpPre, hpC, hpTick)
	check := func(what string, wantNodes, wantEdges []string) {
		t.Helper()
		nodes, edges := classed(t, ctx, "focused")
		un, _ := classed(t, ctx, "unfocused")
		if !slices.Equal(nodes, wantNodes) {
			t.Errorf("%s: focused components %v, want %v", what, nodes, wantNodes)
		}
		var rest []string
		for _, id := range all {
			if !slices.Contains(wantNodes, id) {
				rest = append(rest, id)
			}
		}
		if !slices.Equal(un, rest) {
			t.Errorf("%s: dimmed components %v, want %v", what, un, rest)
		}
		if !slices.Equal(edges, wantEdges) {
			t.Errorf("%s: focused edges %v, want %v", what, edges, wantEdges)
		}
		// Dimmed means drawn faintly.
		for _, id := range rest {
			if op := eval[string](t, ctx, `getComputedStyle(document.querySelector('svg.graph a.node[data-id="`+id+`"]')).opacity`); op == "1" {
				t.Errorf("%s: %s is dimmed but drawn at full opacity", what, id)
			}
		}
	}
	unfocused := func() bool {
		return eval[bool](t, ctx, `!document.querySelector("svg.graph .unfocused, svg.graph .focused") && !document.querySelector("svg.graph").dataset.focus && document.querySelector(".focus-bar").hidden`)
	}

	// Click the edge pre → a (on its line, a quarter of the way along).
	pt := eval[map[string]float64](t, ctx, `(() => {
		const p = document.querySelector('svg.graph g.edge[data-from="`+hpPre+`"][data-to="`+hpA+`"] path.line');
		const q = p.getPointAtLength(p.getTotalLength() * 0.25), m = p.getScreenCTM();
		return {x: q.x * m.a + q.y * m.c + m.e, y: q.x * m.b + q.y * m.d + m.f}; })()`)
	hit := eval[string](t, ctx, fmt.Sprintf(`(() => { const g = document.elementFromPoint(%f, %f).closest("g.edge"); return g ? g.dataset.from + "|" + g.dataset.to : "nothing"; })()`, pt["x"], pt["y"]))
	if hit != hpPre+"|"+hpA {
		t.Fatalf("the point a quarter along edge %s → %s is covered by %s", hpPre, hpA, hit)
	}
	do(t, ctx, "clicking the edge pre → a", chromedp.MouseClickXY(pt["x"], pt["y"]))
	waitJS(t, ctx, "the focus", `document.querySelector("svg.graph").dataset.focus`, 5*time.Second)
	check("edge pre → a", sorted(hpPre, hpA, hpOut), sorted(hpPre+"|"+hpA, hpA+"|"+hpOut))
	if txt := eval[string](t, ctx, `document.querySelector(".focus-bar").textContent`); !strings.Contains(txt, hpPre+" → "+hpA) {
		t.Errorf("the toolbar says %q, want the focused edge", txt)
	}
	if h := eval[string](t, ctx, `location.hash`); h != "#/graph" {
		t.Errorf("clicking an edge navigated to %s", h)
	}
	do(t, ctx, "clicking Clear", chromedp.Click(chromedp.CSS(`#clear-focus`), chromedp.NodeVisible))
	if !unfocused() {
		t.Error("Clear left the graph focused")
	}

	// The pipeline button of a: a, everything upstream of it (pre; cfg and
	// dir) and downstream (out), but not cfg's other sinks or dir's.
	do(t, ctx, "clicking a's pipeline button", chromedp.Click(chromedp.CSS(`svg.graph g.act[data-id="`+hpA+`"] rect`), chromedp.NodeVisible))
	waitJS(t, ctx, "the focus", `document.querySelector("svg.graph").dataset.focus === "`+hpA+`"`, 5*time.Second)
	check("component a", sorted(hpDir, hpCfg, hpPre, hpA, hpOut), sorted(hpDir+"|"+hpCfg, hpCfg+"|"+hpA, hpPre+"|"+hpA, hpA+"|"+hpOut))
	if h := eval[string](t, ctx, `location.hash`); h != "#/graph" {
		t.Errorf("the pipeline button opened %s", h)
	}
	// Escape on the graph clears it; P on a focused component sets it.
	do(t, ctx, "pressing Escape", chromedp.Focus(chromedp.CSS(`svg.graph`)), chromedp.KeyEvent("\x1b"))
	if !unfocused() {
		t.Error("Escape left the graph focused")
	}
	do(t, ctx, "pressing P on use", chromedp.Focus(chromedp.CSS(`svg.graph a.node[data-id="`+hpUse+`"]`)), chromedp.KeyEvent("p"))
	waitJS(t, ctx, "the focus", `document.querySelector("svg.graph").dataset.focus === "`+hpUse+`"`, 5*time.Second)
	check("component use", sorted(hpDir, hpCfg, hpUse, hpUse2), sorted(hpDir+"|"+hpCfg, hpCfg+"|"+hpUse, hpUse+"|"+hpUse2))

	// The component page links to its pipeline in the graph.
	do(t, ctx, "opening side's page", chromedp.Navigate(f.URL+"/#/component/"+hpSide))
	do(t, ctx, "following the pipeline link", chromedp.Click(chromedp.CSS(`#highlight-pipeline`), chromedp.NodeVisible))
	waitJS(t, ctx, "the focused graph", `document.querySelector("svg.graph[data-rendered]") && document.querySelector("svg.graph").dataset.focus === "`+hpSide+`"`, 10*time.Second)
	check("side, from its page", sorted(hpDir, hpSide), []string{hpDir + "|" + hpSide})
	noCSP("graph")
}

// TestListFiltersByComponentName checks the list's name filter alone and
// combined with the search and the health filter.
func TestListFiltersByComponentName(t *testing.T) {
	f := startFlow(t, healthPathsConfig, nil)
	ctx := newTab(t, f.URL)
	noCSP := recordCSP(t, ctx)
	do(t, ctx, "opening the list", chromedp.Navigate(f.URL+"/#/components"))
	waitJS(t, ctx, "the table", `document.querySelectorAll("#components-table tbody tr").length === 10`, 10*time.Second)
	names := eval[[]string](t, ctx, `[...document.querySelectorAll("#name-filter option")].map(o => o.value + "=" + o.textContent)`)
	wantNames := []string{"=All component names", "local.file=local.file (1)", "loki.echo=loki.echo (1)", "loki.relabel=loki.relabel (2)",
		"testcomponents.counter=testcomponents.counter (1)", "testcomponents.passthrough=testcomponents.passthrough (5)"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("the name filter offers %v, want %v", names, wantNames)
	}
	rows := func() []string {
		return eval[[]string](t, ctx, `[...document.querySelectorAll("#components-table tbody tr")].map(r => r.dataset.id)`)
	}
	choose := func(sel, v string) {
		t.Helper()
		do(t, ctx, "choosing "+v, chromedp.SetValue(chromedp.CSS(sel), v),
			chromedp.Evaluate[chromedp.Void](`document.querySelector("`+sel+`").dispatchEvent(new Event("change"))`))
	}
	choose("#name-filter", "testcomponents.passthrough")
	if got, want := rows(), []string{hpDir, hpSide, hpTick, hpUse, hpUse2}; !slices.Equal(got, want) {
		t.Errorf("name testcomponents.passthrough shows %v, want %v", got, want)
	}
	do(t, ctx, "searching use", chromedp.SendKeys(chromedp.CSS(`.filters input[type=search]`), "use"))
	waitJS(t, ctx, "the search", `[...document.querySelectorAll("#components-table tbody tr")].map(r => r.dataset.id).join() === "`+hpUse+`,`+hpUse2+`"`, 5*time.Second)
	if got := eval[string](t, ctx, `document.querySelector(".filters [role=status]").textContent`); got != "2 of 10 components" {
		t.Errorf("the count says %q, want \"2 of 10 components\"", got)
	}
	eval[bool](t, ctx, `(() => { const s = document.querySelector(".filters input[type=search]"); s.value = ""; s.dispatchEvent(new Event("input")); return true; })()`)
	choose("#name-filter", "local.file")
	choose(".filters select", "unhealthy")
	if got, want := rows(), []string{hpCfg}; !slices.Equal(got, want) {
		t.Errorf("name local.file and health unhealthy show %v, want %v", got, want)
	}
	choose("#name-filter", "loki.relabel")
	if got := rows(); len(got) != 0 {
		t.Errorf("name loki.relabel and health unhealthy show %v, want none", got)
	}
	choose(".filters select", "all")
	if got, want := rows(), []string{hpA, hpPre}; !slices.Equal(got, want) {
		t.Errorf("name loki.relabel shows %v, want %v", got, want)
	}
	// The choice survives the table's refresh.
	do(t, ctx, "waiting for a refresh", chromedp.Sleep(2500*time.Millisecond))
	if got, want := rows(), []string{hpA, hpPre}; !slices.Equal(got, want) || eval[string](t, ctx, `document.querySelector("#name-filter").value`) != "loki.relabel" {
		t.Errorf("after a refresh the list shows %v, want %v still filtered by loki.relabel", got, want)
	}
	noCSP("components list")
}
