package relabel

import (
	"testing"

	"github.com/flow-telemetry/flow/runtime/livedebug"
)

// The Live tab of discovery.relabel shows each new target set: its size,
// then every target with sorted labels.
func TestLiveShowsTargetSets(t *testing.T) {
	svc := livedebug.New()
	svc.SetEnabled(true)
	opts, _ := testOptions("discovery.relabel.live")
	opts.LiveDebug = svc.Publisher(opts.ID)
	c, err := New(opts, Arguments{Targets: []map[string]string{{"__address__": "a:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := svc.Watch(opts.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := c.Update(Arguments{Targets: []map[string]string{{"job": "x", "__address__": "b:2"}, {"__address__": "c:3"}}}); err != nil {
		t.Fatal(err)
	}
	want := []string{"2 targets", `{__address__="b:2", job="x"}`, `{__address__="c:3"}`}
	for i, w := range want {
		select {
		case e := <-v.Events():
			if e.Text != w {
				t.Fatalf("event %d = %q, want %q", i, e.Text, w)
			}
		default:
			t.Fatalf("only %d of %d events", i, len(want))
		}
	}
}
