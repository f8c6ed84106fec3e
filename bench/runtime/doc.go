// Package runtimebench measures flow's runtime with real components at
// scale (issue 16): a generated config of 1,000 components, a chain of 500
// discovery.relabel, one prometheus.scrape, a chain of 498
// prometheus.relabel and one prometheus.remote_write, whose two variants
// differ in every component's arguments. runtime/ itself cannot import
// components (the runtime names none), hence this package.
//
//	go test -run '^$' -bench . -benchtime 20x ./bench/runtime/
//
// BenchmarkRealReload1000 reloads in process and reports the time and CPU
// per reload and the live heap's peak; BenchmarkRealRun1000 runs the built
// flow binary: time from start to /-/ready, time of a reload through POST
// /-/reload, and the process's peak RSS (VmHWM).
package runtimebench
