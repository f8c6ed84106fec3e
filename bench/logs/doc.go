// Package logs holds the end-to-end tests and the benchmark of flow's logs
// pipeline: a Firehose sender (built from AWS's HTTP endpoint delivery
// specification) → loki.source.aws_firehose → loki.write → a fake Loki, in
// process through runtime/flowtest and as a real `flow run` process that is
// killed with SIGKILL mid-delivery.
//
// The benchmark (BenchmarkFirehoseToLoki) runs the built flow binary on
// loopback and reports records/s, flow's CPU-seconds per million records
// (from /proc/<pid>/stat) and its peak RSS (VmHWM):
//
//	go test -run '^$' -bench FirehoseToLoki -benchtime 2000000x ./bench/logs/
//
// FLOW_BIN=path uses an already built flow instead of building cmd/flow;
// FLOW_BENCH_CPUPROFILE=path saves a CPU profile of flow during the run.
package logs
