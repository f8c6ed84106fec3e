package decode

import (
	"testing"

	"github.com/flow-telemetry/flow/syntax/value"
)

// A typical component: a remote_write-like body with nested and repeated
// blocks, references, a secret and capsules.
const typicalSrc = `prometheus.remote_write "default" {
  region     = "us-west-2"
  port       = 9090
  tags       = ["a", "b", "c"]
  forward_to = [remote.receiver]
  targets    = [{"__address__" = "localhost:9100", "job" = "node"}]

  labels {
    job = "firehose_logs"
    env = "production"
  }

  rule {
    source_labels = ["__meta_ec2_instance_id"]
    action        = "keep"
  }

  endpoint {
    url = "https://firehose.us-west-2.amazonaws.com/"

    aws_sigv4 {
      region = "us-west-2"

      credentials {
        access_key_id     = creds.access_key_id
        secret_access_key = creds.secret_access_key
      }
    }
  }
}`

func BenchmarkDecodeTypicalBody(b *testing.B) {
	block := parseBlock(b, typicalSrc)
	ctx := evalContext()
	b.ReportAllocs()
	for b.Loop() {
		var args Args
		if diags := Block(block, ctx, &args); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}

func BenchmarkEncodeTypicalArgs(b *testing.B) {
	block := parseBlock(b, typicalSrc)
	var args Args
	if diags := Block(block, evalContext(), &args); diags.HasErrors() {
		b.Fatal(diags)
	}
	b.ReportAllocs()
	for b.Loop() {
		Encode(args)
	}
}

// BenchmarkEncodeExports is what the runtime does on every export change of
// a component exporting a receiver and a list of targets.
func BenchmarkEncodeExports(b *testing.B) {
	type exports struct {
		Receiver Receiver            `river:"receiver,attr"`
		Targets  []map[string]string `river:"targets,attr"`
		Token    value.Secret        `river:"token,attr"`
	}
	targets := make([]map[string]string, 10)
	for i := range targets {
		targets[i] = map[string]string{"__address__": "10.0.0.1:9100", "job": "node", "instance": "i-123"}
	}
	e := exports{Receiver: theReceiver, Targets: targets, Token: "t"}
	b.ReportAllocs()
	for b.Loop() {
		Encode(e)
	}
}
