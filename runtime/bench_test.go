package runtime_test

import (
	"context"
	"fmt"
	rtm "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/benchmeter"
	tc "github.com/flow-telemetry/flow/internal/testcomponents"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

// generated returns a config of n components: groups of 100, each a counter
// followed by a chain of 99 passthroughs, every passthrough also given a
// constant list (tag) so a second variant can change every argument.
func generated(n int, tag string) map[string][]byte {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i%100 == 0 {
			fmt.Fprintf(&b, "testcomponents.counter \"c%d\" {\n  max = 10\n}\n\n", i)
			continue
		}
		prev := fmt.Sprintf("testcomponents.passthrough.p%d.output", i-1)
		if i%100 == 1 {
			prev = fmt.Sprintf("testcomponents.counter.c%d.count", i-1)
		}
		fmt.Fprintf(&b, "testcomponents.passthrough \"p%d\" {\n  input  = %s\n  inputs = [%q]\n}\n\n", i, prev, tag)
	}
	return map[string][]byte{"generated.river": []byte(b.String())}
}

// BenchmarkLoad10000 parses, builds the graph of, evaluates and builds a
// generated 10,000-component config.
func BenchmarkLoad10000(b *testing.B) {
	files := generated(10000, "v1")
	b.ReportAllocs()
	var peak uint64
	cpu0 := benchmeter.CPUTime()
	for i := 0; i < b.N; i++ {
		rtm.GC()
		stop := benchmeter.PeakHeap()
		rt := newRuntime(b, runtime.Options{DataPath: b.TempDir()})
		if d := rt.Load(files); d.HasErrors() {
			b.Fatal(d)
		}
		if p := stop(); p > peak {
			peak = p
		}
		if got := len(rt.ComponentIDs()); got != 10000 {
			b.Fatalf("%d components", got)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64((benchmeter.CPUTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// running starts rt and stops it at the end of the benchmark.
func running(b *testing.B, files map[string][]byte) (*runtime.Runtime, *tc.Env) {
	b.Helper()
	env, regs := testComponents()
	rt := runtime.New(runtime.Options{DataPath: b.TempDir(), Registry: flowtest.Registry(b, regs...)})
	if d := rt.Load(files); d.HasErrors() {
		b.Fatal(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rt.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	return rt, env
}

// awaitUpdates installs a hook counting env's passthrough updates whose
// output is want, and returns a channel closed once n have been seen.
func awaitUpdates(env *tc.Env, n int64, want *atomic.Value) (<-chan struct{}, func()) {
	var seen atomic.Int64
	reached := make(chan struct{})
	var once sync.Once
	f := func(id, out string) {
		if out == want.Load().(string) && seen.Add(1) == n {
			once.Do(func() { close(reached) })
		}
	}
	env.OnPassthroughUpdate(f)
	return reached, func() { env.OnPassthroughUpdate(nil) }
}

func benchPropagation(b *testing.B, files map[string][]byte, dependants int64) {
	rt, env := running(b, files)
	c, _ := rt.Component("testcomponents.counter.c")
	counter := c.(*tc.Counter)
	var want atomic.Value
	var worst time.Duration
	b.ResetTimer()
	cpu0 := benchmeter.CPUTime()
	for i := 1; i <= b.N; i++ {
		want.Store(fmt.Sprint(i))
		reached, unhook := awaitUpdates(env, dependants, &want)
		start := time.Now()
		counter.Increment()
		select {
		case <-reached:
		case <-time.After(30 * time.Second):
			b.Fatal("change did not reach every dependant")
		}
		if d := time.Since(start); d > worst {
			worst = d
		}
		unhook()
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
	b.ReportMetric(float64((benchmeter.CPUTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// BenchmarkFanout1000 measures one export change reaching 1,000 direct
// dependants, until every one's Update has been called.
func BenchmarkFanout1000(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("testcomponents.counter \"c\" {}\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&sb, "testcomponents.passthrough \"p%d\" { input = testcomponents.counter.c.count }\n", i)
	}
	benchPropagation(b, map[string][]byte{"fanout.river": []byte(sb.String())}, 1000)
}

// BenchmarkChain100 measures one export change travelling down a chain of
// 100 passthroughs, until the last one's Update has been called.
func BenchmarkChain100(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("testcomponents.counter \"c\" {}\ntestcomponents.passthrough \"p0\" { input = testcomponents.counter.c.count }\n")
	for i := 1; i < 100; i++ {
		fmt.Fprintf(&sb, "testcomponents.passthrough \"p%d\" { input = testcomponents.passthrough.p%d.output }\n", i, i-1)
	}
	benchPropagation(b, map[string][]byte{"chain.river": []byte(sb.String())}, 100)
}

// BenchmarkReloadUnchanged1000 reloads a running 1,000-component config
// with the same text: nothing may be rebuilt or updated.
func BenchmarkReloadUnchanged1000(b *testing.B) {
	files := generated(1000, "v1")
	rt, _ := running(b, files)
	before := instances(rt)
	b.ResetTimer()
	cpu0 := benchmeter.CPUTime()
	for i := 0; i < b.N; i++ {
		if d := rt.Load(files); d.HasErrors() {
			b.Fatal(d)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((benchmeter.CPUTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	restarts, updates := compare(rt, before)
	if restarts != 0 || updates != 0 {
		b.Fatalf("unchanged reload: %d restarts, %d updates", restarts, updates)
	}
	b.ReportMetric(0, "restarts")
}

// BenchmarkReloadAllChanged1000 alternates between two 1,000-component
// configs that differ in every passthrough's arguments.
func BenchmarkReloadAllChanged1000(b *testing.B) {
	a, c := generated(1000, "v1"), generated(1000, "v2")
	rt, _ := running(b, a)
	before := instances(rt)
	b.ResetTimer()
	cpu0 := benchmeter.CPUTime()
	for i := 0; i < b.N; i++ {
		files := c
		if i%2 == 1 {
			files = a
		}
		if d := rt.Load(files); d.HasErrors() {
			b.Fatal(d)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((benchmeter.CPUTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	restarts, updates := compare(rt, before)
	if restarts != 0 || updates < 990*int64(b.N) {
		b.Fatalf("changed reload: %d restarts, %d updates over %d reloads", restarts, updates, b.N)
	}
}

func instances(rt *runtime.Runtime) map[string]any {
	out := map[string]any{}
	for _, id := range rt.ComponentIDs() {
		c, _ := rt.Component(id)
		out[id] = c
	}
	return out
}

// compare counts instances that changed and passthrough Updates.
func compare(rt *runtime.Runtime, before map[string]any) (restarts int, updates int64) {
	for id, c := range before {
		now, _ := rt.Component(id)
		if now != c {
			restarts++
		}
		if p, ok := now.(*tc.Passthrough); ok {
			updates += p.Updates()
		}
	}
	return restarts, updates
}
