package decode

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/common/model"
	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/value"
)

// Test types, shaped like real component arguments.

type Receiver interface{ Receive(n int) }

type recv struct{ name string }

func (r *recv) Receive(int) {}

type Filter struct {
	Name   string   `river:"name,attr"`
	Values []string `river:"values,attr"`
}

func (f *Filter) Validate() error {
	if len(f.Values) == 0 {
		return errors.New("a filter needs at least one value")
	}
	return nil
}

type Rule struct {
	SourceLabels []string `river:"source_labels,attr,optional"`
	Regex        string   `river:"regex,attr,optional"`
	Action       string   `river:"action,attr,optional"`
}

func (r *Rule) SetToDefault() { *r = Rule{Regex: "(.*)", Action: "replace"} }

type Credentials struct {
	AccessKeyID     string       `river:"access_key_id,attr"`
	SecretAccessKey value.Secret `river:"secret_access_key,attr"`
	Token           value.Secret `river:"token,attr,optional"`
}

type SigV4 struct {
	Region      string       `river:"region,attr,optional"`
	Credentials *Credentials `river:"credentials,block,optional"`
}

type QueueConfig struct {
	Capacity  int           `river:"capacity,attr,optional"`
	BatchWait time.Duration `river:"batch_wait,attr,optional"`
}

type Endpoint struct {
	URL         string      `river:"url,attr"`
	Headers     []string    `river:"headers,attr,optional"`
	SigV4       *SigV4      `river:"aws_sigv4,block,optional"`
	QueueConfig QueueConfig `river:"queue_config,block,optional"`
}

func (e *Endpoint) SetToDefault() {
	*e = Endpoint{QueueConfig: QueueConfig{Capacity: 10000, BatchWait: 5 * time.Second}}
}

type HTTPClient struct {
	FollowRedirects bool         `river:"follow_redirects,attr,optional"`
	BearerToken     value.Secret `river:"bearer_token,attr,optional"`
}

type Args struct {
	Region       string              `river:"region,attr"`
	Port         int                 `river:"port,attr,optional"`
	Small        int8                `river:"small,attr,optional"`
	Count        uint16              `river:"count,attr,optional"`
	Ratio        float64             `river:"ratio,attr,optional"`
	Ratio32      float32             `river:"ratio32,attr,optional"`
	Enabled      bool                `river:"enabled,attr,optional"`
	Interval     time.Duration       `river:"refresh_interval,attr,optional"`
	PromInterval model.Duration      `river:"scrape_interval,attr,optional"`
	Password     value.Secret        `river:"password,attr,optional"`
	Tags         []string            `river:"tags,attr,optional"`
	Extra        map[string]int      `river:"extra,attr,optional"`
	Labels       map[string]string   `river:"labels,block,optional"`
	LabelSet     model.LabelSet      `river:"label_set,attr,optional"`
	Filters      []Filter            `river:"filters,attr,optional"`
	Targets      []map[string]string `river:"targets,attr,optional"`
	Rules        []Rule              `river:"rule,block,optional"`
	Endpoints    []*Endpoint         `river:"endpoint,block,optional"`
	Credentials  *Credentials        `river:"credentials,block,optional"`
	ForwardTo    []Receiver          `river:"forward_to,attr,optional"`
	Output       Receiver            `river:"output,attr,optional"`
	Callback     func() int          `river:"callback,attr,optional"`
	Anything     any                 `river:"anything,attr,optional"`
	MaybeName    *string             `river:"maybe_name,attr,optional"`
	Addr         net.IP              `river:"addr,attr,optional"`
	When         time.Time           `river:"when,attr,optional"`
	HTTPClient   `river:",squash"`
}

func (a *Args) SetToDefault() {
	*a = Args{Port: 80, Interval: time.Minute, HTTPClient: HTTPClient{FollowRedirects: true}}
}

func (a *Args) Validate() error {
	if a.Region == "invalid" {
		return errors.New("region \"invalid\" is not an AWS region")
	}
	return nil
}

const file = "test.river"

// parseBlock parses src and returns its first block.
func parseBlock(t testing.TB, src string) *syntax.Block {
	t.Helper()
	f, diags := syntax.ParseFile([]byte(src), file)
	if diags.HasErrors() {
		t.Fatalf("parse: %v", diags)
	}
	blocks := f.Body.Blocks()
	if len(blocks) == 0 {
		t.Fatal("no block in source")
	}
	return blocks[0]
}

var theReceiver = &recv{name: "default"}

// evalContext offers references like a runtime would: capsules and secrets
// from other components' exports.
func evalContext() *hcl.EvalContext {
	return &hcl.EvalContext{Variables: map[string]cty.Value{
		"remote": cty.ObjectVal(map[string]cty.Value{
			"receiver": value.CapsuleOf(reflect.ValueOf(theReceiver), reflect.TypeFor[Receiver]()),
		}),
		"creds": cty.ObjectVal(map[string]cty.Value{
			"access_key_id":     cty.StringVal("AKIA"),
			"secret_access_key": value.SecretVal("hunter2"),
			"keys":              cty.ListVal([]cty.Value{cty.StringVal("k1")}).Mark(value.SecretMark),
		}),
		"other":   value.Capsule(42 * time.Second),
		"nothing": cty.NullVal(cty.String),
		"unknown": cty.UnknownVal(cty.String),
	}}
}

func decodeArgs(t testing.TB, src string, opts ...Option) (Args, hcl.Diagnostics) {
	t.Helper()
	b := parseBlock(t, src)
	var args Args
	diags := Block(b, evalContext(), &args, opts...)
	return args, diags
}

func TestDecodeEveryType(t *testing.T) {
	src := `test.component "x" {
  region           = "us-east-1"
  port             = 9100
  small            = -128
  count            = 65535
  ratio            = 0.25
  ratio32          = 1.5
  enabled          = true
  refresh_interval = "1m30s"
  scrape_interval  = "1d"
  password         = "hunter2"
  tags             = ["a", "b"]
  extra            = { one = 1, "two.2" = 2 }
  label_set        = { job = "node" }
  filters          = [{ name = "tag:Name", values = ["web*"] }, { name = "state", values = ["running"] }]
  targets          = [{"__address__" = "localhost:9100", "job" = "node"}]
  forward_to       = [remote.receiver, remote.receiver]
  output           = remote.receiver
  anything         = { list = [1, 2.5, "x"], secret = creds.secret_access_key, capsule = other, nothing = null }
  maybe_name       = "named"
  addr             = "10.0.0.1"
  when             = "2024-05-01T10:00:00Z"
  bearer_token     = creds.secret_access_key

  labels {
    job = "firehose_logs"
    env = "production"
  }

  rule {
    source_labels = ["__meta_ec2_instance_id"]
  }
  rule {
    regex  = "x"
    action = "keep"
  }

  endpoint {
    url = "https://example.com"

    aws_sigv4 {
      credentials {
        access_key_id     = creds.access_key_id
        secret_access_key = creds.secret_access_key
      }
    }
  }
  endpoint {
    url = "https://second.example.com"
    queue_config {
      capacity = 5
    }
  }

  credentials {
    access_key_id     = "AKIA"
    secret_access_key = "plain becomes secret"
  }
}`
	var secrets []Masked
	args, diags := decodeArgs(t, src, SecretRanges(&secrets))
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics: %v", diags)
	}
	name := "named"
	want := Args{
		Region: "us-east-1", Port: 9100, Small: -128, Count: 65535, Ratio: 0.25, Ratio32: 1.5, Enabled: true,
		Interval: 90 * time.Second, PromInterval: model.Duration(24 * time.Hour), Password: "hunter2",
		Tags:      []string{"a", "b"},
		Extra:     map[string]int{"one": 1, "two.2": 2},
		LabelSet:  model.LabelSet{"job": "node"},
		Filters:   []Filter{{Name: "tag:Name", Values: []string{"web*"}}, {Name: "state", Values: []string{"running"}}},
		Targets:   []map[string]string{{"__address__": "localhost:9100", "job": "node"}},
		ForwardTo: []Receiver{theReceiver, theReceiver},
		Output:    theReceiver,
		Anything: map[string]any{
			"list": []any{1, 2.5, "x"}, "secret": value.Secret("hunter2"), "capsule": 42 * time.Second, "nothing": nil,
		},
		MaybeName: &name,
		Addr:      net.ParseIP("10.0.0.1"),
		When:      time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
		Labels:    map[string]string{"job": "firehose_logs", "env": "production"},
		Rules: []Rule{
			{SourceLabels: []string{"__meta_ec2_instance_id"}, Regex: "(.*)", Action: "replace"},
			{Regex: "x", Action: "keep"},
		},
		Endpoints: []*Endpoint{
			{URL: "https://example.com", QueueConfig: QueueConfig{Capacity: 10000, BatchWait: 5 * time.Second},
				SigV4: &SigV4{Credentials: &Credentials{AccessKeyID: "AKIA", SecretAccessKey: "hunter2"}}},
			{URL: "https://second.example.com", QueueConfig: QueueConfig{Capacity: 5, BatchWait: 5 * time.Second}},
		},
		Credentials: &Credentials{AccessKeyID: "AKIA", SecretAccessKey: "plain becomes secret"},
		HTTPClient:  HTTPClient{FollowRedirects: true, BearerToken: "hunter2"},
	}
	if !reflect.DeepEqual(args, want) {
		t.Errorf("decoded:\n%s\nwant:\n%s", dump(args), dump(want))
	}
	if args.ForwardTo[0].(*recv) != theReceiver || args.Output.(*recv) != theReceiver {
		t.Error("capsules did not carry the same Go value")
	}

	// Every attribute holding a secret is reported, by its expression.
	var got []string
	for _, m := range secrets {
		got = append(got, fmt.Sprintf("%d:%d", m.Range.Start.Line, m.Range.Start.Column))
		if m.Text != `"(secret)"` {
			t.Errorf("secret at %s shown as %s, want \"(secret)\"", m.Range, m.Text)
		}
	}
	wantSecrets := []string{"11:22", "19:22", "23:22", "44:29", "57:25"}
	if strings.Join(got, " ") != strings.Join(wantSecrets, " ") {
		t.Errorf("secret ranges = %v, want %v", got, wantSecrets)
	}
}

// dump prints a value with secrets revealed, for test failure messages only.
func dump(v any) string {
	return strings.ReplaceAll(fmt.Sprintf("%+v", v), "(secret)", "<secret>")
}

func TestDefaultsAndOptional(t *testing.T) {
	args, diags := decodeArgs(t, `c "x" {
  region = "r"
  port   = null
  endpoint {
    url = "u"
  }
}`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if args.Port != 80 || args.Interval != time.Minute || !args.FollowRedirects {
		t.Errorf("defaults not kept: port=%d interval=%s follow=%v", args.Port, args.Interval, args.FollowRedirects)
	}
	if args.Endpoints[0].QueueConfig.Capacity != 10000 {
		t.Errorf("repeated block did not get its defaults: %+v", args.Endpoints[0])
	}
	if args.Credentials != nil || args.Rules != nil {
		t.Error("absent optional blocks were set")
	}
}

func TestDefaultsOfUnsetFieldsAreKeptWithoutDefaulter(t *testing.T) {
	// A struct without SetToDefault keeps the values it already holds.
	type inner struct {
		A int `river:"a,attr,optional"`
		B int `river:"b,attr,optional"`
	}
	type outer struct {
		In   inner    `river:"in,block,optional"`
		List []string `river:"list,attr,optional"`
	}
	proto := outer{In: inner{A: 1, B: 2}, List: []string{"default"}}
	target := proto
	diags := Block(parseBlock(t, "o {\n  in {\n    b = 3\n  }\n  list = [\"x\"]\n}"), nil, &target)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if target.In != (inner{A: 1, B: 3}) || target.List[0] != "x" {
		t.Errorf("got %+v", target)
	}
	if proto.List[0] != "default" {
		t.Error("decoding modified the prototype's slice")
	}
}

// diagString renders diagnostics as "line:col: summary" lines.
func diagString(diags hcl.Diagnostics) string {
	var lines []string
	for _, d := range diags {
		pos := "-"
		if d.Subject != nil {
			pos = fmt.Sprintf("%d:%d", d.Subject.Start.Line, d.Subject.Start.Column)
		}
		lines = append(lines, pos+": "+d.Summary)
	}
	return strings.Join(lines, "\n")
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		body string // inside `discovery.aws.ec2 "x" {` … `}`, which starts on line 1
		want string
	}{
		{"unknown attribute with suggestion", `regon = "x"`,
			`2:3: unknown attribute "regon" in discovery.aws.ec2; did you mean "region"?`},
		{"unknown attribute without suggestion", "region = \"r\"\n  zzzzzzzz = 1",
			`3:3: unknown attribute "zzzzzzzz" in discovery.aws.ec2`},
		{"unknown block with suggestion", "region = \"r\"\n  credential {\n  }",
			`3:3: unknown block "credential" in discovery.aws.ec2; did you mean "credentials"?`},
		{"missing required attribute", `port = 1`,
			`1:1: missing required attribute "region" in discovery.aws.ec2`},
		{"missing required attribute in nested block", "region = \"r\"\n  endpoint {\n  }",
			`3:3: missing required attribute "url" in discovery.aws.ec2 > endpoint`},
		{"attribute used as block", "region = \"r\"\n  tags {\n  }",
			`3:3: "tags" in discovery.aws.ec2 is an attribute, not a block; write it as tags = …`},
		{"block used as attribute", "region = \"r\"\n  credentials = {}",
			`3:3: "credentials" in discovery.aws.ec2 is a block, not an attribute; write it as credentials { … }`},
		{"non-repeatable block twice", "region = \"r\"\n  labels {\n  }\n  labels {\n  }",
			`5:3: block "labels" may only be given once in discovery.aws.ec2; it was first given at line 3, column 3`},
		{"attribute twice", "region = \"r\"\n  region = \"s\"",
			`3:3: attribute "region" in discovery.aws.ec2 is set twice; it was first set at line 2, column 3`},
		{"block with a label", "region = \"r\"\n  credentials \"a\" {\n    access_key_id = \"x\"\n    secret_access_key = \"y\"\n  }",
			`3:15: block "credentials" in discovery.aws.ec2 takes no label`},
		{"wrong type", `region = 1`,
			`2:12: region: expected string, got number`},
		{"wrong type in list", "region = \"r\"\n  tags = [\"a\", 2]",
			`3:10: tags[1]: expected string, got number`},
		{"wrong type deep in objects", "region = \"r\"\n  filters = [{ name = \"a\", values = [\"x\"] }, { name = \"b\", values = \"y\" }]",
			`3:13: filters[1].values: expected list of string, got string`},
		{"unknown field in object", "region = \"r\"\n  filters = [{ nmae = \"a\", values = [\"x\"] }]",
			`3:13: filters[0]: unknown field "nmae"; did you mean "name"?`},
		{"missing field in object", "region = \"r\"\n  filters = [{ values = [\"x\"] }]",
			`3:13: filters[0]: missing required field "name"`},
		{"Validate of an object element", "region = \"r\"\n  filters = [{ name = \"a\", values = [] }]",
			`3:13: filters[0]: a filter needs at least one value`},
		{"secret into string", `region = creds.secret_access_key`,
			`2:12: region: expected string, got secret; use nonsensitive() to convert a secret to a string`},
		{"secret list into list of string", "region = \"r\"\n  tags = creds.keys",
			`3:10: tags[0]: expected string, got secret; use nonsensitive() to convert a secret to a string`},
		{"secret into map block entry", "region = \"r\"\n  labels {\n    job = creds.secret_access_key\n  }",
			`4:11: labels.job: expected string, got secret; use nonsensitive() to convert a secret to a string`},
		{"number into secret", "region = \"r\"\n  password = 5",
			`3:14: password: expected secret, got number`},
		{"null for required attribute", `region = null`,
			`2:12: attribute "region" in discovery.aws.ec2 is required, but its value is null`},
		{"null through a reference", `region = nothing`,
			`2:12: attribute "region" in discovery.aws.ec2 is required, but its value is null`},
		{"unknown value", `region = unknown`,
			`2:12: the value of "region" is not known`},
		{"null inside a list", "region = \"r\"\n  tags = [null]",
			`3:10: tags[0]: expected string, got null`},
		{"fraction into int", "region = \"r\"\n  port = 1.5",
			`3:10: port: expected a whole number, got 1.5`},
		{"int out of range", "region = \"r\"\n  small = 128",
			`3:11: small: 128 is out of range (-128 to 127)`},
		{"negative uint", "region = \"r\"\n  count = -1",
			`3:11: count: expected a whole number of 0 or more, got -1`},
		{"uint out of range", "region = \"r\"\n  count = 65536",
			`3:11: count: 65536 is out of range (0 to 65535)`},
		{"bad duration", "region = \"r\"\n  refresh_interval = \"15x\"",
			`3:22: refresh_interval: invalid duration "15x": write a number and a unit, such as "15s", "1m30s", "1h" or "1d"`},
		{"number for duration", "region = \"r\"\n  refresh_interval = 15",
			`3:22: refresh_interval: expected duration, got number`},
		{"string for bool", "region = \"r\"\n  enabled = \"true\"",
			`3:13: enabled: expected bool, got string`},
		{"string for capsule", "region = \"r\"\n  output = \"remote\"",
			`3:12: output: expected capsule(decode.Receiver), got string`},
		{"wrong capsule", "region = \"r\"\n  output = other",
			`3:12: output: expected capsule(decode.Receiver), got capsule(time.Duration)`},
		{"wrong capsule in list", "region = \"r\"\n  forward_to = [remote.receiver, other]",
			`3:16: forward_to[1]: expected capsule(decode.Receiver), got capsule(time.Duration)`},
		{"capsule for list", "region = \"r\"\n  forward_to = remote.receiver",
			`3:16: forward_to: expected list of capsule(decode.Receiver), got capsule(decode.Receiver)`},
		{"bad text value", "region = \"r\"\n  addr = \"not-an-ip\"",
			`3:10: addr: invalid net.IP "not-an-ip": invalid IP address: not-an-ip`},
		{"Validate error at the block header", `region = "invalid"`,
			`1:1: discovery.aws.ec2: region "invalid" is not an AWS region`},
		{"block inside a map block", "region = \"r\"\n  labels {\n    nested {\n    }\n  }",
			`4:5: discovery.aws.ec2 > labels takes only attributes (its map entries), not the block "nested"`},
		{"several errors at once", "regon = 1\n  port = \"x\"",
			"3:10: port: expected number, got string\n2:3: unknown attribute \"regon\" in discovery.aws.ec2; did you mean \"region\"?"},
		{"evaluation errors pass through", "region = missing.thing",
			`2:12: unknown reference "missing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "discovery.aws.ec2 \"x\" {\n  " + tt.body + "\n}\n"
			_, diags := decodeArgs(t, src)
			got := diagString(sortedBySource(diags))
			want := diagString(sortedBySource(parseWant(tt.want)))
			if got != want {
				t.Errorf("diagnostics:\n got %s\nwant %s", got, want)
			}
			for _, d := range diags {
				if d.Subject == nil || d.Subject.Filename != file {
					t.Errorf("diagnostic without a source range: %s", d.Summary)
				}
				if strings.Contains(d.Summary+d.Detail, "hunter2") {
					t.Errorf("a secret leaked into a diagnostic: %s", d.Summary)
				}
			}
		})
	}
}

// parseWant turns "line:col: summary" lines into diagnostics for sorting.
func parseWant(s string) hcl.Diagnostics {
	var out hcl.Diagnostics
	for line := range strings.SplitSeq(s, "\n") {
		var l, c int
		pos, summary, _ := strings.Cut(line, ": ")
		fmt.Sscanf(pos, "%d:%d", &l, &c)
		out = append(out, &hcl.Diagnostic{Summary: summary, Subject: &hcl.Range{Start: hcl.Pos{Line: l, Column: c}}})
	}
	return out
}

func sortedBySource(diags hcl.Diagnostics) hcl.Diagnostics {
	out := append(hcl.Diagnostics(nil), diags...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && less(out[j], out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func less(a, b *hcl.Diagnostic) bool {
	if a.Subject.Start.Line != b.Subject.Start.Line {
		return a.Subject.Start.Line < b.Subject.Start.Line
	}
	return a.Subject.Start.Column < b.Subject.Start.Column
}

func TestRequiredBlock(t *testing.T) {
	type withBlock struct {
		Endpoint Endpoint       `river:"endpoint,block"`
		Rules    []Rule         `river:"rule,block"`
		Creds    *SigV4         `river:"sigv4,block"`
		Labels   model.LabelSet `river:"labels,block"`
	}
	var target withBlock
	diags := Block(parseBlock(t, "loki.write \"default\" {\n}"), nil, &target, Named("loki.write.default"))
	want := `1:1: missing required block "endpoint" in loki.write.default
1:1: missing required block "rule" in loki.write.default
1:1: missing required block "sigv4" in loki.write.default
1:1: missing required block "labels" in loki.write.default`
	if got := diagString(diags); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// The header range spans the name through the brace.
	if diags[0].Subject.End.Column != 23 {
		t.Errorf("header range ends at column %d, want 23 (just after the brace)", diags[0].Subject.End.Column)
	}
}

func TestBodyWithoutBlock(t *testing.T) {
	f, diags := syntax.ParseFile([]byte("region = \"r\"\nregon = 1\n"), file)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var args Args
	diags = Body(f.Body, nil, &args)
	if got, want := diagString(diags), `2:1: unknown attribute "regon" in block; did you mean "region"?`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if diags := Body(f.Body, nil, args); !strings.Contains(diagString(diags), "must be a non-nil pointer to a struct") {
		t.Errorf("a non-pointer target was accepted: %v", diags)
	}
}

func TestBadTags(t *testing.T) {
	type badTag struct {
		A string `river:"a,atr"`
	}
	type badBlock struct {
		A string `river:"a,block"`
	}
	type dup struct {
		A string `river:"a,attr"`
		B string `river:"a,attr,optional"`
	}
	for _, target := range []any{&badTag{}, &badBlock{}, &dup{}} {
		diags := Body(&syntax.Body{}, nil, target)
		if !diags.HasErrors() || !strings.HasPrefix(diags[0].Summary, "internal error") {
			t.Errorf("%T: bad tags not reported: %v", target, diags)
		}
		if err := CheckType(reflect.TypeOf(target).Elem()); err == nil {
			t.Errorf("%T: CheckType found nothing", target)
		}
	}
	if err := CheckType(reflect.TypeFor[Args]()); err != nil {
		t.Errorf("CheckType(Args) = %v", err)
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	args, diags := decodeArgs(t, `c "x" {
  region   = "r"
  password = "hunter2"
  anything = creds.secret_access_key
  credentials {
    access_key_id     = "AKIA"
    secret_access_key = creds.secret_access_key
  }
}`)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, s := range []string{fmt.Sprint(args), fmt.Sprintf("%+v %#v", args, args), fmt.Sprint(*args.Credentials)} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("secret leaked through fmt: %s", s)
		}
	}
	v := Encode(args)
	js, err := value.MarshalValueJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), "hunter2") {
		t.Fatalf("secret leaked through JSON: %s", js)
	}
	if !strings.Contains(string(js), `"password":"(secret)"`) || !strings.Contains(string(js), `"secret_access_key":"(secret)"`) {
		t.Errorf("secrets not shown as (secret): %s", js)
	}
	if !v.GetAttr("password").HasMark(value.SecretMark) {
		t.Error("encoded secret is not marked")
	}
}

func TestValue(t *testing.T) {
	var d time.Duration
	if err := Value(cty.StringVal("2m"), &d); err != nil || d != 2*time.Minute {
		t.Errorf("Value(duration) = %v, %v", d, err)
	}
	var s []string
	err := Value(cty.TupleVal([]cty.Value{cty.True}), &s)
	if err == nil || err.Error() != "[0]: expected string, got bool" {
		t.Errorf("Value error = %v", err)
	}
	if err := Value(cty.StringVal("x"), s); err == nil {
		t.Error("Value accepted a non-pointer")
	}
}

// TestHandBuiltBody decodes a body built in Go rather than parsed, as any
// hcl.Expression will do.
func TestHandBuiltBody(t *testing.T) {
	at := func(line, col, n int) hcl.Range {
		return hcl.Range{Filename: file, Start: hcl.Pos{Line: line, Column: col}, End: hcl.Pos{Line: line, Column: col + n}}
	}
	attr := func(line int, name string, v cty.Value) *syntax.Attribute {
		return &syntax.Attribute{
			Name: name, NameRange: at(line, 3, len(name)),
			Expr:  hcl.StaticExpr(v, at(line, 6+len(name), 4)),
			Range: at(line, 3, len(name)+7),
		}
	}
	body := &syntax.Body{Stmts: []syntax.Stmt{
		attr(2, "region", cty.StringVal("eu-west-1")),
		attr(3, "password", value.SecretVal("hunter2")),
		attr(4, "port", cty.StringVal("80")),
	}}
	var args Args
	var secrets []Masked
	diags := Body(body, nil, &args, Named("test.component"), SecretRanges(&secrets))
	if got, want := diagString(diags), "4:10: port: expected number, got string"; got != want {
		t.Errorf("diagnostics = %s, want %s", got, want)
	}
	if args.Region != "eu-west-1" || args.Password != "hunter2" {
		t.Errorf("decoded %s", dump(args))
	}
	if len(secrets) != 1 || secrets[0].Range.Start.Line != 3 {
		t.Errorf("secret ranges = %v", secrets)
	}
}
