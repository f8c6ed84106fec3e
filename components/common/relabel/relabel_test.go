package relabel

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

func rule(mod func(*Rule)) Rule {
	var r Rule
	r.SetToDefault()
	mod(&r)
	return r
}

// TestEveryAction runs each Prometheus action once through Compile and
// ProcessTargets and checks the exact resulting target.
func TestEveryAction(t *testing.T) {
	in := map[string]string{"__address__": "10.0.0.1:9100", "job": "Node", "env": "prod", "copy": "prod", "__meta_ec2_tag_Name": "web"}
	cases := []struct {
		name string
		r    Rule
		want map[string]string // nil: dropped
	}{
		{"replace", rule(func(r *Rule) {
			r.SourceLabels = []string{"__address__"}
			r.Regex = "([^:]+):.*"
			r.TargetLabel = "host"
		}), with(in, "host", "10.0.0.1")},
		{"keep match", rule(func(r *Rule) { r.Action = "keep"; r.SourceLabels = []string{"env"}; r.Regex = "prod" }), in},
		{"keep no match", rule(func(r *Rule) { r.Action = "keep"; r.SourceLabels = []string{"env"}; r.Regex = "dev" }), nil},
		{"drop", rule(func(r *Rule) { r.Action = "drop"; r.SourceLabels = []string{"env"}; r.Regex = "prod" }), nil},
		{"keepequal", rule(func(r *Rule) { r.Action = "keepequal"; r.SourceLabels = []string{"env"}; r.TargetLabel = "copy" }), in},
		{"dropequal", rule(func(r *Rule) { r.Action = "dropequal"; r.SourceLabels = []string{"env"}; r.TargetLabel = "copy" }), nil},
		{"hashmod", rule(func(r *Rule) {
			r.Action = "hashmod"
			r.SourceLabels = []string{"__address__"}
			r.Modulus = 1
			r.TargetLabel = "shard"
		}), with(in, "shard", "0")},
		{"labelmap", rule(func(r *Rule) { r.Action = "labelmap"; r.Regex = "__meta_ec2_tag_(.+)" }), with(in, "Name", "web")},
		{"labeldrop", rule(func(r *Rule) { r.Action = "labeldrop"; r.Regex = "copy|env" }), without(in, "copy", "env")},
		{"labelkeep", rule(func(r *Rule) { r.Action = "labelkeep"; r.Regex = "__address__|job" }), map[string]string{"__address__": "10.0.0.1:9100", "job": "Node"}},
		{"lowercase", rule(func(r *Rule) { r.Action = "lowercase"; r.SourceLabels = []string{"job"}; r.TargetLabel = "job" }), with(in, "job", "node")},
		{"uppercase", rule(func(r *Rule) { r.Action = "UpperCase"; r.SourceLabels = []string{"env"}; r.TargetLabel = "env" }), with(in, "env", "PROD")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.r.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			rules, err := Compile([]Rule{tc.r})
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			out := ProcessTargets([]map[string]string{in}, rules)
			if tc.want == nil {
				if len(out) != 0 {
					t.Fatalf("target kept: %v", out)
				}
				return
			}
			if len(out) != 1 || !reflect.DeepEqual(out[0], tc.want) {
				t.Fatalf("got %v, want %v", out, tc.want)
			}
		})
	}
}

func TestProcessLabels(t *testing.T) {
	rules, err := Compile([]Rule{
		rule(func(r *Rule) { r.SourceLabels = []string{"__name__"}; r.Regex = "node_(.*)"; r.TargetLabel = "short" }),
		rule(func(r *Rule) { r.Action = "drop"; r.SourceLabels = []string{"short"}; r.Regex = "cpu.*" }),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, keep := Process(labels.FromStrings("__name__", "node_load1"), rules)
	if !keep || got.Get("short") != "load1" {
		t.Errorf("got %v keep=%v", got, keep)
	}
	if _, keep := Process(labels.FromStrings("__name__", "node_cpu_seconds_total"), rules); keep {
		t.Error("node_cpu_seconds_total not dropped")
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		r    Rule
		want string
	}{
		{rule(func(r *Rule) { r.Action = "explode" }), `rule 1: unknown action "explode"`},
		{rule(func(r *Rule) { r.Regex = "(" }), `rule 1: invalid regex "("`},
		{rule(func(r *Rule) { r.TargetLabel = "" }), `requires 'target_label'`},
		{rule(func(r *Rule) { r.Action = "hashmod"; r.TargetLabel = "x" }), "non-zero modulus"},
		{rule(func(r *Rule) { r.Action = "labeldrop"; r.SourceLabels = []string{"a"} }), "requires only 'regex'"},
		{rule(func(r *Rule) { r.Action = "keepequal"; r.TargetLabel = "x"; r.Regex = "a" }), "requires only 'source_labels'"},
	}
	for _, tc := range cases {
		_, err := Compile([]Rule{tc.r})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compile(%+v) = %v, want error containing %q", tc.r, err, tc.want)
		}
		if err := tc.r.Validate(); err == nil || strings.Contains(err.Error(), "rule 1") {
			t.Errorf("Validate(%+v) = %v, want an error without a rule number", tc.r, err)
		}
	}
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

func without(m map[string]string, ks ...string) map[string]string {
	out := map[string]string{}
	for a, b := range m {
		out[a] = b
	}
	for _, k := range ks {
		delete(out, k)
	}
	return out
}

// TestRegexCompiledOnce: rules with the same regex share one compiled
// regex (a reload compiles every rule again), and the cache stays bounded.
func TestRegexCompiledOnce(t *testing.T) {
	withRegex := func(re string) Rule {
		return rule(func(r *Rule) { r.SourceLabels, r.Regex, r.TargetLabel = []string{"a"}, re, "b" })
	}
	a, err := Compile([]Rule{withRegex("x-(.*)-cached")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Compile([]Rule{withRegex("x-(.*)-cached")})
	if err != nil {
		t.Fatal(err)
	}
	if a[0].Regex.Regexp != b[0].Regex.Regexp {
		t.Fatal("the same regex was compiled twice")
	}
	if _, err := Compile([]Rule{withRegex("x-(")}); err == nil {
		t.Fatal("an invalid regex compiled")
	}
	for i := 0; i < maxCachedRegexes+10; i++ {
		if _, err := compileRegex(fmt.Sprintf("r%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	regexCache.Lock()
	n := len(regexCache.m)
	regexCache.Unlock()
	if n > maxCachedRegexes {
		t.Fatalf("%d regexes cached, more than %d", n, maxCachedRegexes)
	}
	long := strings.Repeat("a", maxCachedRegexLen+1)
	if _, err := compileRegex(long); err != nil {
		t.Fatal(err)
	}
	regexCache.Lock()
	_, kept := regexCache.m[long]
	regexCache.Unlock()
	if kept {
		t.Fatal("a regex over maxCachedRegexLen was cached")
	}
}
