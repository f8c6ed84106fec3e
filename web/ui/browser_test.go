package ui

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/flow-telemetry/flow/internal/flowproc"
)

// pipelineConfig is the dozen-component config the browser tests run: a
// secret read from a file ($DIR/token), a secret written in the config (the
// basic_auth password), a file that is missing (unhealthy), a file the tests
// rewrite ($DIR/env, whose content flows into two pipelines), a log pipeline
// from a Firehose endpoint the tests can post to into a fake Loki ($LOKI),
// a target pipeline, and a timer (testcomponents.counter, in the binary
// because the tests build it with -tags testcomponents) whose count changes
// every 500 ms and re-evaluates a passthrough, wired by references.
const pipelineConfig = `// flow UI test pipeline.
local.file "token" {
  filename  = "$DIR/token"
  is_secret = true
}

local.file "missing" {
  filename = "$DIR/does-not-exist"
}

local.file "env" {
  filename       = "$DIR/env"
  poll_frequency = "100ms"
}

loki.echo "out" { }

loki.relabel "tag" {
  forward_to = [loki.echo.out.receiver]

  rule {
    target_label = "env"
    replacement  = local.file.env.content
  }
}

loki.relabel "drop_debug" {
  forward_to = [loki.relabel.tag.receiver]

  rule {
    source_labels = ["level"]
    regex         = "debug"
    action        = "drop"
  }
}

loki.source.aws_firehose "in" {
  http {
    listen_address = "127.0.0.1"
    listen_port    = $FIREHOSE_PORT
  }
  forward_to = [loki.relabel.fanout.receiver]
}

loki.write "default" {
  endpoint {
    url          = "$LOKI/loki/api/v1/push"
    bearer_token = local.file.token.content
  }
}

loki.write "archive" {
  endpoint {
    url = "$LOKI/loki/api/v1/push"

    basic_auth {
      username = "archiver"
      password = "$PASSWORD"
    }
  }
}

loki.relabel "fanout" {
  forward_to = [loki.relabel.drop_debug.receiver, loki.write.default.receiver, loki.write.archive.receiver]
}

discovery.relabel "nodes" {
  targets = [{"__address__" = "127.0.0.1:9100", "env" = local.file.env.content}]

  rule {
    target_label = "job"
    replacement  = "node"
  }
}

discovery.relabel "keep" {
  targets = discovery.relabel.nodes.output

  rule {
    source_labels = ["job"]
    regex         = "node"
    action        = "keep"
  }
}

prometheus.relabel "sink" {
  rule {
    regex  = "tmp_.*"
    action = "labeldrop"
  }
}

prometheus.relabel "filter" {
  forward_to = [prometheus.relabel.sink.receiver]

  rule {
    source_labels = ["__name__"]
    regex         = "go_.*"
    action        = "drop"
  }
}

testcomponents.counter "ticker" {
  frequency = "500ms"
}

testcomponents.passthrough "ticks" {
  input = testcomponents.counter.ticker.count
}
`

// tickerID and ticksID are the timer and the component it re-evaluates.
const (
	tickerID = "testcomponents.counter.ticker"
	ticksID  = "testcomponents.passthrough.ticks"
)

var pipelineIDs = []string{
	"discovery.relabel.keep", "discovery.relabel.nodes",
	"local.file.env", "local.file.missing", "local.file.token",
	"loki.echo.out", "loki.relabel.drop_debug", "loki.relabel.fanout", "loki.relabel.tag",
	"loki.source.aws_firehose.in", "loki.write.archive", "loki.write.default",
	"prometheus.relabel.filter", "prometheus.relabel.sink",
	tickerID, ticksID,
}

// pipelineEdges are from|to|export, as the config's references imply.
var pipelineEdges = []string{
	"discovery.relabel.nodes|discovery.relabel.keep|output",
	"local.file.env|discovery.relabel.nodes|content",
	"local.file.env|loki.relabel.tag|content",
	"local.file.token|loki.write.default|content",
	"loki.echo.out|loki.relabel.tag|receiver",
	"loki.relabel.drop_debug|loki.relabel.fanout|receiver",
	"loki.relabel.fanout|loki.source.aws_firehose.in|receiver",
	"loki.relabel.tag|loki.relabel.drop_debug|receiver",
	"loki.write.archive|loki.relabel.fanout|receiver",
	"loki.write.default|loki.relabel.fanout|receiver",
	"prometheus.relabel.sink|prometheus.relabel.filter|receiver",
	tickerID + "|" + ticksID + "|count",
}

// pipelineFlowEdges are pipelineEdges in data-flow order (source|sink|export),
// as the graph draws them: receiver edges reversed, value edges as they are.
var pipelineFlowEdges = []string{
	"discovery.relabel.nodes|discovery.relabel.keep|output",
	"local.file.env|discovery.relabel.nodes|content",
	"local.file.env|loki.relabel.tag|content",
	"local.file.token|loki.write.default|content",
	"loki.relabel.drop_debug|loki.relabel.tag|receiver",
	"loki.relabel.fanout|loki.relabel.drop_debug|receiver",
	"loki.relabel.fanout|loki.write.archive|receiver",
	"loki.relabel.fanout|loki.write.default|receiver",
	"loki.relabel.tag|loki.echo.out|receiver",
	"loki.source.aws_firehose.in|loki.relabel.fanout|receiver",
	"prometheus.relabel.filter|prometheus.relabel.sink|receiver",
	tickerID + "|" + ticksID + "|count",
}

type pipeline struct {
	*flowServer
	token, password string
	config          string // as running
	firehose        string // the Firehose push URL
	lokiPushes      *atomic.Int64
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "tok" + hex.EncodeToString(b)
}

func startPipeline(t *testing.T) *pipeline {
	t.Helper()
	p := &pipeline{token: randomToken(t), password: randomToken(t), lokiPushes: new(atomic.Int64)}
	// A stand-in Loki on loopback that accepts every push.
	loki := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		p.lokiPushes.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(loki.Close)
	port := flowproc.FreePort(t)
	cfg := strings.NewReplacer("$PASSWORD", p.password, "$LOKI", loki.URL, "$FIREHOSE_PORT", strconv.Itoa(port)).Replace(pipelineConfig)
	p.flowServer = startFlow(t, cfg, map[string]string{"token": p.token, "env": "staging"})
	p.config = strings.ReplaceAll(cfg, "$DIR", p.Dir)
	p.firehose = fmt.Sprintf("http://127.0.0.1:%d/awsfirehose/api/v1/push", port)
	return p
}

// sendLogs posts Firehose batches of 25 log lines every 100 ms until the
// test ends (at most 600 batches), so the log edges carry a live rate.
func (p *pipeline) sendLogs(t *testing.T) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	t.Cleanup(func() { close(done); <-stopped })
	go func() {
		defer close(stopped)
		for i := 0; i < 600; i++ {
			var recs []string
			for j := 0; j < 25; j++ {
				line := fmt.Sprintf(`level=info msg="request %d" status=200`, i*25+j)
				recs = append(recs, fmt.Sprintf(`{"data":%q}`, base64.StdEncoding.EncodeToString([]byte(line))))
			}
			body := fmt.Sprintf(`{"requestId":"r%d","timestamp":%d,"records":[%s]}`, i, time.Now().UnixMilli(), strings.Join(recs, ","))
			// As with Alloy, Firehose entries carry only the labels the
			// stream's common attributes (or relabel rules) give them.
			req, err := http.NewRequest(http.MethodPost, p.firehose, strings.NewReader(body))
			if err != nil {
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Amz-Firehose-Common-Attributes", `{"commonAttributes":{"lbl_job":"firehose"}}`)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

// openGraph loads the graph page and waits until it has drawn.
func openGraph(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	do(t, ctx, "opening the graph page", chromedp.Navigate(base+"/#/graph"))
	waitJS(t, ctx, "the graph to render", `document.querySelector("svg.graph[data-rendered]")`, 10*time.Second)
}

func graphNodes(t *testing.T, ctx context.Context) []string {
	t.Helper()
	ids := eval[[]string](t, ctx, `[...document.querySelectorAll("svg.graph a.node")].map(a => a.dataset.id)`)
	slices.Sort(ids)
	return ids
}

func graphEdges(t *testing.T, ctx context.Context) []string {
	t.Helper()
	es := eval[[]string](t, ctx, `[...document.querySelectorAll("svg.graph g.edge")].map(g => g.dataset.from + "|" + g.dataset.to + "|" + g.dataset.export)`)
	slices.Sort(es)
	return es
}

// assertFlowLeftToRight checks that every edge's source sits left of its
// sink and that the drawn path (whose end carries the arrowhead) ends at the
// sink's node, not the source's.
func assertFlowLeftToRight(t *testing.T, ctx context.Context, edges []apiEdge) {
	t.Helper()
	type box struct{ Left, Right, Top, Bottom float64 }
	nodes := eval[map[string]box](t, ctx, `Object.fromEntries([...document.querySelectorAll("svg.graph a.node")].map(a => { const r = a.getBoundingClientRect(); return [a.dataset.id, {Left: r.left, Right: r.right, Top: r.top, Bottom: r.bottom}] }))`)
	ends := eval[map[string][2]float64](t, ctx, `Object.fromEntries([...document.querySelectorAll("svg.graph g.edge")].map(g => {
		const p = g.querySelector("path"); const pt = p.getPointAtLength(p.getTotalLength());
		const m = p.getScreenCTM(); return [g.dataset.from + "|" + g.dataset.to, [pt.x * m.a + pt.y * m.c + m.e, pt.x * m.b + pt.y * m.d + m.f]] }))`)
	for _, e := range edges {
		src, sink := nodes[e.Source], nodes[e.Sink]
		if src.Left >= sink.Left {
			t.Errorf("%s (x=%.0f) is not left of %s (x=%.0f), where its data goes", e.Source, src.Left, e.Sink, sink.Left)
		}
		end, ok := ends[e.Source+"|"+e.Sink]
		if !ok {
			t.Errorf("no drawn edge %s → %s", e.Source, e.Sink)
			continue
		}
		dSink := math.Hypot(end[0]-sink.Left, end[1]-(sink.Top+sink.Bottom)/2)
		dSrc := math.Hypot(end[0]-src.Right, end[1]-(src.Top+src.Bottom)/2)
		const slack = 12 // the arrowhead touches the node's border
		onSink := end[0] >= sink.Left-slack && end[0] <= sink.Right+slack && end[1] >= sink.Top-slack && end[1] <= sink.Bottom+slack
		if dSink >= dSrc || !onSink {
			t.Errorf("edge %s → %s ends at (%.0f,%.0f): the arrowhead should point at the sink %s %+v, not the source", e.Source, e.Sink, end[0], end[1], e.Sink, sink)
		}
	}
}

func TestGraphShowsEveryComponentAndEdge(t *testing.T) {
	p := startPipeline(t)
	api := p.components()
	var apiIDs, apiEdges []string
	for _, c := range api.Components {
		apiIDs = append(apiIDs, c.ID)
	}
	for _, e := range api.Edges {
		apiEdges = append(apiEdges, e.From+"|"+e.To+"|"+e.Export)
	}
	slices.Sort(apiIDs)
	slices.Sort(apiEdges)
	if !slices.Equal(apiIDs, pipelineIDs) {
		t.Fatalf("the API lists components %v, want %v", apiIDs, pipelineIDs)
	}
	if !slices.Equal(apiEdges, pipelineEdges) {
		t.Fatalf("the API lists edges %v, want %v", apiEdges, pipelineEdges)
	}

	p.sendLogs(t)
	ctx := newTab(t, p.URL)
	openGraph(t, ctx, p.URL)
	if got := graphNodes(t, ctx); !slices.Equal(got, pipelineIDs) {
		t.Errorf("graph nodes %v, want %v", got, pipelineIDs)
	}
	if got := graphEdges(t, ctx); !slices.Equal(got, pipelineFlowEdges) {
		t.Errorf("graph edges %v, want %v (data-flow order)", got, pipelineFlowEdges)
	}
	for _, e := range api.Edges {
		wantKind, src, sink := "value", e.From, e.To
		if e.Export == "receiver" {
			wantKind, src, sink = "data", e.To, e.From
		}
		if e.Kind != wantKind || e.Source != src || e.Sink != sink {
			t.Errorf("API edge %s → %s (%s): kind %q source %q sink %q, want %q %q %q", e.From, e.To, e.Export, e.Kind, e.Source, e.Sink, wantKind, src, sink)
		}
	}
	// Each edge is labelled with its export; data edges also with a rate or count.
	labels := eval[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll("svg.graph g.edge")].map(g => [g.dataset.from + "|" + g.dataset.to, g.querySelector("text").textContent]))`)
	for _, e := range api.Edges {
		l := labels[e.Source+"|"+e.Sink]
		if !strings.HasPrefix(l, e.Export) {
			t.Errorf("edge %s → %s is labelled %q, want the export %q first", e.Source, e.Sink, l, e.Export)
		}
		if e.Data && !strings.Contains(l, "/s") && !strings.ContainsAny(strings.TrimPrefix(l, e.Export), "0123456789") {
			t.Errorf("data edge %s → %s is labelled %q, want a rate or count", e.Source, e.Sink, l)
		}
	}
	assertFlowLeftToRight(t, ctx, api.Edges)
	// Every node is on screen in the first view of a dozen components.
	off := eval[[]string](t, ctx, `[...document.querySelectorAll("svg.graph a.node")].filter(a => { const r = a.getBoundingClientRect(); return r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight }).map(a => a.dataset.id)`)
	if len(off) > 0 {
		t.Errorf("nodes outside the 1280x800 view: %v", off)
	}
	// Logs flowing from the Firehose endpoint show as live rates along the
	// log pipeline, and the target list as its length.
	rateOn := func(from, to string) string {
		return fmt.Sprintf(`(document.querySelector('svg.graph g.edge[data-from="%s"][data-to="%s"] text .rate') || {textContent: ""}).textContent.trim()`, from, to)
	}
	for _, e := range [][2]string{{"loki.source.aws_firehose.in", "loki.relabel.fanout"}, {"loki.relabel.drop_debug", "loki.relabel.tag"}, {"loki.relabel.fanout", "loki.write.default"}} {
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`/^[1-9][\d.]*k?\/s$/.test(`+rateOn(e[0], e[1])+`)`,
			chromedp.WithPollingTimeout(8*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
			t.Errorf("edge %s → %s shows %q, want a live non-zero rate while logs flow", e[0], e[1], eval[string](t, ctx, rateOn(e[0], e[1])))
		}
	}
	if got := eval[string](t, ctx, rateOn("discovery.relabel.nodes", "discovery.relabel.keep")); got != "1 target" {
		t.Errorf("the target edge shows %q, want \"1 target\"", got)
	}
	if p.lokiPushes.Load() == 0 {
		t.Error("no push reached the stand-in Loki: the log pipeline is not flowing")
	}
	saveGraphScreenshot(t, ctx)
}

// saveGraphScreenshot writes docs/img/graph.png for the README when
// FLOW_UPDATE_SCREENSHOT=1 (the picture is of this test's pipeline).
func saveGraphScreenshot(t *testing.T, ctx context.Context) {
	if os.Getenv("FLOW_UPDATE_SCREENSHOT") != "1" {
		return
	}
	// Let a live update or two land so the picture is of a running pipeline.
	do(t, ctx, "waiting", chromedp.Sleep(1500*time.Millisecond))
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("taking the README screenshot: %v", err)
	}
	out := filepath.Join("..", "..", "docs", "img", "graph.png")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("README screenshot written to %s", out)
}

func TestClickNodeOpensItsPage(t *testing.T) {
	p := startPipeline(t)
	ctx := newTab(t, p.URL)
	openGraph(t, ctx, p.URL)
	do(t, ctx, "clicking the loki.relabel.tag node",
		chromedp.Click(chromedp.CSS(`svg.graph a.node[data-id="loki.relabel.tag"] rect.box`), chromedp.NodeVisible))
	waitJS(t, ctx, "the component page", `location.hash === "#/component/loki.relabel.tag" && document.querySelector(".comp-head h1")`, 5*time.Second)
	if h1 := eval[string](t, ctx, `document.querySelector(".comp-head h1").textContent`); h1 != "loki.relabel.tag" {
		t.Errorf("page heading %q, want loki.relabel.tag", h1)
	}
	refs := eval[[]string](t, ctx, `[...document.querySelectorAll("#references a")].map(a => a.textContent)`)
	if want := []string{"local.file.env", "loki.echo.out"}; !slices.Equal(refs, want) {
		t.Errorf("references %v, want %v", refs, want)
	}
	by := eval[[]string](t, ctx, `[...document.querySelectorAll("#referenced-by a")].map(a => a.textContent)`)
	if want := []string{"loki.relabel.drop_debug"}; !slices.Equal(by, want) {
		t.Errorf("referenced by %v, want %v", by, want)
	}
	// Arguments render as a tree with the rule's fields; the evaluations table has the initial load.
	args := eval[string](t, ctx, `document.querySelector("#arguments").innerText`)
	for _, want := range []string{"forward_to", "rule", "target_label", `"env"`, "replacement", `"staging"`} {
		if !strings.Contains(args, want) {
			t.Errorf("arguments section lacks %q:\n%s", want, args)
		}
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#evaluations-table tbody tr").length`); n < 1 {
		t.Errorf("the evaluations table has %d rows, want at least the initial evaluation", n)
	}
	// The references link onwards.
	do(t, ctx, "following the reference link", chromedp.Click(chromedp.CSS(`#references a[href="#/component/local.file.env"]`), chromedp.NodeVisible))
	waitJS(t, ctx, "the local.file.env page", `document.querySelector(".comp-head h1") && document.querySelector(".comp-head h1").textContent === "local.file.env"`, 5*time.Second)
}

func TestKeyboardReachesNodes(t *testing.T) {
	p := startPipeline(t)
	ctx := newTab(t, p.URL)
	openGraph(t, ctx, p.URL)
	do(t, ctx, "focusing the graph", chromedp.Focus(chromedp.CSS(`svg.graph`)))
	do(t, ctx, "pressing Tab", chromedp.KeyEvent("\t"))
	id := eval[string](t, ctx, `document.activeElement.matches("a.node") ? document.activeElement.dataset.id : "(" + document.activeElement.tagName + ")"`)
	if !slices.Contains(pipelineIDs, id) {
		t.Fatalf("Tab from the graph focused %s, want a component node", id)
	}
	// The focused node shows a visible focus ring (the focus colour).
	ring := eval[bool](t, ctx, `(() => { const r = document.activeElement.querySelector("rect.box"); const probe = document.createElement("span"); probe.style.color = "var(--focus)"; document.body.append(probe); const want = getComputedStyle(probe).color; probe.remove(); return getComputedStyle(r).stroke === want; })()`)
	if !ring {
		t.Errorf("the focused node %s has no visible focus ring", id)
	}
	do(t, ctx, "pressing Enter", chromedp.KeyEvent("\r"))
	waitJS(t, ctx, "the component page after Enter", fmt.Sprintf(`location.hash === %q`, "#/component/"+url.PathEscape(id)), 5*time.Second)
	// Pages keep working from the keyboard: the nav links are links.
	// Graph, Components, Config, Clustering.
	if n := eval[int](t, ctx, `document.querySelectorAll("header nav a[href]").length`); n != 4 {
		t.Errorf("nav has %d links, want 4", n)
	}
}

func TestSecretsAppearNowhere(t *testing.T) {
	p := startPipeline(t)
	secrets := []string{p.token, p.password}
	check := func(where, text string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("a secret value appears in %s", where)
			}
		}
	}
	// The API: every endpoint, every component, and the event stream while
	// the token's dependants re-evaluate.
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = os.WriteFile(filepath.Join(p.Dir, "token"), []byte(p.token+"-rotated"), 0o600)
		_ = os.WriteFile(filepath.Join(p.Dir, "env"), []byte("production"), 0o600)
	}()
	events := p.events(2 * time.Second)
	check("/api/v0/events", events)
	if !strings.Contains(events, "event: evaluation") {
		t.Errorf("no evaluation event in 2s after rewriting the token and env files; stream:\n%s", events)
	}
	secrets = append(secrets, p.token+"-rotated")
	for _, path := range []string{"/api/v0/components", "/api/v0/config", "/-/healthy", "/-/ready", "/metrics"} {
		_, b := p.get(path)
		check(path, string(b))
	}
	var tokenDetail map[string]any
	for _, id := range pipelineIDs {
		_, b := p.get("/api/v0/components/" + id)
		check("/api/v0/components/"+id, string(b))
		if id == "local.file.token" {
			if err := json.Unmarshal(b, &tokenDetail); err != nil {
				t.Fatal(err)
			}
		}
	}
	if exp, _ := tokenDetail["exports"].(map[string]any); exp["content"] != "(secret)" {
		t.Errorf("local.file.token exports %v, want content = \"(secret)\"", tokenDetail["exports"])
	}

	// Every page, with what it shows and holds (HTML, form values, titles).
	ctx := newTab(t, p.URL)
	pageText := `document.documentElement.outerHTML + "\n" + [...document.querySelectorAll("input, textarea")].map(e => e.value).join("\n")`
	pages := []string{"#/graph", "#/components", "#/config"}
	for _, id := range pipelineIDs {
		pages = append(pages, "#/component/"+id)
	}
	for _, pg := range pages {
		do(t, ctx, "opening "+pg, chromedp.Navigate(p.URL+"/"+pg))
		switch {
		case pg == "#/graph":
			waitJS(t, ctx, "the graph", `document.querySelector("svg.graph[data-rendered]")`, 10*time.Second)
		case pg == "#/components":
			waitJS(t, ctx, "the table", `document.querySelectorAll("#components-table tbody tr").length > 0`, 10*time.Second)
		case pg == "#/config":
			waitJS(t, ctx, "the config", `document.querySelector("#config-text").value.length > 0`, 10*time.Second)
		default:
			waitJS(t, ctx, "the component", `document.querySelector("#exports")`, 10*time.Second)
		}
		check("the page "+pg, eval[string](t, ctx, pageText))
	}
	// The token's page shows the placeholder, and the config page shows the
	// scrubbed password with a note on how "(secret)" is applied.
	do(t, ctx, "opening the token's page", chromedp.Navigate(p.URL+"/#/component/local.file.token"))
	waitJS(t, ctx, "the exports", `document.querySelector("#exports .secret")`, 10*time.Second)
	do(t, ctx, "opening the config page", chromedp.Navigate(p.URL+"/#/config"))
	waitJS(t, ctx, "the config", `document.querySelector("#config-text").value.includes('password = "(secret)"')`, 10*time.Second)
	if hidden := eval[bool](t, ctx, `document.querySelector("#secret-note").hidden`); hidden {
		t.Error("the config page does not explain the scrubbed secrets")
	}
}

func TestUnhealthyComponentShowsRed(t *testing.T) {
	p := startPipeline(t)
	var msg string
	for _, c := range p.components().Components {
		if c.ID == "local.file.missing" {
			if c.Health.State != "unhealthy" || c.Health.Message == "" {
				t.Fatalf("the API reports local.file.missing as %q %q, want unhealthy with a message", c.Health.State, c.Health.Message)
			}
			msg = c.Health.Message
		}
	}
	ctx := newTab(t, p.URL)
	openGraph(t, ctx, p.URL)
	node := `document.querySelector('svg.graph a.node[data-id="local.file.missing"]')`
	if st := eval[string](t, ctx, node+`.dataset.health`); st != "unhealthy" {
		t.Errorf("graph node health %q, want unhealthy", st)
	}
	red := eval[bool](t, ctx, `(() => { const probe = document.createElement("span"); probe.style.color = "var(--unhealthy)"; document.body.append(probe); const want = getComputedStyle(probe).color; probe.remove(); return getComputedStyle(`+node+`.querySelector("rect.box")).stroke === want && getComputedStyle(`+node+`.querySelector("text.health")).fill === want; })()`)
	if !red {
		t.Error("the unhealthy node is not drawn in the unhealthy (red) colour")
	}
	if lbl := eval[string](t, ctx, node+`.getAttribute("aria-label")`); !strings.Contains(lbl, msg) {
		t.Errorf("the node's label %q lacks the health message %q", lbl, msg)
	}
	// Healthy ones are not red.
	if st := eval[string](t, ctx, `document.querySelector('svg.graph a.node[data-id="loki.echo.out"]').dataset.health`); st != "healthy" {
		t.Errorf("loki.echo.out shows %q, want healthy", st)
	}

	do(t, ctx, "opening its page", chromedp.Click(chromedp.CSS(`svg.graph a.node[data-id="local.file.missing"] rect.box`), chromedp.NodeVisible))
	waitJS(t, ctx, "the health message", `document.querySelector("#health-message")`, 5*time.Second)
	if got := eval[string](t, ctx, `document.querySelector("#health .badge").textContent`); got != "unhealthy" {
		t.Errorf("badge %q, want unhealthy", got)
	}
	if got := eval[string](t, ctx, `document.querySelector("#health-message").textContent`); got != msg {
		t.Errorf("health message %q, want %q", got, msg)
	}
	badgeRed := eval[bool](t, ctx, `(() => { const probe = document.createElement("span"); probe.style.color = "var(--unhealthy)"; document.body.append(probe); const want = getComputedStyle(probe).color; probe.remove(); return getComputedStyle(document.querySelector("#health .badge")).color === want; })()`)
	if !badgeRed {
		t.Error("the health badge is not red")
	}

	// The list's health filter finds it, with its message.
	do(t, ctx, "opening the list", chromedp.Navigate(p.URL+"/#/components"))
	waitJS(t, ctx, "the table", `document.querySelectorAll("#components-table tbody tr").length === `+strconv.Itoa(len(pipelineIDs)), 10*time.Second)
	do(t, ctx, "filtering unhealthy", chromedp.SetValue(chromedp.CSS(`.filters select`), "unhealthy"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector(".filters select").dispatchEvent(new Event("change"))`))
	rows := eval[[]string](t, ctx, `[...document.querySelectorAll("#components-table tbody tr")].map(r => r.dataset.id)`)
	if !slices.Equal(rows, []string{"local.file.missing"}) {
		t.Errorf("unhealthy filter shows %v, want [local.file.missing]", rows)
	}
	do(t, ctx, "searching", chromedp.SetValue(chromedp.CSS(`.filters select`), "all"),
		chromedp.SendKeys(chromedp.CSS(`.filters input[type=search]`), "relabel.t"))
	waitJS(t, ctx, "the search to apply", `document.querySelector(".filters select").dispatchEvent(new Event("change")) && [...document.querySelectorAll("#components-table tbody tr")].map(r => r.dataset.id).join() === "loki.relabel.tag"`, 5*time.Second)
}

func TestBrokenConfigShowsDiagnosticAndChangesNothing(t *testing.T) {
	p := startPipeline(t)
	before := p.components()
	ctx := newTab(t, p.URL)
	do(t, ctx, "opening the config page", chromedp.Navigate(p.URL+"/#/config"))
	waitJS(t, ctx, "the config", `document.querySelector("#config-text").value.length > 0`, 10*time.Second)
	running := eval[string](t, ctx, `document.querySelector("#config-text").value`)
	// Break one attribute name; find its line in the text as shown.
	lines := strings.Split(running, "\n")
	line := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "poll_frequency") }) + 1
	if line == 0 {
		t.Fatalf("the running config lacks poll_frequency:\n%s", running)
	}
	// The scrubbed password stays "(secret)": flow keeps its running value.
	broken := strings.Replace(running, "poll_frequency", "poll_frequncy", 1)
	setText := func(text string) {
		t.Helper()
		b, _ := json.Marshal(text)
		eval[bool](t, ctx, `(() => { const ta = document.querySelector("#config-text"); ta.value = `+string(b)+`; ta.dispatchEvent(new Event("input")); return true; })()`)
	}
	setText(broken)
	for _, button := range []string{"#validate", "#apply"} {
		do(t, ctx, "clicking "+button, chromedp.Click(chromedp.CSS(button), chromedp.NodeVisible))
		// The click sets the status to "Validating…"/"Applying…" at once; the answer replaces it.
		waitJS(t, ctx, "the diagnostic after "+button, `document.querySelector("#config-status").textContent.startsWith("Failed") && document.querySelector("#diagnostics li")`, 10*time.Second)
		got := eval[int](t, ctx, `+(document.querySelector(".editor .gutter div.diag") || {dataset: {line: 0}}).dataset.line`)
		if got != line {
			t.Errorf("%s: the gutter marks line %d, want %d", button, got, line)
		}
		msg := eval[string](t, ctx, fmt.Sprintf(`(document.querySelector('.editor .overlay .diag-msg[data-line="%d"]') || {textContent: ""}).textContent`, line))
		if !strings.Contains(msg, "poll_frequncy") {
			t.Errorf("%s: the message at line %d is %q, want one naming poll_frequncy", button, line, msg)
		}
		// The message is drawn at the line's height, beside the text.
		top := eval[float64](t, ctx, fmt.Sprintf(`document.querySelector('.editor .overlay .diag-msg[data-line="%d"]').getBoundingClientRect().top - document.querySelector('.editor .gutter div[data-line="%d"]').getBoundingClientRect().top`, line, line))
		if top < -2 || top > 2 {
			t.Errorf("%s: the message is %.0fpx off its line", button, top)
		}
		if st := eval[string](t, ctx, `document.querySelector("#config-status").textContent`); !strings.HasPrefix(st, "Failed") {
			t.Errorf("%s: status %q, want a failure", button, st)
		}
	}
	// Nothing changed: same components, same config, and no component was
	// re-evaluated by a reload. The ticker's passthrough re-evaluates every
	// 500 ms on its own, so for it only the causes are checked.
	after := p.components()
	if after.ConfigHash != before.ConfigHash {
		t.Errorf("config hash changed from %s to %s after a broken config", before.ConfigHash, after.ConfigHash)
	}
	if len(after.Components) != len(before.Components) {
		t.Fatalf("%d components after a broken config, %d before", len(after.Components), len(before.Components))
	}
	for i, c := range after.Components {
		if c.ID != before.Components[i].ID {
			t.Errorf("component %s replaced by %s after a broken config", before.Components[i].ID, c.ID)
			continue
		}
		if c.ID != ticksID && c.EvaluationsTotal != before.Components[i].EvaluationsTotal {
			t.Errorf("component %s changed after a broken config (evaluations %d → %d)", c.ID, before.Components[i].EvaluationsTotal, c.EvaluationsTotal)
		}
		for _, ev := range p.evaluations(c.ID) {
			if ev.Cause != "initial load" && ev.Cause != tickerID+" exports changed" {
				t.Errorf("component %s was evaluated (%q) after a broken config", c.ID, ev.Cause)
			}
		}
	}
	do(t, ctx, "opening the graph", chromedp.Navigate(p.URL+"/#/graph"))
	waitJS(t, ctx, "the graph", `document.querySelector("svg.graph[data-rendered]")`, 10*time.Second)
	if got := graphNodes(t, ctx); !slices.Equal(got, pipelineIDs) {
		t.Errorf("after the broken config the graph shows %v, want %v", got, pipelineIDs)
	}

	// A valid edit validates, then applies, and the graph follows.
	do(t, ctx, "back to the config page", chromedp.Navigate(p.URL+"/#/config"))
	waitJS(t, ctx, "the config", `document.querySelector("#config-text").value.length > 0`, 10*time.Second)
	good := running + "\nloki.echo \"extra\" { }\n"
	setText(good)
	do(t, ctx, "validating", chromedp.Click(chromedp.CSS("#validate"), chromedp.NodeVisible))
	waitJS(t, ctx, "validation", `document.querySelector("#config-status").textContent === "Config is valid."`, 10*time.Second)
	if h := p.components().ConfigHash; h != before.ConfigHash {
		t.Errorf("a dry run changed the config hash")
	}
	do(t, ctx, "applying", chromedp.Click(chromedp.CSS("#apply"), chromedp.NodeVisible))
	waitJS(t, ctx, "the apply", `document.querySelector("#config-status").textContent === "Config applied."`, 10*time.Second)
	do(t, ctx, "opening the graph", chromedp.Navigate(p.URL+"/#/graph"))
	waitJS(t, ctx, "the new component in the graph", `document.querySelector('svg.graph a.node[data-id="loki.echo.extra"]')`, 10*time.Second)
}

func TestLiveReevaluationsAndChanges(t *testing.T) {
	p := startPipeline(t)
	ctx := newTab(t, p.URL)
	openGraph(t, ctx, p.URL)
	waitJS(t, ctx, "the event stream", `document.querySelector("#live").dataset.state === "live"`, 10*time.Second)
	// Record, in the page, when each node and edge starts a highlight.
	eval[bool](t, ctx, `(() => {
		window.__pulses = [];
		new MutationObserver(ms => { for (const m of ms) { const el = m.target; if (el.classList.contains("pulse")) window.__pulses.push({ id: el.dataset.id || (el.dataset.from + "->" + el.dataset.to), t: performance.now() }); } })
			.observe(document.querySelector("svg.graph"), { subtree: true, attributes: true, attributeFilter: ["class"] });
		return true; })()`)
	evals := func(id string) int {
		return eval[int](t, ctx, fmt.Sprintf(`+document.querySelector('svg.graph a.node[data-id="%s"]').dataset.evals`, id))
	}
	tagBefore, keepBefore := evals("loki.relabel.tag"), evals("discovery.relabel.keep")

	// Like a credentials refresh: the file's content changes, and the change
	// travels to its dependants and theirs.
	start := time.Now()
	if err := os.WriteFile(filepath.Join(p.Dir, "env"), []byte("production"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "loki.relabel.tag and discovery.relabel.keep to re-evaluate on the page",
		fmt.Sprintf(`+document.querySelector('svg.graph a.node[data-id="loki.relabel.tag"]').dataset.evals > %d && +document.querySelector('svg.graph a.node[data-id="discovery.relabel.keep"]').dataset.evals > %d`, tagBefore, keepBefore),
		2*time.Second)
	t.Logf("re-evaluation shown %v after the file was written", time.Since(start).Round(time.Millisecond))
	want := `["local.file.env", "local.file.env->loki.relabel.tag", "loki.relabel.tag", "loki.relabel.drop_debug", "discovery.relabel.nodes", "discovery.relabel.keep"]`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](want+`.every(id => window.__pulses.some(p => p.id === id))`,
		chromedp.WithPollingTimeout(2*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("the change was not highlighted along its way: want pulses on %s, got %s", want, eval[string](t, ctx, `JSON.stringify(window.__pulses)`))
	}

	// The component page shows the new evaluation live, with its cause.
	do(t, ctx, "opening loki.relabel.tag", chromedp.Navigate(p.URL+"/#/component/loki.relabel.tag"))
	waitJS(t, ctx, "the evaluations", `document.querySelector("#evaluations-table")`, 10*time.Second)
	rows := eval[int](t, ctx, `document.querySelectorAll("#evaluations-table tbody tr").length`)
	if err := os.WriteFile(filepath.Join(p.Dir, "env"), []byte("canary"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "a new evaluation row caused by local.file.env", fmt.Sprintf(`document.querySelectorAll("#evaluations-table tbody tr").length > %d && document.querySelector("#evaluations-table tbody tr td:nth-child(3)").textContent === "local.file.env exports changed" && document.querySelector('#evaluations-table tbody tr td:nth-child(3) a[href="#/component/local.file.env"]')`, rows), 2*time.Second)
	// os.WriteFile truncates, then writes: local.file may see the empty
	// file first, an evaluation of its own with the same cause, so the
	// value is waited for too.
	waitJS(t, ctx, "the arguments on the page to show the new value", `document.querySelector("#arguments").innerText.includes('"canary"')`, 2*time.Second)

	// New and removed components appear without a reload.
	do(t, ctx, "back to the graph", chromedp.Navigate(p.URL+"/#/graph"))
	waitJS(t, ctx, "the graph", `document.querySelector("svg.graph[data-rendered]")`, 10*time.Second)
	cfg := strings.Replace(p.config, "prometheus.relabel \"sink\"", "prometheus.relabel \"sink2\"", 1)
	cfg = strings.Replace(cfg, "prometheus.relabel.sink.receiver", "prometheus.relabel.sink2.receiver", 1)
	start = time.Now()
	if code, body := p.post("/-/reload", cfg); code != 200 {
		t.Fatalf("reloading: %d %s", code, body)
	}
	waitJS(t, ctx, "sink2 to appear and sink to go", `document.querySelector('svg.graph a.node[data-id="prometheus.relabel.sink2"]') && !document.querySelector('svg.graph a.node[data-id="prometheus.relabel.sink"]') && document.querySelector('svg.graph g.edge[data-to="prometheus.relabel.sink2"]')`, 2*time.Second)
	t.Logf("graph change shown %v after the reload", time.Since(start).Round(time.Millisecond))
}

// TestTimerReevaluationsShowLive watches a timer drive re-evaluations:
// testcomponents.counter.ticker's count changes every 500 ms, and each
// re-evaluation of the passthrough reading it must show, within 2 s of the
// evaluation and without reloading the page, on the graph page (the node's
// evaluation count goes up and it, the edge from the counter and the counter
// are highlighted) and on the passthrough's page (a new evaluations row whose
// cause names the counter, and the new argument).
func TestTimerReevaluationsShowLive(t *testing.T) {
	p := startPipeline(t)
	ctx := newTab(t, p.URL)
	openGraph(t, ctx, p.URL)
	waitJS(t, ctx, "the event stream", `document.querySelector("#live").dataset.state === "live"`, 10*time.Second)
	// Record, in the page, each new evaluation count of the passthrough's
	// node and each highlight, with the wall clock (the machine's, shared
	// with flow, which stamps its evaluations). The marker would not survive
	// a page reload.
	eval[bool](t, ctx, fmt.Sprintf(`(() => {
		window.__sameDocument = true;
		window.__evals = [];
		window.__pulses = [];
		const node = document.querySelector('svg.graph a.node[data-id="%s"]');
		const pulsesOf = id => +document.querySelector('svg.graph a.node[data-id="' + id + '"]').dataset.pulses || 0;
		window.__nodePulses = () => Object.fromEntries(["%s", "%s"].map(id => [id, pulsesOf(id)]));
		window.__nodePulses0 = window.__nodePulses();
		let last = +node.dataset.evals;
		new MutationObserver(() => { const n = +node.dataset.evals; if (n !== last) { last = n; window.__evals.push({ n, t: Date.now() }); } })
			.observe(node, { attributes: true, attributeFilter: ["data-evals"] });
		new MutationObserver(ms => { for (const m of ms) { const el = m.target; if (el.classList.contains("pulse")) window.__pulses.push(el.dataset.id || (el.dataset.from + "->" + el.dataset.to)); } })
			.observe(document.querySelector("svg.graph"), { subtree: true, attributes: true, attributeFilter: ["class"] });
		return true; })()`, ticksID, ticksID, tickerID))
	waitJS(t, ctx, "three re-evaluations of "+ticksID+" on the graph", `window.__evals.length >= 3`, 5*time.Second)
	type seen struct {
		N int     `json:"n"`
		T float64 `json:"t"` // ms since the Unix epoch
	}
	shown := eval[[]seen](t, ctx, `window.__evals`)
	pulses := eval[[]string](t, ctx, `window.__pulses`)
	nodePulses0 := eval[map[string]int](t, ctx, `window.__nodePulses0`)
	nodePulses := eval[map[string]int](t, ctx, `window.__nodePulses()`)

	// Match each count shown to flow's record of that evaluation.
	evs := p.evaluations(ticksID)
	var total int
	for _, c := range p.components().Components {
		if c.ID == ticksID {
			total = c.EvaluationsTotal
		}
	}
	for _, s := range shown {
		i := total - s.N // evs is newest first
		if i < 0 || i >= len(evs) {
			t.Errorf("the graph shows %d evaluations of %s; flow has %d (keeping the last %d)", s.N, ticksID, total, len(evs))
			continue
		}
		ev := evs[i]
		if want := tickerID + " exports changed"; ev.Cause != want {
			t.Errorf("evaluation %d of %s was caused by %q, want %q", s.N, ticksID, ev.Cause, want)
		}
		lag := time.UnixMilli(int64(s.T)).Sub(ev.Time)
		if lag > 2*time.Second || lag < -100*time.Millisecond {
			t.Errorf("evaluation %d of %s (at %s) showed on the graph %v later, want within 2s", s.N, ticksID, ev.Time.Format(time.RFC3339Nano), lag)
		}
		t.Logf("evaluation %d shown on the graph %v after it ran", s.N, lag.Round(time.Millisecond))
	}
	// Each re-evaluation highlights the node, and the edge from the counter
	// (graph.js counts highlights per node). The counter lights too, at most
	// once per half highlight (800 ms), so at least once in three ticks.
	if n := nodePulses[ticksID] - nodePulses0[ticksID]; n < 2 {
		t.Errorf("%s was highlighted %d times during three timer-driven re-evaluations, want at least 2", ticksID, n)
	}
	if n := nodePulses[tickerID] - nodePulses0[tickerID]; n < 1 {
		t.Errorf("the counter %s was not highlighted as the source of three re-evaluations", tickerID)
	}
	if !slices.Contains(pulses, tickerID+"->"+ticksID) {
		t.Errorf("the edge %s → %s was not highlighted (highlights: %v)", tickerID, ticksID, pulses)
	}

	// Open the passthrough's page as a user would (a click, no reload) and
	// watch new rows arrive at the top of its evaluations table.
	do(t, ctx, "clicking the "+ticksID+" node",
		chromedp.Click(chromedp.CSS(`svg.graph a.node[data-id="`+ticksID+`"] rect.box`), chromedp.NodeVisible))
	waitJS(t, ctx, "the evaluations table", `location.hash === "#/component/`+ticksID+`" && document.querySelector("#evaluations-table tbody tr")`, 5*time.Second)
	eval[bool](t, ctx, `(() => {
		window.__rows = [];
		const top = () => document.querySelector("#evaluations-table tbody tr");
		let last = top().cells[0].title;
		new MutationObserver(() => {
			const r = top();
			if (!r || r.cells[0].title === last) return;
			last = r.cells[0].title;
			const cause = r.cells[2];
			window.__rows.push({ time: last, cause: cause.dataset.cause, link: (cause.querySelector("a") || {}).getAttribute?.("href") || "",
				args: document.querySelector("#arguments").innerText, t: Date.now() });
		}).observe(document.querySelector("main"), { subtree: true, childList: true });
		return true; })()`)
	waitJS(t, ctx, "three new evaluation rows on "+ticksID+"'s page", `window.__rows.length >= 3`, 5*time.Second)
	type row struct {
		Time  string  `json:"time"`
		Cause string  `json:"cause"`
		Link  string  `json:"link"`
		Args  string  `json:"args"`
		T     float64 `json:"t"`
	}
	rows := eval[[]row](t, ctx, `window.__rows`)
	argsSeen := map[string]bool{}
	for _, r := range rows {
		at, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil {
			t.Errorf("a row's time %q: %v", r.Time, err)
			continue
		}
		if want := tickerID + " exports changed"; r.Cause != want || r.Link != "#/component/"+tickerID {
			t.Errorf("a new row's cause is %q linking to %q, want %q linking to the counter", r.Cause, r.Link, want)
		}
		lag := time.UnixMilli(int64(r.T)).Sub(at)
		if lag > 2*time.Second || lag < -100*time.Millisecond {
			t.Errorf("the evaluation at %s showed on the component page %v later, want within 2s", r.Time, lag)
		}
		t.Logf("evaluation at %s shown on the component page %v after it ran", at.Format("15:04:05.000"), lag.Round(time.Millisecond))
		argsSeen[r.Args] = true
	}
	if len(argsSeen) != len(rows) {
		t.Errorf("the arguments did not change with each evaluation: %d different texts for %d evaluations", len(argsSeen), len(rows))
	}
	if !eval[bool](t, ctx, `window.__sameDocument === true`) {
		t.Error("the page was reloaded; live updates must arrive without one")
	}
}

func TestDarkColourScheme(t *testing.T) {
	p := startPipeline(t)
	ctx := newTab(t, p.URL)
	do(t, ctx, "emulating a dark colour scheme", chromedp.Func(func(c context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Call(c, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
		})
		return err
	}))
	openGraph(t, ctx, p.URL)
	// Background dark, text light, and enough contrast (WCAG AA, 4.5:1) for
	// body text, node text and the unhealthy label.
	contrast := eval[map[string]float64](t, ctx, `(() => {
		const rgb = s => s.match(/[\d.]+/g).slice(0, 3).map(Number);
		const lum = c => { const [r, g, b] = rgb(c).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
		const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
		const bg = getComputedStyle(document.body).backgroundColor;
		const panel = getComputedStyle(document.querySelector('svg.graph a.node[data-id="loki.echo.out"] rect.box')).fill;
		const bad = document.querySelector('svg.graph a.node[data-id="local.file.missing"]');
		return {
			bgLum: lum(bg),
			body: ratio(getComputedStyle(document.body).color, bg),
			node: ratio(getComputedStyle(document.querySelector('svg.graph a.node text.name')).fill, panel),
			unhealthy: ratio(getComputedStyle(bad.querySelector("text.health")).fill, getComputedStyle(bad.querySelector("rect.box")).fill),
		};
	})()`)
	if contrast["bgLum"] > 0.05 {
		t.Errorf("background luminance %.3f in the dark scheme, want a dark background", contrast["bgLum"])
	}
	for _, k := range []string{"body", "node", "unhealthy"} {
		if contrast[k] < 4.5 {
			t.Errorf("%s text contrast %.2f:1 in the dark scheme, want at least 4.5:1", k, contrast[k])
		}
	}
}

// TestLiveWithoutEventStream checks the polling fallback: with the event
// stream blocked (as a buffering proxy would), the page says so, and a
// re-evaluation still appears within 2 s.
func TestLiveWithoutEventStream(t *testing.T) {
	p := startPipeline(t)
	ctx := newTab(t, p.URL)
	do(t, ctx, "blocking the event stream", chromedp.Func(func(c context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(c, network.SetBlockedURLs, network.SetBlockedURLsParams{
			URLPatterns: []*network.BlockPattern{{URLPattern: p.URL + "/api/v0/events", Block: true}},
		})
		return err
	}))
	openGraph(t, ctx, p.URL)
	waitJS(t, ctx, "the page to fall back to polling", `document.querySelector("#live").dataset.state === "polling"`, 5*time.Second)
	before := eval[int](t, ctx, `+document.querySelector('svg.graph a.node[data-id="loki.relabel.tag"]').dataset.evals`)
	start := time.Now()
	if err := os.WriteFile(filepath.Join(p.Dir, "env"), []byte("production"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the re-evaluation by polling", fmt.Sprintf(`(() => { const a = document.querySelector('svg.graph a.node[data-id="loki.relabel.tag"]'); return +a.dataset.evals > %d && +a.dataset.pulses > 0; })()`, before), 2*time.Second)
	t.Logf("re-evaluation shown by polling %v after the file was written", time.Since(start).Round(time.Millisecond))
}

// TestPanAndZoom drives the graph with a real mouse: the wheel zooms about
// the pointer, a drag pans (and does not open the node it ends on), and the
// keyboard zooms and fits.
func TestPanAndZoom(t *testing.T) {
	p := startPipeline(t)
	ctx := newTab(t, p.URL)
	openGraph(t, ctx, p.URL)
	type tr struct{ X, Y, K float64 }
	transform := func() tr {
		return eval[tr](t, ctx, `(() => { const m = document.querySelector("svg.graph g.viewport").transform.baseVal.consolidate().matrix; return {X: m.e, Y: m.f, K: m.a}; })()`)
	}
	t0 := transform()
	do(t, ctx, "wheel up over the graph", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseWheel, 640, 450, func(p *input.DispatchMouseEventParams) {
		p.DeltaY = -300
		p.DeltaX = 0.001 // the protocol wants both, and a zero is left out of the JSON
	}))
	waitJS(t, ctx, "the zoom", fmt.Sprintf(`document.querySelector("svg.graph g.viewport").transform.baseVal.consolidate().matrix.a > %f`, t0.K*1.2), 2*time.Second)
	t1 := transform()
	// Drag from a node by 150px: the graph moves with the pointer and the node does not open.
	box := eval[map[string]float64](t, ctx, `(() => { const r = document.querySelector('svg.graph a.node[data-id="loki.relabel.tag"] rect.box').getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()`)
	x, y := box["x"], box["y"]
	do(t, ctx, "dragging", chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1)),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x+50, y+20, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x+150, y+60, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x+150, y+60, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	t2 := transform()
	if dx, dy := t2.X-t1.X, t2.Y-t1.Y; dx < 149 || dx > 151 || dy < 59 || dy > 61 {
		t.Errorf("a 150x60 drag moved the graph by %.0fx%.0f", dx, dy)
	}
	do(t, ctx, "waiting for a navigation that must not come", chromedp.Sleep(300*time.Millisecond))
	if h := eval[string](t, ctx, `location.hash`); h != "#/graph" {
		t.Errorf("the drag ended on a node and opened %s", h)
	}
	// Keyboard: 0 fits the graph again, + zooms in.
	do(t, ctx, "pressing 0", chromedp.Focus(chromedp.CSS(`svg.graph`)), chromedp.KeyEvent("0"))
	if got := transform(); got.K > t1.K || got.K > 1.2 {
		t.Errorf("0 left the zoom at %.2f, want the fitted %.2f or less", got.K, t1.K)
	}
	k := transform().K
	do(t, ctx, "pressing +", chromedp.KeyEvent("+"))
	if got := transform(); got.K <= k {
		t.Errorf("+ left the zoom at %.2f (was %.2f)", got.K, k)
	}
}

// TestGraphQuickstartReadsInDataFlowOrder runs examples/quickstart.river,
// whose metrics half is a discovery → scrape → relabel → remote_write chain
// and whose logs half is firehose → relabel → echo, and checks the graph
// draws each edge the way the data goes: arrowheads at the sinks, sources
// left of sinks.
func TestGraphQuickstartReadsInDataFlowOrder(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "quickstart.river"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := strings.Replace(string(src), "listen_port    = 8080", fmt.Sprintf("listen_port    = %d", port), 1)
	if cfg == string(src) {
		t.Fatal("examples/quickstart.river no longer sets listen_port = 8080; update this test")
	}
	f := startFlow(t, cfg, nil)
	want := []string{
		"discovery.relabel.self|prometheus.scrape.self|output",
		"loki.relabel.tag|loki.echo.stdout|receiver",
		"loki.source.aws_firehose.local|loki.relabel.tag|receiver",
		"prometheus.relabel.keep_flow|prometheus.remote_write.local|receiver",
		"prometheus.scrape.self|prometheus.relabel.keep_flow|receiver",
	}
	api := f.components()
	var got []string
	for _, e := range api.Edges {
		got = append(got, e.Source+"|"+e.Sink+"|"+e.Export)
		if wantKind := map[bool]string{true: "data", false: "value"}[e.Export == "receiver"]; e.Kind != wantKind {
			t.Errorf("API edge %s → %s: kind %q, want %q", e.Source, e.Sink, e.Kind, wantKind)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("API edges in data-flow order %v, want %v", got, want)
	}
	ctx := newTab(t, f.URL)
	openGraph(t, ctx, f.URL)
	if g := graphEdges(t, ctx); !slices.Equal(g, want) {
		t.Errorf("graph edges %v, want %v", g, want)
	}
	assertFlowLeftToRight(t, ctx, api.Edges)
	// The chain reads strictly left to right.
	x := eval[map[string]float64](t, ctx, `Object.fromEntries([...document.querySelectorAll("svg.graph a.node")].map(a => [a.dataset.id, a.getBoundingClientRect().left]))`)
	chain := []string{"discovery.relabel.self", "prometheus.scrape.self", "prometheus.relabel.keep_flow", "prometheus.remote_write.local"}
	for i := 1; i < len(chain); i++ {
		if x[chain[i-1]] >= x[chain[i]] {
			t.Errorf("%s (x=%.0f) is not left of %s (x=%.0f)", chain[i-1], x[chain[i-1]], chain[i], x[chain[i]])
		}
	}
}
