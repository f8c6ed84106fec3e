package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/runtime/httpapi"
)

// exfiltrating is the config a hostile page would post: were it applied,
// the component below would appear.
const exfiltrating = baseConfig + "testcomponents.passthrough \"stolen\" { input = 1 }\n"

// applied reports whether the hostile config was applied.
func (e *env) applied() bool {
	_, ok := e.rt.Component("testcomponents.passthrough.stolen")
	return ok
}

func TestHostHeader(t *testing.T) {
	t.Parallel()
	e := startWith(t, true, func(o *httpapi.Options) {
		o.ListenAddr = "flow-box.internal:12345"
		o.AllowedHosts = []string{"flow.example", "proxy.example:9000"}
	}, nil)
	began := time.Now()
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:12345", true},
		{"127.0.0.1", true},
		{"[::1]:12345", true},
		{"[fe80::1%25eth0]:12345", true},
		{"[::ffff:127.0.0.1]", true},
		{"10.1.2.3:80", true}, // an IP literal: the page's own origin is that IP
		{"localhost:12345", true},
		{"LocalHost.:12345", true},
		{"ui.localhost:12345", true},
		{"flow-box.internal:12345", true}, // the listen address's host
		{"flow-box.internal:999", true},
		{"flow.example", true},
		{"FLOW.example:8080", true},
		{"proxy.example:9000", true},
		{"proxy.example:9001", false},
		{"proxy.example", false},
		{"evil.example:12345", false},
		{"rebind.evil.example", false},
		{"localhost.evil.example:12345", false},
		{"evil-localhost:12345", false},
		{"127.0.0.1.nip.io:12345", false},
		{"flow.example.evil.example", false},
	} {
		for _, path := range []string{"/api/v0/components", "/api/v0/config", "/-/healthy", "/metrics", "/debug/pprof/", "/"} {
			code, body, h := e.do("GET", path, "", "Host", tc.host)
			if tc.ok && code != 200 {
				t.Errorf("GET %s with Host %q: %d %s, want 200", path, tc.host, code, body)
			}
			if !tc.ok && (code != 403 || !strings.Contains(body, "--server.http.allowed-hosts=") || strings.Contains(body, "components")) {
				t.Errorf("GET %s with Host %q: %d %s, want 403 naming --server.http.allowed-hosts", path, tc.host, code, body)
			}
			if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("GET %s: headers %v lack X-Frame-Options: DENY and nosniff", path, h)
			}
		}
		// DNS rebinding against reload: a page that resolved its own name
		// to 127.0.0.1 sends its name as Host. Even with the header (a
		// rebound page is same-origin to itself, so it could add it), the
		// config is refused.
		code, body, _ := e.do("POST", "/-/reload", exfiltrating, "Host", tc.host, httpapi.ReloadHeader, "1", "Sec-Fetch-Site", "same-origin")
		if !tc.ok {
			if code != 403 || e.applied() {
				t.Fatalf("POST /-/reload with Host %q: %d %s (applied: %v), want 403 and nothing applied", tc.host, code, body, e.applied())
			}
			continue
		}
		if code != 200 || !e.applied() {
			t.Fatalf("POST /-/reload with Host %q: %d %s, want 200", tc.host, code, body)
		}
		if code, body, _ := e.do("POST", "/-/reload", baseConfig, httpapi.ReloadHeader, "1"); code != 200 {
			t.Fatalf("restoring the config: %d %s", code, body)
		}
	}
	// A hostile page looping over requests does not flood the log: one
	// line per 10 s, saying how many were not logged.
	logs := e.logs.String()
	n, most := strings.Count(logs, "refused a control-plane request"), 1+int(time.Since(began)/(10*time.Second))
	if n < 1 || n > most || (n > 1 && !strings.Contains(logs, "suppressed_since_last=")) {
		t.Errorf("%d of 70 refusals logged in %v, want 1 to %d (rate-limited):\n%s", n, time.Since(began), most, logs)
	}
}

func TestCrossSiteRequests(t *testing.T) {
	t.Parallel()
	e := startWith(t, true, func(o *httpapi.Options) { o.AllowedHosts = []string{"proxy.example"} }, nil)
	host := strings.TrimPrefix(e.srv.URL, "http://")
	for _, tc := range []struct {
		name   string
		header []string
		ok     bool
	}{
		{"curl (no browser headers)", nil, true},
		{"the UI (same-origin)", []string{"Sec-Fetch-Site", "same-origin", "Origin", "http://" + host}, true},
		{"user-initiated", []string{"Sec-Fetch-Site", "none"}, true},
		{"behind a proxy named in --server.http.allowed-hosts", []string{"Sec-Fetch-Site", "same-origin", "Origin", "https://proxy.example"}, true},
		{"no-cors fetch from another site", []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors", "Origin", "http://evil.example"}, false},
		{"another port of the same host", []string{"Sec-Fetch-Site", "same-site", "Sec-Fetch-Mode", "no-cors", "Origin", "http://127.0.0.1:8080"}, false},
		{"a form from another site", []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document", "Origin", "http://evil.example"}, false},
		{"an old browser (Origin only)", []string{"Origin", "http://evil.example"}, false},
		{"a sandboxed frame or file:// page", []string{"Origin", "null"}, false},
		{"an Origin on another port", []string{"Origin", "http://127.0.0.1:1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := append([]string{httpapi.ReloadHeader, "1"}, tc.header...)
			code, body, _ := e.do("POST", "/-/reload", exfiltrating, hdr...)
			if !tc.ok {
				if code != 403 || e.applied() || !strings.Contains(body, "refused") {
					t.Fatalf("%d %s (applied: %v), want 403 and nothing applied", code, body, e.applied())
				}
				// Not even a reload from disk.
				if code, body, _ := e.do("POST", "/-/reload", "", tc.header...); code != 403 {
					t.Fatalf("empty-body reload: %d %s, want 403", code, body)
				}
				return
			}
			if code != 200 || !e.applied() {
				t.Fatalf("%d %s, want 200", code, body)
			}
			if code, body, _ := e.do("POST", "/-/reload", "", tc.header...); code != 200 {
				t.Fatalf("empty-body reload: %d %s, want 200", code, body)
			}
			if e.applied() {
				t.Fatal("the reload from disk did not restore the config")
			}
		})
	}
	// Reads: another site's page may link to the UI (a navigation) but
	// not load the API, pprof or the event stream as a resource.
	for _, tc := range []struct {
		path   string
		header []string
		ok     bool
	}{
		{"/", []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document"}, true},
		{"/api/v0/config", []string{"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Dest", "empty"}, true},
		{"/api/v0/config", []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Dest", "script"}, false},
		{"/api/v0/components", []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors", "Sec-Fetch-Dest", "empty"}, false},
		{"/debug/pprof/heap", []string{"Sec-Fetch-Site", "same-site", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Dest", "image"}, false},
		{"/", []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "iframe"}, false},
	} {
		code, body, _ := e.do("GET", tc.path, "", tc.header...)
		if tc.ok != (code == 200) {
			t.Errorf("GET %s with %v: %d %s, want ok=%v", tc.path, tc.header, code, body, tc.ok)
		}
	}
}

func TestReloadBodyNeedsTheHeader(t *testing.T) {
	t.Parallel()
	e := start(t, true)
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		code, body, _ := e.do("POST", "/-/reload", exfiltrating, "Content-Type", ct)
		if code != 403 || !strings.Contains(body, `"X-Flow-Reload: 1"`) || !strings.Contains(body, "curl -H 'X-Flow-Reload: 1'") || e.applied() {
			t.Fatalf("config without the header as %s: %d %s (applied: %v), want 403 saying how to send it", ct, code, body, e.applied())
		}
	}
	code, body, _ := e.do("POST", "/-/reload", `{"files":[{"name":"main.river","content":"testcomponents.passthrough \"stolen\" { input = 1 }"}]}`, "Content-Type", "application/json", "Accept", "application/json")
	if code != 403 || !strings.Contains(body, `"error":`) || e.applied() {
		t.Fatalf("JSON config without the header: %d %s, want a 403 JSON error", code, body)
	}
	// An empty body (re-read the files) needs no header: `curl -X POST`.
	e.onDisk = exfiltrating
	if code, body, _ := e.do("POST", "/-/reload", "  \n"); code != 200 || !e.applied() {
		t.Fatalf("empty-body reload: %d %s", code, body)
	}
}

func TestReloadBodyDisabled(t *testing.T) {
	t.Parallel()
	e := startWith(t, true, func(o *httpapi.Options) { o.DisableReloadBody = true }, nil)
	for _, q := range []string{"", "?dry_run=1"} {
		code, body, _ := e.do("POST", "/-/reload"+q, exfiltrating, httpapi.ReloadHeader, "1")
		if code != 403 || !strings.Contains(body, "--server.http.enable-reload-body=false") || e.applied() {
			t.Fatalf("POST /-/reload%s with a body: %d %s (applied: %v), want 403", q, code, body, e.applied())
		}
	}
	e.onDisk = exfiltrating
	if code, body, _ := e.do("POST", "/-/reload", ""); code != 200 || !e.applied() {
		t.Fatalf("empty-body reload: %d %s", code, body)
	}
}

func TestReloadBodyLimit(t *testing.T) {
	t.Parallel()
	e := start(t, true)
	big := exfiltrating + "// " + strings.Repeat("x", httpapi.MaxConfigBytes) + "\n"
	// With a Content-Length, and chunked (no length known up front).
	code, body, _ := e.do("POST", "/-/reload", big, httpapi.ReloadHeader, "1")
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than 4 MiB") || e.applied() {
		t.Fatalf("oversized config: %d %.300s, want 413", code, body)
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/-/reload", struct{ *strings.Reader }{strings.NewReader(big)})
	req.Header.Set(httpapi.ReloadHeader, "1")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// ContentLength 0 with a body of unknown length: sent chunked.
	if resp.StatusCode != http.StatusRequestEntityTooLarge || req.ContentLength != 0 || e.applied() {
		t.Fatalf("oversized chunked config: %d (content length %d), want 413", resp.StatusCode, req.ContentLength)
	}
	// Just under the limit is read (and here applied).
	fits := exfiltrating + "// " + strings.Repeat("x", httpapi.MaxConfigBytes-len(exfiltrating)-4) + "\n"
	if code, body, _ := e.do("POST", "/-/reload", fits, httpapi.ReloadHeader, "1"); code != 200 || !e.applied() {
		t.Fatalf("a config of exactly the limit: %d %.300s", code, body)
	}
}

func TestPprofCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	e := startWith(t, true, func(o *httpapi.Options) { o.DisablePprof = true }, nil)
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
		if code, body, _ := e.do("GET", p, ""); code != 404 {
			t.Errorf("GET %s with pprof off: %d %.200s, want 404", p, code, body)
		}
	}
}

func TestParseAllowedHosts(t *testing.T) {
	t.Parallel()
	got, err := httpapi.ParseAllowedHosts(" Flow.Example, proxy.example:9000,,flow.internal. ")
	if err != nil || strings.Join(got, " ") != "flow.example proxy.example:9000 flow.internal" {
		t.Fatalf("= %q, %v", got, err)
	}
	for _, bad := range []string{"http://flow.example", "*.example.com", "flow.example/ui", ":9000", "flow.example:"} {
		if _, err := httpapi.ParseAllowedHosts(bad); err == nil || !strings.Contains(err.Error(), "--server.http.allowed-hosts") {
			t.Errorf("%q: err = %v, want an error naming the flag", bad, err)
		}
	}
}
