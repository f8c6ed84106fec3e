package relabel

import (
	"reflect"
	"testing"

	"github.com/flow-telemetry/flow/components/common/relabel"
	"github.com/flow-telemetry/flow/runtime/component"
)

type capture struct{ last component.Exports }

func testOptions(id string) (component.Options, *capture) {
	c := &capture{}
	return component.Options{ID: id, OnStateChange: func(e component.Exports) { c.last = e }}, c
}

func TestRelabelTargets(t *testing.T) {
	opts, ex := testOptions("discovery.relabel.test")
	keep := relabel.Rule{}
	keep.SetToDefault()
	keep.Action = "keep"
	keep.SourceLabels = []string{"__meta_ec2_instance_state"}
	keep.Regex = "running"
	name := relabel.Rule{}
	name.SetToDefault()
	name.SourceLabels = []string{"__meta_ec2_tag_Name"}
	name.TargetLabel = "instance_name"

	args := Arguments{
		Targets: []map[string]string{
			{"__address__": "10.0.0.1:9100", "__meta_ec2_instance_state": "running", "__meta_ec2_tag_Name": "web"},
			{"__address__": "10.0.0.2:9100", "__meta_ec2_instance_state": "stopped", "__meta_ec2_tag_Name": "db"},
		},
		Rules: []relabel.Rule{keep, name},
	}
	c, err := New(opts, args)
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{{
		"__address__": "10.0.0.1:9100", "__meta_ec2_instance_state": "running", "__meta_ec2_tag_Name": "web", "instance_name": "web",
	}}
	if got := ex.last.(Exports).Output; !reflect.DeepEqual(got, want) {
		t.Fatalf("output = %v, want %v", got, want)
	}

	// Update with new targets republishes.
	args.Targets = args.Targets[1:]
	if err := c.Update(args); err != nil {
		t.Fatal(err)
	}
	if got := ex.last.(Exports).Output; len(got) != 0 {
		t.Fatalf("after update output = %v, want none", got)
	}

	bad := args
	bad.Rules = []relabel.Rule{{Action: "replace", Regex: "("}}
	if err := c.Update(bad); err == nil {
		t.Fatal("invalid regex accepted")
	}
}
