package format

import (
	"bytes"
	"fmt"
	"testing"
)

// benchConfig writes a realistic config of n components in groups of four,
// the shape of the seed pipelines: comments, credentials, a scrape with
// targets, relabel rules and a multi-line object, and a remote_write with
// nested blocks. It is written unformatted (two-space indentation, unaligned
// "="), so formatting it does real work.
func benchConfig(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n/4; i++ {
		fmt.Fprintf(&b, `// group %[1]d: credentials, a scrape and where it writes.
aws.credentials "c%[1]d" {
  role_arn = "arn:aws:iam::123456789012:role/reader-%[1]d"
}

local.file "f%[1]d" {
  filename = "/etc/flow/targets-%[1]d.json"
  poll_frequency = "1m" // re-read every minute
}

prometheus.scrape "s%[1]d" {
  targets = [{"__address__" = "10.0.%[2]d.%[3]d:9100", job = "node", shard = string.format("%%d", %[1]d %% 16)}]
  forward_to = [prometheus.remote_write.rw%[1]d.receiver]
  scrape_interval = "15s"
  honor_labels = %[1]d %% 2 == 0 && true
  params = {
    "module" = ["http_2xx"],
    target = local.file.f%[1]d.content,
  }

  rule {
    source_labels = ["__meta_ec2_instance_id", "__meta_ec2_availability_zone"]
    target_label = "instance_id"
    replacement = "${1}:9100"
  }
}

prometheus.remote_write "rw%[1]d" {
  endpoint {
    url = "https://mimir-%[1]d.example.com/api/v1/push"

    aws_sigv4 {
      region = "us-west-2"
      credentials {
        access_key_id = aws.credentials.c%[1]d.access_key_id
        secret_access_key = aws.credentials.c%[1]d.secret_access_key
        token = aws.credentials.c%[1]d.token
      }
    }
  }
}

`, i, i/250%250, i%250)
	}
	return b.Bytes()
}

// BenchmarkFormat formats a generated 1,000-component config (270 KB).
func BenchmarkFormat(b *testing.B) {
	src := benchConfig(1000)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, diags := Format(src, "bench.river"); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}
