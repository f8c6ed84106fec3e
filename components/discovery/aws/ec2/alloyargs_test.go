package ec2

import (
	"maps"
	"testing"

	"github.com/flow-telemetry/flow/internal/alloyargs"
)

// TestEveryAlloyArgumentValidates builds, from the list of every argument
// and block Alloy documents for discovery.ec2 (testdata/alloy-arguments.txt),
// configs that together use each of them with a value of its documented
// type, and requires `flow validate` (runtime.Validate) to accept every one,
// under both names.
func TestEveryAlloyArgumentValidates(t *testing.T) {
	args, err := alloyargs.ReadFile("testdata/alloy-arguments.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(args) < 67 {
		t.Fatalf("%d documented arguments listed; Alloy documents 67", len(args))
	}
	values := alloyargs.HTTPClientValues("")
	maps.Copy(values, map[string]string{
		"region":           `"us-east-1"`,
		"endpoint":         `"https://ec2.us-east-1.amazonaws.com"`,
		"refresh_interval": `"30s"`,
		"port":             "9100",
		"role_arn":         `"arn:aws:iam::123456789012:role/discovery"`,
		"filter > name":    `"instance-state-name"`,
		"filter > values":  `["running", "pending"]`,
	})
	for _, name := range []string{"discovery.ec2", "discovery.aws.ec2"} {
		spec := alloyargs.Spec{Component: name, Label: "every", Args: args, Exclusive: alloyargs.HTTPClientExclusive(""), Values: values}
		configs, unused := spec.Configs()
		if len(unused) > 0 {
			t.Fatalf("no valid config can use %v: fix the exclusive groups", unused)
		}
		alloyargs.CheckValidates(t, configs, nil)
		if name == "discovery.ec2" {
			t.Logf("%d arguments and blocks in %d configs; the first:\n%s", len(args), len(configs), configs[0])
		}
	}
}

// TestAlloyArgumentsListed keeps the compatibility table honest: every
// argument of the list is named in docs/alloy-compatibility.md's
// discovery.ec2 section.
func TestAlloyArgumentsListed(t *testing.T) {
	args, err := alloyargs.ReadFile("testdata/alloy-arguments.txt")
	if err != nil {
		t.Fatal(err)
	}
	alloyargs.CheckDocumented(t, "../../../../docs/alloy-compatibility.md", "discovery.ec2", args)
}
