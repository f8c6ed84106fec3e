package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/flow-telemetry/flow/internal/testwait"
)

// The control plane against the operator's own browser (docs/security.md,
// "Control plane"): a page of another site, a DNS-rebinding page, and
// framing. The browser maps hostileHost and rebindHost to 127.0.0.1
// (--host-resolver-rules, see startBrowser).
const (
	hostileHost = "hostile.test"
	rebindHost  = "rebind.test"
)

// attackConfig would read $DIR/secret into a component, to be shipped
// anywhere by the rest of an attacker's config.
const attackConfig = `local.file "stolen" { filename = "$DIR/secret" }` + "\n"

const controlConfig = `local.file "a" {
  filename = "$DIR/a"
}
`

// hostilePage tries every way a page of another origin has to post a config
// to flow (FLOW), reads flow's config, and frames flow's UI; it sets
// window.done with what each attempt gave.
const hostilePage = `<!doctype html>
<html><head><title>cat pictures</title></head><body>
<form id="f" method="POST" action="FLOW/-/reload" enctype="text/plain" target="sink">
<input type="hidden" name='local.file "stolen" { filename ' value=' "DIR/secret" }'>
</form>
<iframe name="sink" id="sink"></iframe>
<iframe id="framed" src="FLOW/#/config"></iframe>
<script>
const flow = "FLOW";
const cfg = 'local.file "stolen" { filename = "DIR/secret" }\n';
const results = {};
async function attempt(name, f) {
  try { results[name] = await f(); } catch (e) { results[name] = "blocked: " + e.name; }
}
(async () => {
  // A CORS "simple request": the browser sends it without asking.
  await attempt("no-cors text/plain", async () => { await fetch(flow + "/-/reload", {method: "POST", mode: "no-cors", body: cfg}); return "sent"; });
  // no-cors silently drops a custom header.
  await attempt("no-cors with the header", async () => { await fetch(flow + "/-/reload", {method: "POST", mode: "no-cors", headers: {"X-Flow-Reload": "1"}, body: cfg}); return "sent"; });
  // With the header the browser must ask first (a preflight), which flow never grants.
  await attempt("cors with the header", async () => { const r = await fetch(flow + "/-/reload", {method: "POST", headers: {"X-Flow-Reload": "1"}, body: cfg}); return "status " + r.status; });
  await attempt("beacon", async () => navigator.sendBeacon(flow + "/-/reload", cfg) ? "sent" : "refused");
  await attempt("read the config", async () => { const r = await fetch(flow + "/api/v0/config"); return "read " + (await r.text()).length; });
  await attempt("form", () => new Promise((resolve) => {
    document.getElementById("sink").onload = () => resolve("sent");
    setTimeout(() => resolve("sent (no load event)"), 5000);
    document.getElementById("f").submit();
  }));
  window.done = results;
})();
</script>
</body></html>`

func TestHostilePageCannotReloadReadOrFrame(t *testing.T) {
	p := startFlow(t, controlConfig, map[string]string{"a": "a", "secret": "the operator's secret"})
	before := p.components()
	html := strings.NewReplacer("FLOW", p.URL, "DIR", p.Dir).Replace(hostilePage)
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, html)
	}))
	t.Cleanup(hostile.Close)
	port := strings.TrimPrefix(hostile.URL, "http://127.0.0.1:")
	// Another site, and another port of the operator's own machine (the
	// same site: a local dev server or notebook the operator runs).
	for _, origin := range []string{"http://" + hostileHost + ":" + port, "http://127.0.0.1:" + port} {
		t.Run(origin, func(t *testing.T) {
			ctx := newTab(t, origin, p.URL)
			var mu sync.Mutex
			methods := map[network.RequestID]string{}
			var reloads []string // "POST 403" for each request to /-/reload that got an answer
			if err := chromedp.Listen(ctx, func(ev any) {
				mu.Lock()
				defer mu.Unlock()
				switch e := ev.(type) {
				case *network.EventRequestWillBeSent:
					methods[e.RequestID] = e.Request.Method
				case *network.EventResponseReceived:
					if strings.HasPrefix(e.Response.URL, p.URL+"/-/reload") {
						reloads = append(reloads, fmt.Sprintf("%s %d", methods[e.RequestID], e.Response.Status))
					}
				}
			}); err != nil {
				t.Fatal(err)
			}
			do(t, ctx, "opening the hostile page", chromedp.Navigate(origin+"/"))
			waitJS(t, ctx, "the attacks to run", `window.done`, 30*time.Second)
			results := eval[map[string]string](t, ctx, `window.done`)
			t.Logf("in the page: %v", results)
			if r := results["cors with the header"]; !strings.HasPrefix(r, "blocked") {
				t.Errorf("a cross-origin fetch with X-Flow-Reload got an answer (%s): flow must not grant CORS preflights", r)
			}
			if r := results["read the config"]; !strings.HasPrefix(r, "blocked") {
				t.Errorf("the page read flow's config: %s", r)
			}
			// The attempts reached flow and were refused there, not only
			// by the browser.
			mu.Lock()
			got := append([]string(nil), reloads...)
			mu.Unlock()
			posts := 0
			for _, r := range got {
				if strings.HasPrefix(r, "POST ") {
					posts++
					if r != "POST 403" {
						t.Errorf("a hostile POST /-/reload was answered %q, want 403", r)
					}
				}
			}
			if posts < 3 {
				t.Errorf("flow answered %d of the page's POSTs to /-/reload (%v); the test expects the two no-cors fetches and the beacon to reach it", posts, got)
			}
			// The framed UI did not load: the frame holds Chrome's error
			// page instead of flow's document.
			if got := framedDocument(t, ctx, p.URL+"/#/config"); !strings.HasPrefix(got, "chrome-error:") {
				t.Errorf("flow's UI in a frame of %s: the frame holds %q, want Chrome's error page", origin, got)
			}
		})
	}
	// Nothing was applied, and flow logged the refusals.
	time.Sleep(500 * time.Millisecond) // let any request still in flight land
	after := p.components()
	if after.ConfigHash != before.ConfigHash {
		t.Errorf("the config changed (hash %s → %s) after a hostile page's attempts", before.ConfigHash, after.ConfigHash)
	}
	for _, c := range after.Components {
		if c.ID == "local.file.stolen" {
			t.Fatal("a hostile page's config was applied: local.file.stolen exists")
		}
	}
	if !strings.Contains(p.Logs(), "refused a control-plane request") {
		t.Errorf("flow did not log the refused requests:\n%s", p.Logs())
	}
}

// A DNS-rebinding page: the attacker's name now resolves to 127.0.0.1, so
// the browser treats flow's answers as the attacker's own origin and its
// script may read them and send any header. Only the Host check stands in
// the way.
func TestDNSRebindingIsRefused(t *testing.T) {
	p := startFlow(t, controlConfig, map[string]string{"a": "a", "secret": "the operator's secret"})
	before := p.components()
	port := strings.TrimPrefix(p.URL, "http://127.0.0.1:")
	origin := "http://" + rebindHost + ":" + port
	ctx := newTab(t, origin)
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(origin+"/#/config"))
	if err != nil {
		t.Fatalf("opening %s: %v", origin, err)
	}
	if resp.Status != 403 {
		t.Errorf("the UI under a rebound name answered %d, want 403", resp.Status)
	}
	if text := eval[string](t, ctx, `document.body.innerText`); !strings.Contains(text, "--server.http.allowed-hosts="+rebindHost) {
		t.Errorf("the refusal does not say how to allow the name: %q", text)
	}
	// The attacker's script, same-origin with the rebound name.
	got := eval[string](t, ctx, `(async () => {
	  const read = await fetch("/api/v0/config");
	  const stream = await fetch("/api/v0/components");
	  const reload = await fetch("/-/reload", {method: "POST", headers: {"X-Flow-Reload": "1", "Content-Type": "text/plain"}, body: `+"`"+strings.ReplaceAll(attackConfig, "$DIR", p.Dir)+"`"+`});
	  return [read.status, stream.status, reload.status].join(" ");
	})()`)
	if got != "403 403 403" {
		t.Errorf("a rebound page's reads and reload were answered %q, want 403 403 403", got)
	}
	if after := p.components(); after.ConfigHash != before.ConfigHash {
		t.Fatalf("a rebound page changed the config")
	}
	// The names flow answers to still work in the browser.
	for _, base := range []string{"http://localhost:" + port, p.URL} {
		ctx := newTab(t, base)
		openGraph(t, ctx, base)
	}
}

// cspRecorder collects the page's Content-Security-Policy violations in
// window.cspViolations, from the first script on.
const cspRecorder = `window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(e.effectiveDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
});`

func TestUIWorksUnderItsContentSecurityPolicy(t *testing.T) {
	p := startPipeline(t)
	ctx := newTab(t, p.URL)
	do(t, ctx, "recording CSP violations", chromedp.Func(func(c context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(c, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder})
		return err
	}))
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(p.URL+"/#/graph"))
	if err != nil {
		t.Fatal(err)
	}
	if csp, _ := resp.Headers["Content-Security-Policy"].(string); csp != ContentSecurityPolicy {
		t.Fatalf("the page was served with Content-Security-Policy %q, want %q", csp, ContentSecurityPolicy)
	}
	noViolations := func(where string) {
		t.Helper()
		if v := eval[[]string](t, ctx, `window.cspViolations`); len(v) > 0 {
			t.Errorf("%s: the Content-Security-Policy blocked %v", where, v)
		}
	}
	waitJS(t, ctx, "the graph", `document.querySelector("svg.graph[data-rendered]")`, 20*time.Second)
	noViolations("graph")
	do(t, ctx, "opening the components list", chromedp.Navigate(p.URL+"/#/components"))
	waitJS(t, ctx, "the list", `document.querySelectorAll("main table tr").length > 1`, 10*time.Second)
	noViolations("components list")
	do(t, ctx, "opening a component", chromedp.Navigate(p.URL+"/#/component/"+ticksID))
	waitJS(t, ctx, "the component page", `document.querySelector("main").textContent.includes("`+ticksID+`")`, 10*time.Second)
	noViolations("component page")
	// The editor draws diagnostics at computed positions (styles set by
	// script) and posts configs with the X-Flow-Reload header.
	do(t, ctx, "opening the config page", chromedp.Navigate(p.URL+"/#/config"))
	waitJS(t, ctx, "the config", `document.querySelector("#config-text").value.length > 0`, 10*time.Second)
	eval[bool](t, ctx, `(() => { const ta = document.querySelector("#config-text"); ta.value = ta.value.replace("poll_frequency", "poll_frequncy"); ta.dispatchEvent(new Event("input")); return true; })()`)
	do(t, ctx, "validating a broken config", chromedp.Click(chromedp.CSS("#validate"), chromedp.NodeVisible))
	waitJS(t, ctx, "the diagnostic", `document.querySelector(".editor .overlay .diag-msg")`, 10*time.Second)
	if top := eval[string](t, ctx, `document.querySelector(".editor .overlay .diag-msg").style.top`); top == "" || top == "0px" {
		t.Errorf("the diagnostic's position was not applied (style.top %q)", top)
	}
	eval[bool](t, ctx, `(() => { const ta = document.querySelector("#config-text"); ta.value = ta.value.replace("poll_frequncy", "poll_frequency") + '\nloki.echo "csp" { }\n'; ta.dispatchEvent(new Event("input")); return true; })()`)
	do(t, ctx, "applying", chromedp.Click(chromedp.CSS("#apply"), chromedp.NodeVisible))
	waitJS(t, ctx, "the apply", `document.querySelector("#config-status").textContent === "Config applied."`, 10*time.Second)
	noViolations("config editor")
	found := false
	for _, c := range p.components().Components {
		found = found || c.ID == "loki.echo.csp"
	}
	if !found {
		t.Error("the config applied from the editor is not running")
	}

	// The policy is enforced (and the recorder sees it): an inline style,
	// an inline script and eval are refused.
	eval[bool](t, ctx, `(() => {
	  document.body.insertAdjacentHTML("beforeend", '<div id="canary" style="color: red">x</div>');
	  const s = document.createElement("script"); s.textContent = "window.inlineRan = true"; document.body.append(s);
	  // A string timer compiles in the page (code evaluated through
	  // DevTools, like this function, may eval regardless of the policy).
	  setTimeout("window.evalRan = true", 0);
	  return true;
	})()`)
	waitJS(t, ctx, "the violations", `window.cspViolations.length >= 3`, 10*time.Second)
	if ran := eval[bool](t, ctx, `!!(window.inlineRan || window.evalRan) || getComputedStyle(document.getElementById("canary")).color === "rgb(255, 0, 0)"`); ran {
		t.Error("an inline script, eval or an inline style ran under the UI's policy")
	}

	// Not even flow's own page may frame the UI (frame-ancestors 'none',
	// X-Frame-Options: DENY): the frame gets Chrome's error page, which the
	// page cannot read, instead of a same-origin document.
	got := eval[string](t, ctx, `new Promise((resolve) => {
	  const f = document.createElement("iframe");
	  f.onload = () => { let d = null; try { d = f.contentDocument; } catch (e) {} resolve(d && d.querySelector("#main") ? "framed" : "blocked"); };
	  f.src = "/#/graph";
	  document.body.append(f);
	  setTimeout(() => resolve("no load event"), 10000);
	})`)
	if got != "blocked" {
		t.Errorf("framing the UI: %s, want blocked", got)
	}
}

// Every answer of the UI handler, pages, assets and errors alike, carries
// the policy and the anti-framing headers.
func TestUIResponsesCarrySecurityHeaders(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, tc := range []struct{ method, path string }{
		{"GET", "/"}, {"HEAD", "/"}, {"GET", "/js/app.js"}, {"GET", "/vendor/dagre/dagre.esm.js"},
		{"GET", "/component/x"}, {"GET", "/js/missing.js"}, {"POST", "/"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for k, want := range map[string]string{
			"Content-Security-Policy": ContentSecurityPolicy,
			"X-Frame-Options":         "DENY",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s %s (%d): %s = %q, want %q", tc.method, tc.path, resp.StatusCode, k, got, want)
			}
		}
	}
	// default-src 'none' covers objects, fonts, media and workers.
	for _, d := range []string{"default-src 'none';", "frame-ancestors 'none'", "script-src 'self'", "style-src 'self'", "base-uri 'none'", "form-action 'none'"} {
		if !strings.Contains(ContentSecurityPolicy, d) {
			t.Errorf("the policy lacks %q: %s", d, ContentSecurityPolicy)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "unsafe") {
		t.Errorf("the policy allows something unsafe: %s", ContentSecurityPolicy)
	}
}

// framedDocument returns the address of the document in the tab's frame
// that was asked to load src: "chrome-error://..." when the load was
// refused. A frame of the same site as the page is in the page's process
// and listed in its frame tree; one of another site is a target of its
// own, which is attached to.
func framedDocument(t *testing.T, ctx context.Context, src string) string {
	t.Helper()
	var href string
	if _, ok := testwait.Poll(20*time.Second, func() bool {
		var found bool
		href, found = frameHref(t, ctx, src)
		return found
	}); !ok {
		t.Fatalf("no frame of the tab was asked to load %s", src)
	}
	return href
}

// frameHref is one look for framedDocument's frame: its address, and
// whether it was found.
func frameHref(t *testing.T, ctx context.Context, src string) (string, bool) {
	{
		tree, err := chromedp.Run(ctx, chromedp.Action[page.GetFrameTreeResult](func(c context.Context, _ *chromedp.Target) (page.GetFrameTreeResult, error) {
			return chromedp.Call(c, page.GetFrameTree, cdp.Empty{})
		}))
		if err != nil {
			t.Fatal(err)
		}
		for _, child := range tree.FrameTree.ChildFrames {
			if f := child.Frame; f.UnreachableURL == src || strings.HasPrefix(f.URL+f.URLFragment, src) {
				return f.URL, true
			}
		}
		targets, err := chromedp.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range targets {
			if ti.Type != "iframe" || ti.URL != src {
				continue
			}
			fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(ti.TargetID))
			href, err := chromedp.Run(fctx, chromedp.Evaluate[string](`location.href`))
			cancel()
			if err == nil {
				return href, true
			}
		}
	}
	return "", false
}
