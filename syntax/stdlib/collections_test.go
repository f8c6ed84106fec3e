package stdlib

import (
	"strings"
	"testing"
)

// Each case evaluates encoding.to_json(<call>) and compares the JSON, so the
// expected values read as data. The examples follow Alloy's reference docs.
func TestNewFunctions(t *testing.T) {
	t.Setenv("FLOW_STDLIB_YAML", "a: [1, 2]\nb:\n  c: x\n")
	ctx := EvalContext()
	cases := []struct{ call, want string }{
		// array.combine_maps: an inner join on the keys, right wins.
		{`array.combine_maps([{"a" = "a1", "b" = "b1"}, {"a" = "a2", "b" = "b2"}], [{"a" = "a1", "c" = "c1"}], ["a"])`,
			`[{"a":"a1","b":"b1","c":"c1"}]`},
		{`array.combine_maps([{"instance" = "x", "v" = "1"}], [{"instance" = "x", "v" = "2"}], ["instance"])`,
			`[{"instance":"x","v":"2"}]`},
		{`array.combine_maps([{"a" = "1"}, {"b" = "2"}], [{"a" = "1", "c" = "3"}], ["a"])`,
			`[{"a":"1","c":"3"}]`},
		// the fourth argument keeps unmatched left items (a left join).
		{`array.combine_maps([{"a" = "1"}, {"a" = "9", "b" = "2"}], [{"a" = "1", "c" = "3"}], ["a"], true)`,
			`[{"a":"1","c":"3"},{"a":"9","b":"2"}]`},
		{`array.combine_maps([], [{"a" = "1"}], ["a"])`, `[]`},
		// array.group_by: groups in first-seen order; missing keys group under "" unless dropped.
		{`array.group_by([{"name" = "alice", "age" = "20"}, {"name" = "bob", "age" = "20"}, {"name" = "charlie", "age" = "30"}, {"name" = "william"}], "age", true)`,
			`[{"age":"20","items":[{"age":"20","name":"alice"},{"age":"20","name":"bob"}]},{"age":"30","items":[{"age":"30","name":"charlie"}]}]`},
		{`array.group_by([{"name" = "william"}, {"name" = "alice", "age" = "20"}], "age", false)`,
			`[{"age":"","items":[{"name":"william"}]},{"age":"20","items":[{"age":"20","name":"alice"}]}]`},
		// encoding
		{`encoding.from_yaml(sys.env("FLOW_STDLIB_YAML"))`, `{"a":[1,2],"b":{"c":"x"}}`},
		{`yaml_decode("- 1\n- two\n- true\n- null")`, `[1,"two",true,null]`},
		{`encoding.from_URLbase64("c3RyaW5nMTIzIT8kKiYoKSctPUB-")`, `"string123!?$*\u0026()'-=@~"`},
		{`encoding.to_URLbase64("string123!?$*&()'-=@~")`, `"c3RyaW5nMTIzIT8kKiYoKSctPUB-"`},
		{`encoding.url_encode("string123!?$*&()'-=@~")`, `"string123%21%3F%24%2A%26%28%29%27-%3D%40~"`},
		{`encoding.url_decode("string123%21%3F%24%2A%26%28%29%27-%3D%40~")`, `"string123!?$*\u0026()'-=@~"`},
		// json_path returns every match as a list.
		{`json_path("{\"name\": \"Demo\", \"tags\": [{\"k\": \"a\"}, {\"k\": \"b\"}]}", ".name")`, `["Demo"]`},
		{`json_path("{\"tags\": [{\"k\": \"a\"}, {\"k\": \"b\"}]}", "$.tags[*].k")`, `["a","b"]`},
		{`json_path("{\"name\": \"Demo\"}", ".missing")`, `[]`},
		{`file.path_join("/etc", "flow", "../flow", "config.river")`, `"/etc/flow/config.river"`},
		{`file.path_join()`, `""`},
	}
	for _, c := range cases {
		v, diags := eval(t, ctx, "encoding.to_json("+c.call+")")
		if diags.HasErrors() {
			t.Errorf("%s: %s", c.call, diags.Error())
			continue
		}
		if got := v.AsString(); got != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.call, got, c.want)
		}
	}
}

func TestNewFunctionErrors(t *testing.T) {
	ctx := EvalContext()
	cases := []struct{ call, want string }{
		{`array.combine_maps([{"a" = "1"}], [{"a" = "1"}], [])`, "must not be empty"},
		{`array.combine_maps("x", [], ["a"])`, "expected a list of maps"},
		{`array.combine_maps([1], [], ["a"])`, "item 1: expected a map"},
		{`array.group_by([{"age" = 3}], "age", false)`, "must be a string"},
		{`encoding.from_yaml("a: [")`, "invalid YAML"},
		{`encoding.from_URLbase64("!!")`, "invalid URL-safe base64"},
		{`encoding.url_decode("%zz")`, "invalid percent-encoding"},
		{`json_path("{", ".a")`, "invalid JSON"},
		{`json_path("{}", "$[")`, "invalid JSONPath"},
		{`encoding.from_yaml("` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `")`, "nested"},
	}
	for _, c := range cases {
		_, diags := eval(t, ctx, c.call)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.call, diags, c.want)
		}
	}
}

// A YAML bomb (aliases expanding exponentially) is refused, not expanded.
func TestFromYAMLRefusesAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString(`a: &a ["x","x","x","x","x","x","x","x","x"]\n`)
	prev := "a"
	for i := 0; i < 9; i++ {
		name := string(rune('b' + i))
		b.WriteString(name + ": &" + name + " [")
		for j := 0; j < 9; j++ {
			if j > 0 {
				b.WriteString(",")
			}
			b.WriteString("*" + prev)
		}
		b.WriteString("]\n")
		prev = name
	}
	ctx := EvalContext()
	t.Setenv("FLOW_STDLIB_BOMB", strings.ReplaceAll(b.String(), `\n`, "\n"))
	_, diags := eval(t, ctx, `encoding.from_yaml(sys.env("FLOW_STDLIB_BOMB"))`)
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "invalid YAML") {
		t.Fatalf("alias bomb: %v", diags)
	}
}

// A YAML error never quotes the input, which may be a secret.
func TestFromYAMLErrorDoesNotQuoteInput(t *testing.T) {
	t.Setenv("FLOW_STDLIB_SECRET_YAML", "? [hunter2-secret]\n: x\n{bad: [unclosed hunter2-secret")
	_, diags := eval(t, EvalContext(), `encoding.from_yaml(sys.env("FLOW_STDLIB_SECRET_YAML"))`)
	if !diags.HasErrors() || strings.Contains(diags.Error(), "hunter2") {
		t.Fatalf("error quotes the input or is missing: %v", diags)
	}
}

func TestDeprecatedNames(t *testing.T) {
	for name, want := range map[string]string{"env": "sys.env", "yaml_decode": "encoding.from_yaml", "format": "string.format", "nonsensitive": "convert.nonsensitive"} {
		if got, ok := Deprecated(name); !ok || got != want {
			t.Errorf("Deprecated(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{"sys.env", "coalesce", "json_path", "array.group_by"} {
		if _, ok := Deprecated(name); ok {
			t.Errorf("%s reported deprecated", name)
		}
	}
}
