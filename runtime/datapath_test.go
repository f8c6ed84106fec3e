package runtime_test

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/component"
)

// walRegistration is storagetest.wal, which stands in for a WAL: Build
// appends a line to <DataPath>/wal and exports how many lines the file then
// holds, so a test sees whether an existing file was found.
func walRegistration() component.Registration {
	return component.Registration{
		Name:    "storagetest.wal",
		Args:    walArgs{},
		Exports: walExports{},
		Build: func(o component.Options, _ component.Arguments) (component.Component, error) {
			f, err := os.OpenFile(filepath.Join(o.DataPath, "wal"), os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o640)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			if _, err := f.WriteString("started\n"); err != nil {
				return nil, err
			}
			if _, err := f.Seek(0, 0); err != nil {
				return nil, err
			}
			lines := 0
			for s := bufio.NewScanner(f); s.Scan(); {
				lines++
			}
			o.OnStateChange(walExports{Lines: lines, Dir: o.DataPath})
			return walComponent{}, nil
		},
	}
}

type walArgs struct{}
type walExports struct {
	Lines int    `river:"lines,attr"`
	Dir   string `river:"dir,attr"`
}
type walComponent struct{}

func (walComponent) Run(ctx context.Context) error    { <-ctx.Done(); return nil }
func (walComponent) Update(component.Arguments) error { return nil }

// hostileLabels are labels that used to escape --storage.path, exceed
// NAME_MAX or share a directory.
var hostileLabels = []string{
	"/../../../escape",
	"../../escape2",
	"..",
	".",
	".hidden",
	"a/b/c",
	`a\b`,
	"Main",
	"main",
	"MAIN",
	"with space",
	"nul\x00byte",
	"ünïcødé/../..",
	strings.Repeat("L", 300),
	strings.Repeat("l", 300),
}

func walConfig(labels ...string) []byte {
	var b strings.Builder
	for _, l := range labels {
		fmt.Fprintf(&b, "storagetest.wal %q {}\n", l)
	}
	return []byte(b.String())
}

func runLoaded(t *testing.T, rt *runtime.Runtime) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rt.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func walExportsOf(t *testing.T, rt *runtime.Runtime, id string) walExports {
	t.Helper()
	e, ok := rt.Exports(id)
	if !ok {
		t.Fatalf("%s has no exports", id)
	}
	we, ok := e.(walExports)
	if !ok {
		t.Fatalf("%s exports %T, health %+v", id, e, mustHealth(t, rt, id))
	}
	return we
}

func mustHealth(t *testing.T, rt *runtime.Runtime, id string) component.Health {
	t.Helper()
	h, ok := rt.Health(id)
	if !ok {
		t.Fatalf("no component %s", id)
	}
	return h
}

// waitHealthy polls until id is healthy (Run starts components
// asynchronously) and fails after a generous deadline.
func waitHealthy(t *testing.T, rt *runtime.Runtime, id string) {
	t.Helper()
	var h component.Health
	if _, ok := testwait.Poll(wait, func() bool { h = mustHealth(t, rt, id); return h.Health == component.HealthHealthy }); !ok {
		t.Fatalf("%s never became healthy: %+v", id, h)
	}
}

func TestDataDirName(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"prometheus.remote_write.default", "loki.write.my-loki", "loki.write.a_b.c", "local.file.0"} {
		if got := runtime.DataDirName(id); got != id {
			t.Errorf("DataDirName(%q) = %q, want the ID itself (existing WALs must be found)", id, got)
		}
	}
	seen := map[string]string{}
	for _, l := range append(hostileLabels, "", "x.", strings.Repeat("a", 90), strings.Repeat("a", 89)) {
		id := "storagetest.wal." + l
		name := runtime.DataDirName(id)
		if name == "" || name == "." || name == ".." || strings.HasPrefix(name, ".") || strings.ContainsAny(name, "/\\\x00") {
			t.Errorf("DataDirName(%q) = %q: not one safe path element", id, name)
		}
		if len(name) > runtime.MaxPlainDirName {
			t.Errorf("DataDirName(%q) is %d bytes, want ≤ %d", id, len(name), runtime.MaxPlainDirName)
		}
		if name != strings.ToLower(name) {
			t.Errorf("DataDirName(%q) = %q has upper case (would collide on a case-insensitive filesystem)", id, name)
		}
		if prev, ok := seen[name]; ok {
			t.Errorf("%q and %q share %q", prev, id, name)
		}
		seen[name] = id
	}
	if got := runtime.DataDirName("loki.write.Prod EU"); !strings.HasPrefix(got, "loki.write.prod_eu+") || len(got) != len("loki.write.prod_eu+")+12 {
		t.Errorf(`DataDirName("loki.write.Prod EU") = %q, want loki.write.prod_eu+<12 hex>`, got)
	}
	// 101 plain bytes: hashed, as NAME_MAX could otherwise be approached.
	if got := runtime.DataDirName("storagetest.wal." + strings.Repeat("a", 85)); !strings.Contains(got, "+") {
		t.Errorf("a 101-byte ID kept its name %q", got)
	}
}

// Every hostile label gets a directory directly under --storage.path, each
// its own, and nothing is created anywhere else.
func TestDataDirsStayInsideStoragePath(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	root := filepath.Join(base, "a", "b", "c", "root")
	rt := newRuntime(t, runtime.Options{DataPath: root})
	files := map[string][]byte{"main.river": walConfig(hostileLabels...)}
	if d := rt.Validate(files); d.HasErrors() {
		t.Fatalf("validate: %v", d)
	}
	if d := rt.Load(files); len(d) > 0 {
		t.Fatalf("load: %v", d)
	}
	runLoaded(t, rt)

	dirs := map[string]string{}
	for _, l := range hostileLabels {
		id := "storagetest.wal." + l
		waitHealthy(t, rt, id)
		e := walExportsOf(t, rt, id)
		if filepath.Dir(e.Dir) != root {
			t.Errorf("%s got data directory %s, not directly under %s", id, e.Dir, root)
		}
		if e.Lines != 1 {
			t.Errorf("%s: wal has %d lines, want 1 (a directory shared with another component)", id, e.Lines)
		}
		if prev, ok := dirs[e.Dir]; ok {
			t.Errorf("%s and %s share %s", prev, id, e.Dir)
		}
		dirs[e.Dir] = id
	}
	// Walk the whole temporary tree: outside root, only root's parents.
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root || strings.HasPrefix(p, root+string(filepath.Separator)) {
			return nil
		}
		if !strings.HasPrefix(root, p+string(filepath.Separator)) {
			t.Errorf("created outside --storage.path: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(hostileLabels) {
		t.Errorf("%d entries in %s, want %d", len(entries), root, len(hostileLabels))
	}
}

// A 300-byte label passes validate and runs; before, validate passed and
// the directory could not be created (ENAMETOOLONG).
func TestLongLabelRunsAndValidates(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	label := strings.Repeat("x", 300)
	files := map[string][]byte{"main.river": walConfig(label)}
	if d := newRuntime(t, runtime.Options{DataPath: root}).Validate(files); len(d) > 0 {
		t.Fatalf("validate: %v", d)
	}
	rt := newRuntime(t, runtime.Options{DataPath: root})
	if d := rt.Load(files); len(d) > 0 {
		t.Fatalf("load: %v", d)
	}
	runLoaded(t, rt)
	id := "storagetest.wal." + label
	waitHealthy(t, rt, id)
	e := walExportsOf(t, rt, id)
	if e.Lines != 1 || len(filepath.Base(e.Dir)) > runtime.MaxPlainDirName {
		t.Fatalf("exports %+v", e)
	}
	if _, err := os.Stat(filepath.Join(root, runtime.DataDirName(id), "wal")); err != nil {
		t.Fatal(err)
	}
}

// A plain ID keeps the directory flow always gave it: the WAL written by an
// earlier flow is found.
func TestExistingPlainDataDirIsReused(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	old := filepath.Join(root, "storagetest.wal.main")
	must(t, os.MkdirAll(old, 0o750))
	must(t, os.WriteFile(filepath.Join(old, "wal"), []byte("written by an older flow\n"), 0o640))
	rt := newRuntime(t, runtime.Options{DataPath: root})
	if d := rt.Load(map[string][]byte{"main.river": walConfig("main")}); len(d) > 0 {
		t.Fatal(d)
	}
	if e := walExportsOf(t, rt, "storagetest.wal.main"); e.Lines != 2 || e.Dir != old {
		t.Fatalf("exports %+v, want 2 lines in %s", e, old)
	}
}

// A directory an older flow kept under a raw ID that is not plain (upper
// case) is renamed to the new name on first start, so its WAL is kept; a
// traversal ID never names a legacy directory.
func TestLegacyDataDirIsMigrated(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	root := filepath.Join(base, "root")
	legacy := filepath.Join(root, "storagetest.wal.Main")
	must(t, os.MkdirAll(legacy, 0o750))
	must(t, os.WriteFile(filepath.Join(legacy, "wal"), []byte("written by an older flow\n"), 0o640))
	// What "/../escape" named before: outside the root. It must stay
	// untouched.
	outside := filepath.Join(base, "escape")
	must(t, os.MkdirAll(outside, 0o750))
	must(t, os.WriteFile(filepath.Join(outside, "wal"), []byte("not flow's\n"), 0o640))

	rt := newRuntime(t, runtime.Options{DataPath: root})
	if d := rt.Load(map[string][]byte{"main.river": walConfig("Main", "/../escape")}); len(d) > 0 {
		t.Fatal(d)
	}
	e := walExportsOf(t, rt, "storagetest.wal.Main")
	if e.Lines != 2 || e.Dir != filepath.Join(root, runtime.DataDirName("storagetest.wal.Main")) {
		t.Fatalf("exports %+v, want the legacy WAL's line plus one in the new directory", e)
	}
	if _, err := os.Stat(legacy); !os.IsNotExist(err) {
		t.Fatalf("legacy directory still there: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "wal")); string(b) != "not flow's\n" {
		t.Fatalf("a directory outside --storage.path was touched: %q", b)
	}
	if e := walExportsOf(t, rt, "storagetest.wal./../escape"); e.Lines != 1 || filepath.Dir(e.Dir) != root {
		t.Fatalf("traversal label: %+v", e)
	}
}

// A symbolic link in place of a component's directory is refused: the
// component fails to build, and nothing is written where the link points.
func TestSymlinkedDataDirIsRefused(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	root := filepath.Join(base, "root")
	target := filepath.Join(base, "elsewhere")
	must(t, os.MkdirAll(root, 0o750))
	must(t, os.MkdirAll(target, 0o750))
	must(t, os.Symlink(target, filepath.Join(root, "storagetest.wal.main")))
	rt := newRuntime(t, runtime.Options{DataPath: root, BuildRetryMin: time.Hour})
	d := rt.Load(map[string][]byte{"main.river": walConfig("main")})
	if d.HasErrors() || len(d) != 1 || !strings.Contains(d[0].Summary, "symbolic link") {
		t.Fatalf("diagnostics %v, want one warning about the symbolic link", d)
	}
	if h := mustHealth(t, rt, "storagetest.wal.main"); h.Health != component.HealthUnhealthy || !strings.Contains(h.Message, "symbolic link") {
		t.Fatalf("health %+v", h)
	}
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Fatalf("wrote through the link: %v", entries)
	}
}

// collidingLabels give two storagetest.wal IDs whose data directory names
// coincide: the same readable prefix (the varying part is past its 64
// bytes) and the same first 48 bits of SHA-256, found by a birthday search
// over 50M labels. They prove that a collision is reported, not shared.
var collidingLabels = [2]string{
	"Collision" + strings.Repeat("x", 50) + "-46828302",
	"Collision" + strings.Repeat("x", 50) + "-45088456",
}

func TestDataDirCollisionIsAnError(t *testing.T) {
	t.Parallel()
	a, b := "storagetest.wal."+collidingLabels[0], "storagetest.wal."+collidingLabels[1]
	if runtime.DataDirName(a) != runtime.DataDirName(b) {
		t.Fatalf("the labels no longer collide: %s %s", runtime.DataDirName(a), runtime.DataDirName(b))
	}
	root := t.TempDir()
	files := map[string][]byte{"main.river": []byte(fmt.Sprintf("storagetest.wal %q {}\n\nstoragetest.wal %q {}\n", collidingLabels[0], collidingLabels[1]))}
	rt := newRuntime(t, runtime.Options{DataPath: root})
	for name, d := range map[string]hcl.Diagnostics{"validate": rt.Validate(files), "load": rt.Load(files)} {
		var at []string
		for _, e := range d {
			if e.Severity != hcl.DiagError || !strings.Contains(e.Summary, "would share the data directory") {
				t.Errorf("%s: unexpected %v", name, e)
				continue
			}
			at = append(at, fmt.Sprintf("%s:%d:%d", e.Subject.Filename, e.Subject.Start.Line, e.Subject.Start.Column))
		}
		if strings.Join(at, " ") != "main.river:1:1 main.river:3:1" {
			t.Errorf("%s: errors at %v, want main.river:1:1 and main.river:3:1", name, at)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("a rejected config created %v", entries)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkDataDirName1000 maps 1,000 component IDs: 500 plain (kept as
// they are) and 500 that need a hashed name (upper case, spaces, "/", long).
func BenchmarkDataDirName1000(b *testing.B) {
	ids := make([]string, 1000)
	for i := range ids {
		if i%2 == 0 {
			ids[i] = fmt.Sprintf("prometheus.remote_write.endpoint-%d", i)
		} else {
			ids[i] = fmt.Sprintf("loki.write.Tenant %d/../%s", i, strings.Repeat("x", i%200))
		}
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, id := range ids {
			if runtime.DataDirName(id) == "" {
				b.Fatal("empty name")
			}
		}
	}
}
