package main

import (
	"fmt"
	"log/slog"
	goruntime "runtime"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/internal/benchmeter"
	"github.com/flow-telemetry/flow/runtime"
)

// teamGroup is one team's pipeline in the shape of the seed configs, with
// every attribute a real config sets: EC2 discovery with filters and SigV4
// credentials, relabel rules, a scrape, a metric relabel, a remote_write to
// AMP with queue settings, and a loki.write. Eight components, about 2.3 KB.
const teamGroup = `// Team %[1]d: node metrics from EC2, shipped to Mimir with SigV4; logs to Loki.
aws.credentials "team%[1]d" {
  role_arn     = "arn:aws:iam::1234567890%02[2]d:role/flow-team-%[1]d"
  session_name = "flow-team-%[1]d"
}

discovery.aws.ec2 "team%[1]d" {
  region = "us-east-1"
  port   = 9100

  filters = [
    {name = "tag:team", values = ["team-%[1]d"]},
    {name = "instance-state-name", values = ["running"]},
  ]

  credentials {
    access_key_id     = aws.credentials.team%[1]d.access_key_id
    secret_access_key = aws.credentials.team%[1]d.secret_access_key
    token             = aws.credentials.team%[1]d.token
  }
}

discovery.relabel "team%[1]d" {
  targets = discovery.aws.ec2.team%[1]d.targets

  rule {
    source_labels = ["__meta_ec2_tag_Name"]
    target_label  = "instance_name"
  }

  rule {
    source_labels = ["__meta_ec2_availability_zone"]
    regex         = "(us-east-1[a-f])"
    target_label  = "zone"
  }
}

prometheus.scrape "team%[1]d" {
  targets         = discovery.relabel.team%[1]d.output
  forward_to      = [prometheus.relabel.team%[1]d.receiver]
  job_name        = "team-%[1]d-node"
  scrape_interval = "30s"
  scrape_timeout  = "10s"
}

prometheus.relabel "team%[1]d" {
  forward_to = [prometheus.remote_write.team%[1]d.receiver]

  rule {
    source_labels = ["__name__"]
    regex         = "node_(cpu|memory|filesystem|network)_.*"
    action        = "keep"
  }

  rule {
    target_label = "team"
    replacement  = "team-%[1]d"
  }
}

prometheus.remote_write "team%[1]d" {
  external_labels = {cluster = "prod-%[3]d", team = "team-%[1]d"}

  endpoint {
    url            = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-%[1]d/api/v1/remote_write"
    remote_timeout = "30s"

    aws_sigv4 {
      region       = "us-east-1"
      service_name = "aps"

      credentials {
        access_key_id     = aws.credentials.team%[1]d.access_key_id
        secret_access_key = aws.credentials.team%[1]d.secret_access_key
        token             = aws.credentials.team%[1]d.token
      }
    }

    queue_config {
      capacity             = 10000
      max_shards           = 50
      max_samples_per_send = 2000
    }
  }
}

loki.write "team%[1]d" {
  endpoint {
    url = "https://loki-%[3]d.example.com/loki/api/v1/push"
  }
  external_labels = {team = "team-%[1]d"}
}

`

// realisticConfig returns at least size bytes of teamGroup pipelines, each
// with its own labels and references.
func realisticConfig(size int) []byte {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, teamGroup, i, i%100, i%8)
	}
	return []byte(b.String())
}

// benchValidate validates src as `flow validate` does, reporting the peak
// of the heap it adds to the live heap before it started (MiB-peak-heap), and
// that as a multiple of the config's size (x-size-peak), besides ns/op, B/op
// and allocs/op. wantErr is a substring of the expected diagnostics, or ""
// for a valid config.
func benchValidate(b *testing.B, src []byte, wantErr string) {
	files := map[string][]byte{"config.river": src}
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	var peak uint64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		goruntime.GC()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(s)
		base := s[0].Value.Uint64()
		stop := benchmeter.PeakHeap()
		b.StartTimer()
		rt := runtime.New(runtime.Options{Logger: slog.New(slog.DiscardHandler)})
		diags := rt.Validate(files)
		b.StopTimer()
		peak = max(peak, stop()-base)
		if got := diags.Error(); (wantErr == "") != !diags.HasErrors() || !strings.Contains(got, wantErr) {
			b.Fatalf("diagnostics %.300s, want %q", got, wantErr)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-heap")
	b.ReportMetric(float64(peak)/float64(len(src)), "x-size-peak")
}

// BenchmarkValidate2MB validates a realistic 2 MB config: about 890 teams'
// pipelines, 7,100 real components with real-looking attributes.
//
//	go test -run '^$' -bench 'BenchmarkValidate' -benchtime 5x ./cmd/flow/
func BenchmarkValidate2MB(b *testing.B) {
	benchValidate(b, realisticConfig(2<<20), "")
}

// BenchmarkValidateAttack validates each hostile shape: the 3 MB
// of "!" and 800 KB of "a" + "a" (refused by the nesting limit), and 2 MB of
// each chain packed as densely as the nesting limit allows, side by side in
// one list, and of `[1, 1, …]` (refused by the syntax-tree budget).
func BenchmarkValidateAttack(b *testing.B) {
	wrap := func(expr string) []byte {
		return []byte("local.file \"x\" {\n  filename = " + expr + "\n}\n")
	}
	packed := func(item string, size int) string {
		return "[" + strings.Repeat(item+", ", size/(len(item)+2)) + item + "]"
	}
	for _, c := range []struct {
		name, wantErr string
		src           []byte
	}{
		{"unary-3MB", "nesting is too deep", wrap(strings.Repeat("!", 3_000_000) + "true")},
		{"concat-800KB", "nesting is too deep", wrap(`"a"` + strings.Repeat(` + "a"`, 800_000/6))},
		{"packed-unary-2MB", "too dense", wrap(packed(strings.Repeat("!", 990)+"true", 2<<20))},
		{"packed-binary-2MB", "too dense", wrap(packed("1"+strings.Repeat(" + 1", 990), 2<<20))},
		{"packed-concat-2MB", "too dense", wrap(packed(`"a"`+strings.Repeat(` + "a"`, 990), 2<<20))},
		{"packed-index-2MB", "too dense", wrap(packed(strings.Repeat("[", 495)+"1"+strings.Repeat("]", 495)+strings.Repeat("[0]", 495), 2<<20))},
		{"numbers-2MB", "too dense", wrap(packed("1", 2<<20))},
	} {
		b.Run(c.name, func(b *testing.B) { benchValidate(b, c.src, c.wantErr) })
	}
}
