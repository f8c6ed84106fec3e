package ui

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flow-telemetry/flow/internal/testwait"
)

// urlConfig sends logs and metrics to URLs holding their credentials: a
// password in the user info and a token in the query string, and for
// remote-write through a proxy whose URL holds a password. $LOKI serves the
// Loki push API and a /metrics page to scrape; $PROXY is an HTTP proxy that
// answers remote-write itself.
const urlConfig = `loki.source.file "app" {
  targets    = [{"__path__" = "$DIR/app.log"}]
  forward_to = [loki.write.creds.receiver]
}

loki.write "creds" {
  endpoint {
    url        = "http://flowuser:$LOKI_PW@$LOKI/loki/api/v1/push?api_token=$LOKI_TOK"
    batch_wait = "100ms"
  }
}

prometheus.scrape "app" {
  targets         = [{"__address__" = "$LOKI"}]
  forward_to      = [prometheus.remote_write.creds.receiver]
  scrape_interval = "1s"
  scrape_timeout  = "1s"
}

prometheus.remote_write "creds" {
  endpoint {
    url       = "http://flowuser:$RW_PW@rw.invalid:9009/api/v1/write?api_token=$RW_TOK"
    proxy_url = "http://proxyuser:$PROXY_PW@$PROXY"
  }
}
`

// credCheck counts requests that arrived with the expected credentials and
// those that did not.
type credCheck struct{ good, bad atomic.Int64 }

func (c *credCheck) note(ok bool) bool {
	if ok {
		c.good.Add(1)
	} else {
		c.bad.Add(1)
	}
	return ok
}

// TestURLCredentialsAreMaskedButSent: URLs written with a password and a
// query token (loki.write and prometheus.remote_write endpoints, a proxy
// URL) show with both masked, host and path visible, in the API and every
// page of the UI, and in nothing else flow shows; the components send with
// the real credentials (the servers check them), also after the config
// page's own text is applied back.
func TestURLCredentialsAreMaskedButSent(t *testing.T) {
	lokiPW, lokiTok, rwPW, rwTok, proxyPW := randomToken(t), randomToken(t), randomToken(t), randomToken(t), randomToken(t)
	secrets := []string{lokiPW, lokiTok, rwPW, rwTok, proxyPW}

	var logs, rw credCheck
	loki := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/metrics" {
			fmt.Fprintln(w, "app_requests_total 42")
			return
		}
		user, pw, _ := r.BasicAuth()
		if !logs.note(r.URL.Path == "/loki/api/v1/push" && user == "flowuser" && pw == lokiPW && r.URL.Query().Get("api_token") == lokiTok) {
			http.Error(w, "wrong credentials", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(loki.Close)
	// A proxy sees the absolute URL of each request and, for an http://
	// target, the Proxy-Authorization the client made from proxy_url.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		user, pw, _ := r.BasicAuth()
		proxyAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("proxyuser:"+proxyPW))
		if !rw.note(r.Host == "rw.invalid:9009" && r.URL.Path == "/api/v1/write" && r.Header.Get("Proxy-Authorization") == proxyAuth &&
			user == "flowuser" && pw == rwPW && r.URL.Query().Get("api_token") == rwTok) {
			http.Error(w, "wrong credentials", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(proxy.Close)
	lokiHost, proxyHost := strings.TrimPrefix(loki.URL, "http://"), strings.TrimPrefix(proxy.URL, "http://")
	cfg := strings.NewReplacer("$LOKI_PW", lokiPW, "$LOKI_TOK", lokiTok, "$RW_PW", rwPW, "$RW_TOK", rwTok,
		"$PROXY_PW", proxyPW, "$LOKI", lokiHost, "$PROXY", proxyHost).Replace(urlConfig)
	p := startFlow(t, cfg, map[string]string{"app.log": "line 1\n"})

	masked := map[string]string{ // as the API and the UI show them
		"loki":  "http://flowuser:xxxxx@" + lokiHost + "/loki/api/v1/push?api_token=xxxxx",
		"rw":    "http://flowuser:xxxxx@rw.invalid:9009/api/v1/write?api_token=xxxxx",
		"proxy": "http://proxyuser:xxxxx@" + proxyHost,
	}
	delivered := func(what string, c *credCheck, after int64) {
		t.Helper()
		if _, ok := testwait.Poll(60*time.Second, func() bool { return c.good.Load() > after }); !ok {
			t.Fatalf("%s: nothing delivered with the right credentials in 60s (%d refused); flow's log:\n%s", what, c.bad.Load(), p.Logs())
		}
		if n := c.bad.Load(); n > 0 {
			t.Errorf("%s: %d requests arrived without the right credentials", what, n)
		}
	}
	delivered("loki.write", &logs, 0)
	delivered("prometheus.remote_write", &rw, 0)

	check := func(where, text string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("a URL credential appears in %s", where)
			}
		}
	}
	for _, path := range []string{"/api/v0/components", "/api/v0/config", "/-/healthy", "/metrics",
		"/api/v0/components/loki.write.creds", "/api/v0/components/prometheus.remote_write.creds"} {
		_, b := p.get(path)
		check(path, string(b))
	}
	endpointArg := func(id, name string) any {
		t.Helper()
		_, b := p.get("/api/v0/components/" + id)
		var d struct {
			Arguments struct {
				Endpoint []map[string]any `json:"endpoint"`
			} `json:"arguments"`
		}
		if err := json.Unmarshal(b, &d); err != nil || len(d.Arguments.Endpoint) != 1 {
			t.Fatalf("%s: %v\n%s", id, err, b)
		}
		return d.Arguments.Endpoint[0][name]
	}
	for _, c := range []struct{ id, arg, want string }{
		{"loki.write.creds", "url", masked["loki"]},
		{"prometheus.remote_write.creds", "url", masked["rw"]},
		{"prometheus.remote_write.creds", "proxy_url", masked["proxy"]},
	} {
		if got := endpointArg(c.id, c.arg); got != c.want {
			t.Errorf("%s's %s argument is %v, want %q", c.id, c.arg, got, c.want)
		}
	}

	// The UI: the config page shows each URL masked, with the note on
	// keeping them; the components' pages show their arguments masked.
	ctx := newTab(t, p.URL)
	pageText := `document.documentElement.outerHTML + "\n" + [...document.querySelectorAll("input, textarea")].map(e => e.value).join("\n")`
	do(t, ctx, "opening the config page", chromedp.Navigate(p.URL+"/#/config"))
	waitJS(t, ctx, "the config", `document.querySelector("#config-text").value.length > 0`, 10*time.Second)
	check("the config page", eval[string](t, ctx, pageText))
	shown := eval[string](t, ctx, `document.querySelector("#config-text").value`)
	for _, line := range []string{
		`url        = "` + masked["loki"] + `"`,
		`url       = "` + masked["rw"] + `"`,
		`proxy_url = "` + masked["proxy"] + `"`,
	} {
		if !strings.Contains(shown, line) {
			t.Errorf("the config page lacks %s; it shows:\n%s", line, shown)
		}
	}
	if eval[bool](t, ctx, `document.querySelector("#secret-note").hidden`) {
		t.Error("the config page does not explain the masked URLs")
	}
	for _, id := range []string{"loki.write.creds", "prometheus.remote_write.creds"} {
		do(t, ctx, "opening "+id, chromedp.Navigate(p.URL+"/#/component/"+id))
		waitJS(t, ctx, id+"'s arguments", `document.querySelector("#arguments")`, 10*time.Second)
		text := eval[string](t, ctx, pageText)
		check("the page of "+id, text)
		want := masked["loki"]
		if id != "loki.write.creds" {
			want = masked["rw"]
		}
		if !strings.Contains(text, want) {
			t.Errorf("the page of %s does not show its URL as %s", id, want)
		}
	}

	// Applying the config page's text (with an edit elsewhere) keeps the
	// real URLs: the servers go on getting the right credentials.
	do(t, ctx, "back to the config page", chromedp.Navigate(p.URL+"/#/config"))
	waitJS(t, ctx, "the config", `document.querySelector("#config-text").value.length > 0`, 10*time.Second)
	edited := strings.Replace(shown, `batch_wait = "100ms"`, `batch_wait = "200ms"`, 1)
	b, _ := json.Marshal(edited)
	eval[bool](t, ctx, `(() => { const ta = document.querySelector("#config-text"); ta.value = `+string(b)+`; ta.dispatchEvent(new Event("input")); return true; })()`)
	do(t, ctx, "applying", chromedp.Click(chromedp.CSS("#apply"), chromedp.NodeVisible))
	waitJS(t, ctx, "the apply", `document.querySelector("#config-status").textContent === "Config applied."`, 20*time.Second)
	if got := endpointArg("loki.write.creds", "batch_wait"); got != "200ms" {
		t.Fatalf("after the apply loki.write's batch_wait is %v, want 200ms", got)
	}
	logsBefore, rwBefore := logs.good.Load(), rw.good.Load()
	f, err := os.OpenFile(filepath.Join(p.Dir, "app.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("line 2\n")
	f.Close()
	delivered("loki.write after the apply", &logs, logsBefore)
	delivered("prometheus.remote_write after the apply", &rw, rwBefore)
	check("flow's log", p.Logs())
}
