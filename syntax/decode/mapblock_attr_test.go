package decode

import (
	"strings"
	"testing"
)

// A map block may also be written as an attribute holding an object
// (loki.source.aws_firehose takes `labels { … }` as in the seed, and
// `labels = { … }` as Alloy's log sources do), but not both ways at once.
func TestMapBlockAsAttribute(t *testing.T) {
	args, diags := decodeArgs(t, "test \"x\" {\n  region = \"r\"\n  labels = { job = \"a\", env = \"prod\" }\n}\n")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if args.Labels["job"] != "a" || args.Labels["env"] != "prod" || len(args.Labels) != 2 {
		t.Fatalf("labels = %v", args.Labels)
	}
	for _, src := range []string{
		"test \"x\" {\n  region = \"r\"\n  labels = { job = \"a\" }\n  labels {\n    env = \"b\"\n  }\n}\n",
		"test \"x\" {\n  region = \"r\"\n  labels {\n    env = \"b\"\n  }\n  labels = { job = \"a\" }\n}\n",
	} {
		_, diags := decodeArgs(t, src)
		if !diags.HasErrors() || !strings.Contains(diags.Error(), "both as an attribute and as a block") {
			t.Fatalf("both forms at once: %v", diags)
		}
	}
}
