package decode

import (
	"reflect"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/syntax"
)

// reuseSrc has every shape Reuse walks: top-level attributes, a map block,
// repeated blocks, repeated pointer blocks holding a pointer block and a
// struct block, a single pointer block, defaults, and references to v.a and
// v.b in each.
const reuseSrc = `test "x" {
  region  = v.b
  port    = v.port
  tags    = ["t", v.a]
  targets = [{"__address__" = v.a, "job" = "j"}]
  labels {
    env  = v.a
    team = "ops"
  }
  rule {
    source_labels = [v.b]
    regex         = "r1"
  }
  rule {
    regex = v.a
  }
  rule {
    action = "keep"
  }
  endpoint {
    url = "http://h/" + v.b
    aws_sigv4 {
      region = v.a
    }
    queue_config {
      capacity = 5
    }
  }
  endpoint {
    url = v.a
  }
  credentials {
    access_key_id     = v.b
    secret_access_key = "s"
  }
}
`

func reuseScope(a, b string, port int64) *hcl.EvalContext {
	return &hcl.EvalContext{Variables: map[string]cty.Value{
		"v": cty.ObjectVal(map[string]cty.Value{
			"a":    cty.StringVal(a),
			"b":    cty.StringVal(b),
			"port": cty.NumberIntVal(port),
		}),
	}}
}

// reads returns a fresh function: attributes reading any of v's names.
func reads(names ...string) func(*syntax.Attribute) bool {
	return func(a *syntax.Attribute) bool {
		for _, tr := range a.Expr.Variables() {
			if len(tr) < 2 || tr.RootName() != "v" {
				continue
			}
			if at, ok := tr[1].(hcl.TraverseAttr); ok {
				for _, n := range names {
					if at.Name == n {
						return true
					}
				}
			}
		}
		return false
	}
}

// Decoding again with Reuse, where only v.a changed and the attributes
// reading it are the fresh ones, gives what a full decode gives, for every
// shape; with nothing fresh it gives the previous result.
func TestReuseAgreesWithAFullDecode(t *testing.T) {
	b := parseBlock(t, reuseSrc)
	decode := func(ctx *hcl.EvalContext, opts ...Option) Args {
		t.Helper()
		var args Args
		if d := Block(b, ctx, &args, opts...); d.HasErrors() {
			t.Fatal(d)
		}
		return args
	}
	before := reuseScope("a1", "b1", 1)
	after := reuseScope("a2", "b1", 1)
	full := decode(after)
	if reflect.DeepEqual(full, decode(before)) {
		t.Fatal("the two scopes decode alike: the test shows nothing")
	}
	for _, tc := range []struct {
		name  string
		fresh func(*syntax.Attribute) bool
		want  Args
	}{
		{"what reads v.a", reads("a"), full},
		{"what reads v.a or v.b", reads("a", "b"), full},
		{"everything", func(*syntax.Attribute) bool { return true }, full},
		{"nothing", func(*syntax.Attribute) bool { return false }, decode(before)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := decode(before)
			got := decode(after, Reuse(prev, tc.fresh))
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

// Attributes reported not fresh are taken from prev, not evaluated: a
// value that did change but is reported unchanged keeps its old value
// (which is how a caller's wrong answer would show, and proves the reuse).
func TestReuseTakesWhatIsNotFreshFromPrev(t *testing.T) {
	b := parseBlock(t, reuseSrc)
	var prev, got Args
	if d := Block(b, reuseScope("a1", "b1", 1), &prev); d.HasErrors() {
		t.Fatal(d)
	}
	if d := Block(b, reuseScope("a2", "b2", 2), &got, Reuse(prev, reads("a"))); d.HasErrors() {
		t.Fatal(d)
	}
	if got.Region != "b1" || got.Port != 1 || got.Credentials.AccessKeyID != "b1" {
		t.Fatalf("v.b and v.port were re-evaluated: %+v", got)
	}
	if got.Tags[1] != "a2" || got.Labels["env"] != "a2" || got.Rules[1].Regex != "a2" || got.Endpoints[1].URL != "a2" || got.Endpoints[0].SigV4.Region != "a2" {
		t.Fatalf("v.a was not re-evaluated: %+v", got)
	}
}

// Validate still runs on a block holding a fresh attribute.
func TestReuseValidates(t *testing.T) {
	b := parseBlock(t, reuseSrc)
	var prev, got Args
	if d := Block(b, reuseScope("a1", "b1", 1), &prev); d.HasErrors() {
		t.Fatal(d)
	}
	d := Block(b, reuseScope("a1", "invalid", 1), &got, Reuse(prev, reads("b")))
	if !d.HasErrors() {
		t.Fatal("a region made invalid by a fresh attribute was accepted")
	}
}
