// Package logs holds the end-to-end tests and the benchmark of flow's logs
// pipeline: a Firehose sender (built from AWS's HTTP endpoint delivery
// specification) → loki.source.aws_firehose → loki.write → a fake Loki, in
// process through runtime/flowtest and as a real `flow run` process that is
// killed with SIGKILL mid-delivery.
//
// The benchmark (BenchmarkFirehoseToLoki) runs the built flow binary on
// loopback for four shapes of traffic: "static" (the original: 16
// pre-built bodies sent over and over, static labels, no access key),
// "realistic" (distinct ~200-byte lines generated per request, half logfmt
// and half JSON, the access key checked, labels from the common attributes
// in 4 streams), "realistic-gzip" (the same, gzip-encoded bodies) and
// "cloudwatch" (gzipped CloudWatch Logs subscription payloads of 10
// events, relabeled). 8 senders send 500 entries per request, each as soon
// as its last request was acknowledged; the fake Loki decodes every push.
// It reports records/s acknowledged and delivered, the delivery lag (p50,
// p99), flow's CPU-seconds per million records (from /proc/<pid>/stat) and
// its peak RSS (VmHWM; the highest RssAnon and RssFile sampled, too). flow runs
// from a plain copy of the binary, as installed: go build's output would have
// about 8 MiB more of its file resident (BENCHMARKS.md, "cw16"):
//
//	go test -run '^$' -bench FirehoseToLoki -benchtime 2000000x ./bench/logs/
//
// FLOW_BIN=path uses an already built flow instead of building cmd/flow;
// FLOW_BENCH_CPUPROFILE=path saves a CPU profile of flow during each shape's run
// as path.<shape> (FLOW_BENCH_PROFILE_SECONDS long, default 5), for
// `go tool pprof <flow binary> path.<shape>`.
//
// BenchmarkFirehoseThroughput sends the realistic shape from templated
// senders (template_test.go: lines built once per client, each ending in a
// sequence number rewritten in its base64 in place per request) at 8 and 16
// clients, to a fake Loki that decodes every push in place and checks every
// line's sequence number (receiver_test.go), so the benchmark's own
// processes cost about 1 µs per record and flow's rate can be measured:
//
//	go test -run '^$' -bench FirehoseThroughput -benchtime 4000000x ./bench/logs/
package logs
