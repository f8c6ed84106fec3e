package remotewrite

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// TestSendLabelsWithoutRulesAllocatesNothing: with no external labels and
// no write_relabel_config, a series' labels are sent as they are, without
// a labels.Builder per new series.
func TestSendLabelsWithoutRulesAllocatesNothing(t *testing.T) {
	tr := &tracker{}
	in := labels.FromStrings("__name__", "m", "pod", "a")
	out, ok := tr.sendLabels(in)
	if !ok || !labels.Equal(out, in) {
		t.Fatalf("sendLabels(%s) = %s, %v; want the labels unchanged", in, out, ok)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = tr.sendLabels(in) }); n != 0 {
		t.Fatalf("sendLabels without external labels or rules: %.0f allocations per call, want 0", n)
	}
	tr.ext = labels.FromStrings("cluster", "c1")
	out, ok = tr.sendLabels(in)
	if want := labels.FromStrings("__name__", "m", "cluster", "c1", "pod", "a"); !ok || !labels.Equal(out, want) {
		t.Fatalf("with external labels: %s, %v; want %s", out, ok, want)
	}
}
