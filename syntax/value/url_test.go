package value

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func TestMaskURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://prom.example.com/api/v1/write":                           "https://prom.example.com/api/v1/write",
		"https://123456:glc_Zk9@prom.example.com/api/v1/push":             "https://123456:xxxxx@prom.example.com/api/v1/push",
		"https://prom.example.com/push?token=s3cr3t&tenant=a&token=other": "https://prom.example.com/push?tenant=xxxxx&token=xxxxx",
		"http://u:p%40ss@h:3100/p?x=%2Fa#frag-secret":                     "http://u:xxxxx@h:3100/p?x=xxxxx",
		"http://h/p#access_token=abc":                                     "http://h/p",
		"http://h/p?":                                                     "http://h/p",
		"http://user@h/p":                                                 "http://user@h/p",
		"http://u:@h/p":                                                   "http://u:xxxxx@h/p",
		"http://h/%zz":                                                    "(invalid URL)",
		"http://u:pw@[::1":                                                "(invalid URL)",
		"":                                                                "",
		// As written when nothing is hidden: no re-encoding.
		"http://h/a%2fb": "http://h/a%2fb",
	} {
		if got := MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
		if URLHides(in) != (MaskURL(in) != in) {
			t.Errorf("URLHides(%q) = %v, but MaskURL gives %q", in, URLHides(in), MaskURL(in))
		}
	}
}

// TestURLIsShownMaskedEverywhere: every way Go shows a URL masks it, and
// Raw is the only way to the credentials.
func TestURLIsShownMaskedEverywhere(t *testing.T) {
	raw := "https://u:pw-Zq81@h.example/p?api_token=tok-7Hx2"
	u := NewURL(raw)
	js, _ := json.Marshal(struct{ U URL }{u})
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "url", u)
	for _, shown := range []string{u.String(), fmt.Sprint(u), fmt.Sprintf("%v %s %#v %+v", u, u, u, u), string(js), logged.String()} {
		if strings.Contains(shown, "pw-Zq81") || strings.Contains(shown, "tok-7Hx2") || !strings.Contains(shown, "h.example/p") {
			t.Errorf("shown as %s", shown)
		}
	}
	if u.Raw() != raw || u.IsZero() || u.IsSecret() || !(URL{}).IsZero() {
		t.Error("Raw, IsZero or IsSecret wrong")
	}
	s := NewSecretURL(raw)
	if s.String() != Redacted || !s.IsSecret() || s.Raw() != raw {
		t.Errorf("secret URL shown as %s", s)
	}
}

// TestToJSONMasksURLs: a string marked URLMark is shown masked by the API,
// wherever it is, while the value itself keeps the real URL (so comparing
// arguments sees a changed password).
func TestToJSONMasksURLs(t *testing.T) {
	raw := "https://u:pw-Zq81@h.example/p?api_token=tok-7Hx2"
	v := cty.ObjectVal(map[string]cty.Value{
		"url":  URLVal(raw),
		"urls": cty.ListVal([]cty.Value{URLVal(raw), URLVal("http://plain/")}),
		"flag": cty.True.Mark(URLMark), // a mark that reached a non-string through an expression
	})
	js, err := MarshalValueJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"flag":true,"url":"https://u:xxxxx@h.example/p?api_token=xxxxx","urls":["https://u:xxxxx@h.example/p?api_token=xxxxx","http://plain/"]}`
	if string(js) != want {
		t.Errorf("JSON = %s, want %s", js, want)
	}
	if URLVal(raw).RawEquals(URLVal(strings.Replace(raw, "pw-Zq81", "other", 1))) {
		t.Error("URLs differing only in their password compare equal")
	}
}
