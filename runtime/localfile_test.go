package runtime_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/flow-telemetry/flow/components/local/file"
	"github.com/flow-telemetry/flow/internal/benchmeter"
	tc "github.com/flow-telemetry/flow/internal/testcomponents"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"
	"github.com/flow-telemetry/flow/syntax/value"
)

// TestLocalFileEndToEnd wires a real local.file into the graph: a file
// change re-exports its content and reaches the dependant, and a secret
// file's content stays a secret on the way.
func TestLocalFileEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain, secret := filepath.Join(dir, "plain.txt"), filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(plain, []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("s3cr3t"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := flowtest.Start(t, fmt.Sprintf(`
local.file "plain" { filename = %q }
local.file "token" {
  filename  = %q
  is_secret = true
}
testcomponents.passthrough "p" { input = local.file.plain.content }
testcomponents.secret "s" { password = local.file.token.content }
`, plain, secret), withTestComponents())
	if got := output(f, "testcomponents.passthrough.p"); got != "v1" {
		t.Fatalf("output = %q", got)
	}
	if got := f.Exports("testcomponents.secret.s").(tc.SecretExports).Password; got != value.Secret("s3cr3t") {
		t.Fatal("secret did not reach the component")
	}
	if err := os.WriteFile(plain, []byte("v2, longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, wait, func() bool { return output(f, "testcomponents.passthrough.p") == "v2, longer" }, "file change propagated")
	d, _ := f.Runtime().ComponentDetail("local.file.token")
	if d.Exports.(map[string]any)["content"] != "(secret)" {
		t.Fatalf("secret export shown as %v", d.Exports)
	}
	// The reference is not a secret literal, so the config shows it.
	if cfg := f.Runtime().ConfigFiles()[0].Content; !strings.Contains(cfg, "password = local.file.token.content") {
		t.Fatalf("config:\n%s", cfg)
	}

	// A missing file: unhealthy with the path.
	if err := os.Remove(plain); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, wait, func() bool {
		h := f.Health("local.file.plain")
		return h.Health == component.HealthUnhealthy && strings.Contains(h.Message, plain)
	}, "missing file unhealthy: %+v", f.Health("local.file.plain"))
}

// BenchmarkLoadLocalFileChain1000 loads 1,000 local.file components, each
// reading the file the previous one names: the work `flow run` does before
// it is ready on that config.
func BenchmarkLoadLocalFileChain1000(b *testing.B) {
	dir := b.TempDir()
	self := filepath.Join(dir, "self.txt")
	if err := os.WriteFile(self, []byte(self), 0o600); err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "local.file \"f0\" { filename = %q }\n", self)
	for i := 1; i < 1000; i++ {
		fmt.Fprintf(&sb, "local.file \"f%d\" { filename = local.file.f%d.content }\n", i, i-1)
	}
	files := map[string][]byte{"chain.river": []byte(sb.String())}
	b.ResetTimer()
	cpu0 := benchmeter.CPUTime()
	for i := 0; i < b.N; i++ {
		rt := runtime.New(runtime.Options{DataPath: dir})
		if d := rt.Load(files); d.HasErrors() {
			b.Fatal(d)
		}
	}
	b.ReportMetric(float64((benchmeter.CPUTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}
