package prometheus

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestEC2SDConfigMatchesPrometheus compares EC2SDConfig's fields and YAML
// tags with Prometheus' own (discovery/aws's source in the module cache: the
// package cannot be linked into this test, it registers "ec2" too), so a
// Prometheus upgrade that adds or renames a field fails here rather than
// making the converter reject or mis-read ec2_sd_configs.
func TestEC2SDConfigMatchesPrometheus(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/prometheus/prometheus").Output()
	if err != nil {
		t.Fatalf("go list -m github.com/prometheus/prometheus (the module must be downloaded, as for any build): %v", err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "discovery", "aws", "ec2.go")
	f, err := parser.ParseFile(token.NewFileSet(), src, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	theirs := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "EC2SDConfig" {
			return true
		}
		for _, fl := range ts.Type.(*ast.StructType).Fields.List {
			tag, _ := strconv.Unquote(fl.Tag.Value)
			for _, name := range fl.Names {
				theirs[name.Name] = reflect.StructTag(tag).Get("yaml")
			}
		}
		return false
	})
	if len(theirs) == 0 {
		t.Fatalf("no EC2SDConfig struct in %s", src)
	}
	ours := map[string]string{}
	rt := reflect.TypeFor[EC2SDConfig]()
	for i := range rt.NumField() {
		ours[rt.Field(i).Name] = rt.Field(i).Tag.Get("yaml")
	}
	if !reflect.DeepEqual(ours, theirs) {
		t.Fatalf("EC2SDConfig's fields differ from Prometheus' (%s):\n ours   %v\n theirs %v", src, ours, theirs)
	}
}
