package httpapi_test

import (
	"os"
	"strings"
	"testing"

	_ "github.com/flow-telemetry/flow/components/local/file"
	tc "github.com/flow-telemetry/flow/internal/testcomponents"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
)

// The credentials of a URL argument (value.URL): a password in its user
// info and tokens in its query string.
const (
	urlPassword = "url-pw-Zq81xx"
	urlToken    = "query-tok-7Hx2"
	urlSecret   = "https://tenant:" + urlPassword + "@rw.example.com:8443/api/v1/push?api_token=" + urlToken + "&region=eu"
	urlMasked   = "https://tenant:xxxxx@rw.example.com:8443/api/v1/push?api_token=xxxxx&region=xxxxx"
)

const urlConfig = baseConfig + `
testcomponents.secret "u" {
  password = "` + secretValue + `"
  url      = "` + urlSecret + `"
}

local.file "endpoint" {
  filename  = "` + "$FILE" + `"
  is_secret = true
}

testcomponents.secret "from_secret" {
  password = "p"
  url      = local.file.endpoint.content
}
`

// TestURLCredentialsAreMaskedEverywhere: a URL written with a password and a
// query token is shown with both masked (host, port and path visible) in
// the component's arguments and exports and in the config source, and a
// config posted back as shown keeps the real URL.
func TestURLCredentialsAreMaskedEverywhere(t *testing.T) {
	t.Parallel()
	e := start(t, true)
	file := t.TempDir() + "/endpoint"
	writeFile(t, file, "https://u:"+urlPassword+"@secret-host.example.com/x?tok="+urlToken)
	cfg := strings.ReplaceAll(urlConfig, "$FILE", file)
	if code, body := e.reload(cfg); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	leaks := func(where, text string) {
		t.Helper()
		for _, s := range []string{urlPassword, urlToken, "secret-host"} {
			if strings.Contains(text, s) {
				t.Errorf("%s shows %q:\n%s", where, s, text)
			}
		}
	}

	var d struct {
		Arguments map[string]any `json:"arguments"`
		Exports   map[string]any `json:"exports"`
	}
	for _, path := range []string{"/api/v0/components", "/api/v0/components/testcomponents.secret.u", "/api/v0/components/testcomponents.secret.from_secret", "/api/v0/config"} {
		_, body, _ := e.do("GET", path, "")
		leaks(path, body)
	}
	e.getJSON("/api/v0/components/testcomponents.secret.u", &d)
	if d.Arguments["url"] != urlMasked || d.Exports["url"] != urlMasked {
		t.Errorf("url argument %q, export %q; want both %q", d.Arguments["url"], d.Exports["url"], urlMasked)
	}
	// A URL given as a secret is a secret whole: its host too.
	e.getJSON("/api/v0/components/testcomponents.secret.from_secret", &d)
	if d.Arguments["url"] != "(secret)" || d.Exports["url"] != "(secret)" {
		t.Errorf("url from a secret: argument %q, export %q; want \"(secret)\"", d.Arguments["url"], d.Exports["url"])
	}

	var c struct {
		Files []runtime.ConfigFile `json:"files"`
	}
	e.getJSON("/api/v0/config", &c)
	shown := c.Files[0].Content
	if !strings.Contains(shown, `url      = "`+urlMasked+`"`) || !strings.Contains(shown, "url      = local.file.endpoint.content") {
		t.Fatalf("the config source does not show the URL masked (and the reference as written):\n%s", shown)
	}

	// Posted back as shown, with an edit elsewhere: the real URL stays.
	edited := strings.Replace(shown, `testcomponents.sink "sink" {}`, `testcomponents.sink "sink" {}`+"\ntestcomponents.passthrough \"q\" { input = 2 }", 1)
	if code, body := e.reload(edited); code != 200 {
		t.Fatalf("reload of the shown config: %d %s", code, body)
	}
	if got := urlExport(t, e, "testcomponents.secret.u"); got != urlSecret {
		t.Fatalf("the URL after a round trip is %q, want %q", got, urlSecret)
	}
	// A URL edited in the view (a new host, the masks left) is taken as
	// written: nothing guesses which credentials belong to another host.
	moved := strings.Replace(shown, "rw.example.com", "rw2.example.com", 1)
	if code, body := e.reload(moved); code != 200 {
		t.Fatalf("reload of the edited config: %d %s", code, body)
	}
	if got := urlExport(t, e, "testcomponents.secret.u"); strings.Contains(got, urlPassword) || !strings.Contains(got, "rw2.example.com") {
		t.Fatalf("the edited URL is %q", got)
	}

	// A changed password alone is a changed argument: the component is
	// updated with it, though the URL as shown is the same.
	if code, body := e.reload(strings.Replace(cfg, urlPassword, urlPassword+"-2", 1)); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if got := urlExport(t, e, "testcomponents.secret.u"); got != strings.Replace(urlSecret, urlPassword, urlPassword+"-2", 1) {
		t.Fatalf("the URL after a password change is %q", got)
	}
}

func urlExport(t *testing.T, e *env, id string) string {
	t.Helper()
	ex, ok := e.rt.Exports(id)
	if !ok {
		t.Fatalf("no exports for %s", id)
	}
	return ex.(tc.SecretExports).URL.Raw()
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *env) reload(cfg string) (int, string) {
	e.t.Helper()
	code, body, _ := e.do("POST", "/-/reload", cfg, "X-Flow-Reload", "1")
	return code, body
}

// TestSecretsOfFailingComponentsAreMasked: a component whose evaluation
// fails when the load is applied (its inputs were unknown while staging)
// still has its secrets and URL credentials masked in the config view, also
// after a reload moved them in the file.
func TestSecretsOfFailingComponentsAreMasked(t *testing.T) {
	t.Parallel()
	e := start(t, true)
	leaks := []string{"pw-of-a-failing-one", "tok-of-a-failing-one", "literal-pw-of-a-failing-one", "moved-pw-x1"}
	check := func(when string) {
		t.Helper()
		var c struct {
			Files []runtime.ConfigFile `json:"files"`
		}
		e.getJSON("/api/v0/config", &c)
		for _, s := range leaks {
			if strings.Contains(c.Files[0].Content, s) {
				t.Errorf("%s: the config view shows %q:\n%s", when, s, c.Files[0].Content)
			}
		}
		for _, want := range []string{`url      = "https://u:xxxxx@h.example/p?t=xxxxx"`, `password = "(secret)"`} {
			if !strings.Contains(c.Files[0].Content, want) {
				t.Errorf("%s: the config view lacks %s:\n%s", when, want, c.Files[0].Content)
			}
		}
	}
	// A counter new in this load exports nothing known while staging: both
	// components fail only once it runs (a count is not a string).
	failing := `
testcomponents.counter "$C" {}

testcomponents.secret "bad_password" {
  password = testcomponents.counter.$C.count
  url      = "https://u:pw-of-a-failing-one@h.example/p?t=tok-of-a-failing-one"
}

testcomponents.secret "bad_url" {
  password = "literal-pw-of-a-failing-one"
  url      = testcomponents.counter.$C.count
}
`
	if code, body := e.reload(baseConfig + strings.ReplaceAll(failing, "$C", "late")); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	for _, id := range []string{"testcomponents.secret.bad_password", "testcomponents.secret.bad_url"} {
		var d struct {
			runtime.ComponentInfo
		}
		e.getJSON("/api/v0/components/"+id, &d)
		if d.Health.Health != component.HealthUnhealthy {
			t.Fatalf("%s is %s, want unhealthy (the test needs it to fail)", id, d.Health.Health)
		}
	}
	check("failing components")

	// A working component, then a reload that moves it down the file and
	// makes it fail: the masks follow the text.
	working := `
testcomponents.secret "moved" {
  password = "moved-pw-x1"
  url      = "https://u:xxxxx@h.example/p?t=xxxxx"
}
`
	if code, body := e.reload(baseConfig + working); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	movedAndFailing := strings.Replace(working, `url      = "https://u:xxxxx@h.example/p?t=xxxxx"`, `url      = testcomponents.counter.later.count`, 1)
	if code, body := e.reload(baseConfig + "// a comment\n// that moves everything below\n" + strings.ReplaceAll(failing, "$C", "later") + movedAndFailing); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	check("a moved, failing component")
}
