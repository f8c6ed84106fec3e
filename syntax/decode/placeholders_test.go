package decode

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// phArgs is shaped like prometheus.scrape: a reference-fed required list,
// durations checked against each other, and a URL checked on its own.
type phArgs struct {
	Targets  []map[string]string `river:"targets,attr"`
	Interval time.Duration       `river:"scrape_interval,attr,optional"`
	Timeout  time.Duration       `river:"scrape_timeout,attr,optional"`
	URL      string              `river:"url,attr,optional"`
	ProxyURL string              `river:"proxy_url,attr,optional"`
	Inner    *phInner            `river:"inner,block,optional"`
}

type phInner struct {
	Name string `river:"name,attr"`
}

func (i *phInner) Validate() error {
	if i.Name == "" {
		return fmt.Errorf("name must not be empty")
	}
	return nil
}

func (a *phArgs) SetToDefault() { *a = phArgs{Interval: time.Minute, Timeout: 10 * time.Second} }

func (a *phArgs) Validate() error {
	if a.Timeout > a.Interval {
		return fmt.Errorf("scrape_timeout (%s) must not be greater than scrape_interval (%s)", a.Timeout, a.Interval)
	}
	if a.URL == "" && a.ProxyURL == "" {
		return fmt.Errorf("url is required")
	}
	if a.ProxyURL != "" && !strings.HasPrefix(a.ProxyURL, "http") {
		return fmt.Errorf("proxy_url must be an http URL")
	}
	return nil
}

func placeholderContext() *hcl.EvalContext {
	return &hcl.EvalContext{Variables: map[string]cty.Value{
		"disc": cty.ObjectVal(map[string]cty.Value{
			"targets": cty.UnknownVal(cty.List(cty.Map(cty.String))),
			"content": cty.UnknownVal(cty.String),
			// A list with one unknown element is known, not wholly known.
			"mixed": cty.ListVal([]cty.Value{cty.MapVal(map[string]cty.Value{"a": cty.UnknownVal(cty.String)})}),
		}),
	}}
}

func TestPlaceholders(t *testing.T) {
	cases := []struct {
		name, body string
		want       string // "" for no error
	}{
		{"a check independent of the unknown value is reported",
			`targets = disc.targets
  url = "http://x"
  scrape_interval = "1s"`,
			"scrape_timeout (10s) must not be greater than scrape_interval (1s)"},
		{"a partly unknown value is a placeholder too",
			`targets = disc.mixed
  url = "http://x"
  scrape_interval = "1s"`,
			"scrape_timeout (10s) must not be greater than scrape_interval (1s)"},
		{"a check naming the unknown attribute is dropped",
			`targets = disc.targets
  url = disc.content`, ""},
		{"a check naming an attribute only as part of another name is kept",
			`targets = disc.targets
  url = disc.content
  proxy_url = "ftp://p"`,
			"proxy_url must be an http URL"},
		{"unknown in a nested block drops the nested block's check and the outer one's",
			`targets = [{"a" = "b"}]
  url = "http://x"
  inner {
    name = disc.content
  }`, ""},
		{"an error unrelated to unknowns is still reported in full",
			`targets = disc.targets
  url = "http://x"
  inner {
    name = ""
  }`, "name must not be empty"},
		{"a wrong literal type is reported",
			`targets = disc.targets
  url = "http://x"
  scrape_interval = 5`, "duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := parseBlock(t, "test.component \"x\" {\n  "+tc.body+"\n}\n")
			var a phArgs
			diags := Block(b, placeholderContext(), &a, Placeholders())
			switch {
			case tc.want == "" && diags.HasErrors():
				t.Fatalf("want no error, got %v", diags)
			case tc.want != "" && !strings.Contains(diags.Error(), tc.want):
				t.Fatalf("want an error containing %q, got %v", tc.want, diags)
			}
			// Without placeholders every unknown value is an error.
			if strings.Contains(tc.body, "disc.") {
				var a2 phArgs
				if d := Block(b, placeholderContext(), &a2); !strings.Contains(d.Error(), "not known") {
					t.Fatalf("without Placeholders: %v", d)
				}
			}
		})
	}
}

func TestNamesAny(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want bool
	}{
		{"url is required", true},
		{"endpoint: url: bad", true},
		{"proxy_url must be set", false},
		{"urls are required", false},
		{"the (url)", true},
	} {
		if got := namesAny(tc.msg, []string{"url"}); got != tc.want {
			t.Errorf("namesAny(%q) = %v", tc.msg, got)
		}
	}
}
