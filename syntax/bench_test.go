package syntax_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/syntax/stdlib"
	"github.com/flow-telemetry/flow/syntax/value"
)

// genConfig writes a config of n components in groups of four, the shape of
// the seed pipelines: credentials, a scrape with relabel rules forwarding to
// a remote_write that signs with the credentials, and a local.file read
// through a function call.
func genConfig(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n/4; i++ {
		fmt.Fprintf(&b, `// group %[1]d
aws.credentials "c%[1]d" {
  role_arn = "arn:aws:iam::123456789012:role/reader-%[1]d"
}

local.file "f%[1]d" {
  filename       = "/etc/flow/targets-%[1]d.json"
  poll_frequency = "1m"
}

prometheus.scrape "s%[1]d" {
  targets         = [{"__address__" = "10.0.%[2]d.%[3]d:9100", job = "node", shard = string.format("%%d", %[1]d %% 16)}]
  forward_to      = [prometheus.remote_write.rw%[1]d.receiver]
  scrape_interval = "15s"
  honor_labels    = %[1]d %% 2 == 0 && true
  extra           = encoding.from_json(local.file.f%[1]d.content)["job"]

  rule {
    source_labels = ["__meta_ec2_instance_id"]
    target_label  = "instance_id"
    replacement   = "${1}:9100"
  }
}

prometheus.remote_write "rw%[1]d" {
  endpoint {
    url = "https://mimir-%[1]d.example.com/api/v1/push"

    aws_sigv4 {
      region = "us-west-2"

      credentials {
        access_key_id     = aws.credentials.c%[1]d.access_key_id
        secret_access_key = aws.credentials.c%[1]d.secret_access_key
        token             = aws.credentials.c%[1]d.token
      }
    }
  }
}

`, i, i/250, i%250)
	}
	return b.Bytes()
}

// exportsFor builds the variables a runtime would hold for genConfig(n).
func exportsFor(n int) map[string]cty.Value {
	creds := map[string]cty.Value{}
	files := map[string]cty.Value{}
	rws := map[string]cty.Value{}
	for i := 0; i < n/4; i++ {
		creds[fmt.Sprintf("c%d", i)] = cty.ObjectVal(map[string]cty.Value{
			"access_key_id":     cty.StringVal("AKID"),
			"secret_access_key": value.SecretVal("secret"),
			"token":             value.SecretVal("token"),
		})
		files[fmt.Sprintf("f%d", i)] = cty.ObjectVal(map[string]cty.Value{"content": cty.StringVal(`{"job": "x"}`)})
		rws[fmt.Sprintf("rw%d", i)] = cty.ObjectVal(map[string]cty.Value{"receiver": value.Capsule(&testReceiver{name: "rw"})})
	}
	return map[string]cty.Value{
		"aws":        cty.ObjectVal(map[string]cty.Value{"credentials": cty.ObjectVal(creds)}),
		"local":      cty.ObjectVal(map[string]cty.Value{"file": cty.ObjectVal(files)}),
		"prometheus": cty.ObjectVal(map[string]cty.Value{"remote_write": cty.ObjectVal(rws)}),
	}
}

func TestGeneratedConfigParsesAndEvaluates(t *testing.T) {
	src := genConfig(400)
	f, diags := syntax.ParseFile(src, "gen.river")
	if diags.HasErrors() {
		t.Fatal(syntax.DiagnosticsString(map[string][]byte{"gen.river": src}, diags))
	}
	if got := len(f.Body.Blocks()); got != 400 {
		t.Fatalf("%d components, want 400", got)
	}
	if n := evalAll(t, f, exportsFor(400)); n != 100*16 {
		t.Errorf("evaluated %d attributes, want %d", n, 100*16)
	}
}

// evalAll evaluates every attribute in f and returns how many there were.
func evalAll(tb testing.TB, f *syntax.File, vars map[string]cty.Value) int {
	ctx := stdlib.EvalContext().NewChild()
	ctx.Variables = vars
	n := 0
	var walk func(*syntax.Body)
	walk = func(b *syntax.Body) {
		for _, s := range b.Stmts {
			switch s := s.(type) {
			case *syntax.Attribute:
				_ = s.Expr.Variables()
				if _, diags := s.Expr.Value(ctx); diags.HasErrors() {
					tb.Fatalf("%s: %s", s.Name, diags.Error())
				}
				n++
			case *syntax.Block:
				walk(s.Body)
			}
		}
	}
	walk(f.Body)
	return n
}

// BenchmarkParse parses a generated 10,000-component config (about 6 MB).
func BenchmarkParse(b *testing.B) {
	src := genConfig(10000)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, diags := syntax.ParseFile(src, "gen.river"); diags.HasErrors() {
			b.Fatal(diags.Error())
		}
	}
}

// BenchmarkParseEval parses the same config and evaluates every attribute,
// collecting references as the runtime does to build its graph.
func BenchmarkParseEval(b *testing.B) {
	src := genConfig(10000)
	vars := exportsFor(10000)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		f, diags := syntax.ParseFile(src, "gen.river")
		if diags.HasErrors() {
			b.Fatal(diags.Error())
		}
		evalAll(b, f, vars)
	}
}
