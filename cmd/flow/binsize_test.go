package main

import (
	"debug/elf"
	"os"
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/internal/flowproc"
)

// TestBinaryKeepsOnlyUsedSDKOperations guards the binary's size and idle
// memory (issue 16): flow calls two EC2 operations, and the linker must
// leave the other ~700 of the AWS SDK's EC2 client (and their serializers,
// ~19 MB of the binary once kept) out. They come back as soon as an
// *ec2.Client is reachable from an interface value or from a field of one,
// because text/template is linked and makes the linker keep every exported
// method of such types (see ec2API in components/discovery/aws/ec2).
func TestBinaryKeepsOnlyUsedSDKOperations(t *testing.T) {
	if os.Getenv("FLOW_BIN") != "" {
		t.Log("FLOW_BIN is set: checking that binary")
	}
	f, err := elf.Open(flowproc.Build(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatalf("reading the flow binary's symbol table (built without -s?): %v", err)
	}
	const client = "github.com/aws/aws-sdk-go-v2/service/ec2.(*Client)."
	var ops []string
	used := map[string]bool{}
	// Services flow has no component for; Prometheus' discovery/aws links
	// them (and builds their schemas at start-up) if anything imports it.
	unused := map[string]int{}
	for _, svc := range []string{"lightsail", "ecs", "kafka", "rds", "elasticache"} {
		unused["github.com/aws/aws-sdk-go-v2/service/"+svc+"."] = 0
	}
	for _, s := range syms {
		for prefix := range unused {
			if strings.HasPrefix(s.Name, prefix) {
				unused[prefix]++
			}
		}
		if !strings.HasPrefix(s.Name, client) || elf.ST_TYPE(s.Info) != elf.STT_FUNC {
			continue
		}
		op := strings.TrimPrefix(s.Name, client)
		if strings.ContainsAny(op, ".-") {
			continue // closures and method-value wrappers
		}
		switch op {
		case "DescribeInstances", "DescribeAvailabilityZones":
			used[op] = true
		default:
			if !strings.HasPrefix(op, "invoke") && !strings.HasPrefix(op, "add") && op[0] >= 'A' && op[0] <= 'Z' {
				ops = append(ops, op)
			}
		}
	}
	for prefix, n := range unused {
		if n > 0 {
			t.Errorf("the binary links %d symbols of %s*, a service flow never calls: is Prometheus' discovery/aws imported?", n, prefix)
		}
	}
	if !used["DescribeInstances"] || !used["DescribeAvailabilityZones"] {
		t.Fatalf("the binary lacks the EC2 operations discovery.aws.ec2 calls (found %v): is the symbol table stripped?", used)
	}
	// A few more are expected: Options, and DescribeNetworkInterfaces of
	// Prometheus' EC2 discovery (linked by the converter's config parsing,
	// which keeps its client behind method values too).
	if len(ops) > 10 {
		n := min(len(ops), 5)
		t.Fatalf("the binary keeps %d EC2 operations flow never calls (%s, …): an *ec2.Client is reachable from an interface value or a struct field of one",
			len(ops), strings.Join(ops[:n], ", "))
	}
}
