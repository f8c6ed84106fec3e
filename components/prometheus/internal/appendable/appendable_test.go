package appendable

import (
	"context"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
)

func appendOne(t *testing.T, a storage.Appendable, ref storage.SeriesRef, ts int64) storage.SeriesRef {
	t.Helper()
	app := a.Appender(context.Background())
	ref, err := app.Append(ref, labels.FromStrings("__name__", "m"), ts, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestFanout(t *testing.T) {
	a, b := promtest.NewRecorder(), promtest.NewRecorder()

	f := NewFanout(nil)
	appendOne(t, f, 0, 1) // no receivers: discarded without error

	f.Set([]storage.Appendable{a})
	ref := appendOne(t, f, 0, 2)
	if ref == 0 {
		t.Error("single receiver's reference not passed through")
	}
	if again := appendOne(t, f, ref, 3); again != ref {
		t.Errorf("reference changed from %d to %d for the same series and receiver", ref, again)
	}

	// Two receivers: the scrape loop tracks staleness by reference, so the
	// fanout must return one (the first receiver's), and it must stay
	// stable while the receivers do.
	f.Set([]storage.Appendable{a, nil, b})
	ref = appendOne(t, f, ref, 4)
	if ref == 0 {
		t.Fatal("fanout to two receivers returned reference 0: the scrape loop would never write staleness markers for its series")
	}
	if again := appendOne(t, f, ref, 5); again != ref {
		t.Errorf("reference changed from %d to %d with the same receivers", ref, again)
	}
	f.Set([]storage.Appendable{a, b}) // the same receivers again: references stay valid
	if again := appendOne(t, f, ref, 6); again != ref {
		t.Errorf("reference changed from %d to %d after setting the same receivers", ref, again)
	}
	if a.Len() != 5 || b.Len() != 3 || a.RefMismatches+b.RefMismatches != 0 {
		t.Errorf("a got %d, b got %d (mismatches %d, %d)", a.Len(), b.Len(), a.RefMismatches, b.RefMismatches)
	}
}

// A reference a receiver issued must never reach another receiver after
// forward_to changes: a receiver may trust references without comparing
// labels (Prometheus' agent WAL does) and append to whatever series has
// that number.
func TestFanoutReferencesDoNotCrossReceivers(t *testing.T) {
	a, b := promtest.NewRecorder(), promtest.NewRecorder()
	// b already has a series under the number a will hand out first.
	appendLabels(t, b, labels.FromStrings("__name__", "other"))

	for _, tc := range []struct {
		name     string
		from, to []storage.Appendable
	}{
		{"one receiver replaced", []storage.Appendable{a}, []storage.Appendable{b}},
		{"primary replaced", []storage.Appendable{a, b}, []storage.Appendable{b, a}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFanout(tc.from)
			ref := appendOne(t, f, 0, 1)
			f.Set(tc.to)
			before := b.RefMismatches
			ref2 := appendOne(t, f, ref, 2)
			if b.RefMismatches != before {
				t.Fatalf("b was handed a reference a issued (%d mismatches): the sample went to another series", b.RefMismatches-before)
			}
			if ref2 == 0 || ref2 == ref {
				t.Errorf("after the receivers changed the fanout returned %d (before %d), want a new non-zero reference", ref2, ref)
			}
			if again := appendOne(t, f, ref2, 3); again != ref2 {
				t.Errorf("new reference not stable: %d then %d", ref2, again)
			}
		})
	}
	if a.RefMismatches != 0 {
		t.Errorf("a got %d mismatched references", a.RefMismatches)
	}
}

func appendLabels(t *testing.T, a storage.Appendable, l labels.Labels) {
	t.Helper()
	app := a.Appender(context.Background())
	if _, err := app.Append(0, l, 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestCounted(t *testing.T) {
	rec := promtest.NewRecorder()
	var n int
	c := Counted(rec, func(k int) { n += k })
	app := c.Appender(context.Background())
	for i := 0; i < 5; i++ {
		if _, err := app.Append(0, labels.FromStrings("__name__", "m"), int64(i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if n != 0 {
		t.Fatalf("counted %d before commit", n)
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	app = c.Appender(context.Background())
	_, _ = app.Append(0, labels.FromStrings("__name__", "m"), 9, 1)
	_ = app.Rollback()
	if n != 5 {
		t.Fatalf("counted %d, want the 5 committed samples only", n)
	}
}
