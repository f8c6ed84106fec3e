package decode

import (
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/value"
)

type urlArgs struct {
	URL      value.URL   `river:"url,attr"`
	Proxy    *value.URL  `river:"proxy,attr,optional"`
	Mirrors  []value.URL `river:"mirrors,attr,optional"`
	Plain    value.URL   `river:"plain,attr,optional"`
	FromFile value.URL   `river:"from_file,attr,optional"`
}

// TestURLDecodesAndIsMaskedWhereShown: a value.URL keeps the URL as
// written for the component; where its written form shows a credential the
// attribute is reported with the masked URL to show instead ("(secret)"
// for a URL inside a list, or given as a secret), and encoding marks it so
// the API masks it too.
func TestURLDecodesAndIsMaskedWhereShown(t *testing.T) {
	raw := "https://u:pw-Zq81@rw.example.com/push?api_token=tok-7Hx2"
	src := `test.component "x" {
  url       = "` + raw + `"
  proxy     = "http://proxy:3128"
  mirrors   = ["http://a/", "http://b/?k=tok-7Hx2"]
  plain     = "https://rw.example.com/push"
  from_file = creds.secret_access_key
}`
	b := parseBlock(t, src)
	var args urlArgs
	var masked []Masked
	if diags := Block(b, evalContext(), &args, SecretRanges(&masked)); diags.HasErrors() {
		t.Fatal(diags)
	}
	if args.URL.Raw() != raw || args.Proxy.Raw() != "http://proxy:3128" || len(args.Mirrors) != 2 || args.Mirrors[1].Raw() != "http://b/?k=tok-7Hx2" {
		t.Fatalf("decoded %s / %v / %v", args.URL.Raw(), args.Proxy, args.Mirrors)
	}
	if !args.FromFile.IsSecret() || args.FromFile.Raw() != "hunter2" {
		t.Errorf("a URL from a secret decoded as %q (secret %v)", args.FromFile.Raw(), args.FromFile.IsSecret())
	}
	var got []string
	for _, m := range masked {
		got = append(got, b.Body.Stmts[m.Range.Start.Line-2].(*syntax.Attribute).Name+" → "+m.Text)
	}
	want := []string{
		`url → "https://u:xxxxx@rw.example.com/push?api_token=xxxxx"`,
		`mirrors → "(secret)"`,
		`from_file → "(secret)"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("masked:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	v := Encode(args)
	js, err := value.MarshalValueJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(js); strings.Contains(s, "pw-Zq81") || strings.Contains(s, "tok-7Hx2") || strings.Contains(s, "hunter2") ||
		!strings.Contains(s, `"url":"https://u:xxxxx@rw.example.com/push?api_token=xxxxx"`) || !strings.Contains(s, `"from_file":"(secret)"`) {
		t.Errorf("encoded as %s", s)
	}
	// The encoding holds the real URL: a changed password is a change.
	other := args
	other.URL = value.NewURL(strings.Replace(raw, "pw-Zq81", "pw-2", 1))
	if Encode(other).RawEquals(v) {
		t.Error("arguments differing only in a URL's password encode equal")
	}
	// And decodes back (from a URL export into a URL argument) unchanged.
	var back urlArgs
	if err := Value(v, &back); err != nil || back.URL != args.URL || back.FromFile != args.FromFile {
		t.Errorf("decoding the encoding: %v, %+v", err, back)
	}
}

func TestURLErrors(t *testing.T) {
	for src, want := range map[string]string{
		`url = 12`:                 "url: expected string, got number",
		`url = ["http://a/"]`:      "url: expected string, got list",
		`url = "http://a/" == "x"`: "url: expected string, got bool",
	} {
		b := parseBlock(t, "test.component \"x\" {\n  "+src+"\n}")
		var args urlArgs
		diags := Block(b, evalContext(), &args)
		if !strings.Contains(diagString(diags), want) {
			t.Errorf("%s: diagnostics %s, want %q", src, diagString(diags), want)
		}
	}
}
