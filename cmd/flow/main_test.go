package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/runtime/component"
)

// flowCmd runs the command line in process.
func flowCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = flowMain(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func seedFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/seed/*.river")
	if err != nil || len(files) != 4 {
		t.Fatalf("seed files: %v %v", files, err)
	}
	return files
}

func TestFmtSeedExamples(t *testing.T) {
	for _, name := range seedFiles(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			src, _ := os.ReadFile(name)
			code, once, stderr := flowCmd(t, "", "fmt", name)
			if code != 0 {
				t.Fatalf("fmt exit %d: %s", code, stderr)
			}
			if !strings.Contains(once, "\n\t") {
				t.Fatalf("formatted output has no tab indentation, as alloy fmt's:\n%s", once)
			}
			if !strings.Contains(string(src), "\n\t") && once == string(src) {
				t.Fatal("fmt changed nothing in an unindented seed file")
			}
			// Formatting is idempotent and keeps every comment.
			code, twice, stderr := flowCmd(t, once, "fmt")
			if code != 0 || twice != once {
				t.Fatalf("second fmt (exit %d, %s) changed the output:\n%s", code, stderr, twice)
			}
			for _, line := range strings.Split(string(src), "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "#") && !strings.Contains(once, strings.TrimSpace(line)) {
					t.Errorf("comment lost: %q", line)
				}
			}
			// -w rewrites the file.
			tmp := filepath.Join(t.TempDir(), filepath.Base(name))
			if err := os.WriteFile(tmp, src, 0o644); err != nil {
				t.Fatal(err)
			}
			if code, _, stderr := flowCmd(t, "", "fmt", "-w", tmp); code != 0 {
				t.Fatalf("fmt -w: %d %s", code, stderr)
			}
			if got, _ := os.ReadFile(tmp); string(got) != once {
				t.Fatal("fmt -w wrote something else than fmt prints")
			}
		})
	}
}

func TestFmtInvalidInput(t *testing.T) {
	code, _, stderr := flowCmd(t, "local.file \"a\" {\n  filename = \n", "fmt")
	if code != 1 || !strings.Contains(stderr, "<stdin>:") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

// unknownRE matches a formatted unknown-component diagnostic.
var unknownRE = regexp.MustCompile(`(?m)^Error: ([^:]+):(\d+):(\d+): unknown component "([^"]+)"`)

func TestValidateSeedExamplesReportsOnlyMissingComponents(t *testing.T) {
	for _, name := range seedFiles(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			src, _ := os.ReadFile(name)
			lines := strings.Split(string(src), "\n")
			code, stdout, stderr := flowCmd(t, "", "validate", name)
			errorsReported := strings.Count(stderr, "Error: ")
			matches := unknownRE.FindAllStringSubmatch(stderr, -1)
			if len(matches) != errorsReported {
				t.Fatalf("validate reported errors other than unknown components:\n%s", stderr)
			}
			if errorsReported == 0 {
				if code != 0 || !strings.Contains(stdout, "config valid") {
					t.Fatalf("exit %d with no errors: %s %s", code, stdout, stderr)
				}
				return
			}
			if code != 1 {
				t.Fatalf("exit %d with errors", code)
			}
			for _, m := range matches {
				compName := m[4]
				if _, ok := component.Get(compName); ok {
					t.Errorf("registered component %q reported unknown", compName)
				}
				line, _ := strconv.Atoi(m[2])
				if m[1] != name || m[3] != "1" || !strings.HasPrefix(lines[line-1], compName+" ") {
					t.Errorf("%s reported at %s:%s:%s, where the line is %q", compName, m[1], m[2], m[3], lines[line-1])
				}
			}
			// Every block whose component is missing is reported.
			for i, l := range lines {
				f := strings.Fields(l)
				if len(f) < 2 || !strings.HasPrefix(f[1], `"`) || strings.HasPrefix(f[0], "#") {
					continue
				}
				if _, ok := component.Get(f[0]); !ok && !strings.Contains(stderr, name+":"+strconv.Itoa(i+1)+":1: unknown component") {
					t.Errorf("missing component %s at line %d not reported", f[0], i+1)
				}
			}
		})
	}
}

func TestValidateBrokenConfigs(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	_ = os.WriteFile(data, []byte(data), 0o644)
	q := strconv.Quote(data)
	tests := []struct{ name, src, want string }{
		{"typo in a component name", `local.fil "a" { filename = ` + q + ` }`,
			`cfg.river:1:1: unknown component "local.fil"; did you mean "local.file"?`},
		{"wrong type", `local.file "a" { filename = 5 }`,
			`cfg.river:1:29: filename: expected string, got number`},
		{"missing export", "local.file \"a\" { filename = " + q + " }\nlocal.file \"b\" { filename = local.file.a.contnet }",
			`cfg.river:2:42: local.file has no export "contnet"; did you mean "content"?`},
		{"missing component", "local.file \"b\" { filename = local.file.x.content }",
			`cfg.river:1:29: component "local.file.x" does not exist`},
		{"cycle", "local.file \"a\" { filename = local.file.b.content }\nlocal.file \"b\" { filename = local.file.a.content }",
			`cfg.river:1:1: dependency cycle between local.file.a, local.file.b`},
		{"parse error", "local.file \"a\" { filename = }", `cfg.river:1:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cfg.river")
			if err := os.WriteFile(path, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := flowCmd(t, "", "validate", path)
			if code != 1 {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			want := filepath.Join(filepath.Dir(path), tt.want)
			if !strings.Contains(stderr, want) || !strings.Contains(stderr, "^") {
				t.Fatalf("stderr lacks %q with a caret:\n%s", want, stderr)
			}
		})
	}
}

func TestValidateGoodConfigAndDirectory(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	_ = os.WriteFile(data, []byte(filepath.Join(dir, "data.txt")), 0o644)
	// Two files forming one graph: b.alloy references a.river's component.
	_ = os.WriteFile(filepath.Join(dir, "a.river"), []byte(`local.file "a" { filename = `+strconv.Quote(data)+` }`), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "b.alloy"), []byte(`local.file "b" { filename = local.file.a.content }`), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "notes.txt"), []byte(`not a config`), 0o644)
	code, stdout, stderr := flowCmd(t, "", "validate", dir)
	if code != 0 || !strings.Contains(stdout, "config valid (2 file(s))") {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
}

func TestUsageAndVersion(t *testing.T) {
	if code, _, stderr := flowCmd(t, ""); code != 2 || !strings.Contains(stderr, "usage: flow") {
		t.Fatalf("no args: %d %s", code, stderr)
	}
	if code, _, stderr := flowCmd(t, "", "frobnicate"); code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %s", code, stderr)
	}
	if code, stdout, _ := flowCmd(t, "", "version"); code != 0 || !strings.HasPrefix(stdout, "flow ") {
		t.Fatalf("version: %d %q", code, stdout)
	}
	if code, _, stderr := flowCmd(t, "", "run", "--log.format=xml", "x.river"); code != 2 || !strings.Contains(stderr, "--log.format") {
		t.Fatalf("bad flag: %d %s", code, stderr)
	}
}

// TestMain removes the flow binary the process tests build.
func TestMain(m *testing.M) { flowproc.Main(m) }

// TestFmtCheck: -t, as alloy fmt -t, prints nothing and fails naming the
// files that formatting would change.
func TestFmtCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.alloy")
	bad := filepath.Join(dir, "bad.alloy")
	if err := os.WriteFile(good, []byte("a {\n\tb = 1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("a {\n  b = 1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := flowCmd(t, "", "fmt", "-t", good); code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("formatted file: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr := flowCmd(t, "", "fmt", "-t", good, bad)
	if code != 1 || stdout != "" || !strings.Contains(stderr, bad+" is not formatted") || strings.Contains(stderr, good) {
		t.Fatalf("unformatted file: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if got, _ := os.ReadFile(bad); string(got) != "a {\n  b = 1\n}\n" {
		t.Fatalf("-t changed the file: %q", got)
	}
	if code, _, _ := flowCmd(t, "a = 1\n", "fmt", "-t"); code != 0 {
		t.Fatalf("formatted stdin: exit %d", code)
	}
	if code, _, stderr := flowCmd(t, "", "fmt", "-t", "-w", good); code != 2 || !strings.Contains(stderr, "cannot be used together") {
		t.Fatalf("-t -w: exit %d, %s", code, stderr)
	}
}

// TestFmtAlloyFlags: alloy fmt's spellings work: --write, --test, "-" for
// standard input; and a file larger than a config may be is refused unread.
func TestFmtAlloyFlags(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "a.alloy")
	if err := os.WriteFile(name, []byte("a {\n  b = 1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := flowCmd(t, "", "fmt", "--test", name); code != 1 || !strings.Contains(stderr, "not formatted") {
		t.Fatalf("--test: exit %d, %s", code, stderr)
	}
	if code, _, stderr := flowCmd(t, "", "fmt", "--write", name); code != 0 {
		t.Fatalf("--write: exit %d, %s", code, stderr)
	}
	if got, _ := os.ReadFile(name); string(got) != "a {\n\tb = 1\n}\n" {
		t.Fatalf("--write wrote %q", got)
	}
	if code, stdout, _ := flowCmd(t, "x=1\n", "fmt", "-"); code != 0 || stdout != "x = 1\n" {
		t.Fatalf(`"-": exit %d, %q`, code, stdout)
	}
	if code, _, stderr := flowCmd(t, "x=1\n", "fmt", "-w", "-"); code != 2 || !strings.Contains(stderr, "standard input") {
		t.Fatalf(`-w -: exit %d, %s`, code, stderr)
	}
	big := filepath.Join(dir, "big.alloy")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# padding\n"), 500_000), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := flowCmd(t, "", "fmt", big); code != 1 || !strings.Contains(stderr, "larger than a config may be (4 MiB)") {
		t.Fatalf("5 MB file: exit %d, %s", code, stderr)
	}
}
