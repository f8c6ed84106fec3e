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
	appendOne(t, f, ref, 3)

	f.Set([]storage.Appendable{a, nil, b})
	if ref := appendOne(t, f, ref, 4); ref != 0 {
		t.Errorf("fanout to two receivers returned reference %d; references of different receivers are unrelated", ref)
	}
	if a.Len() != 3 || b.Len() != 1 || a.RefMismatches+b.RefMismatches != 0 {
		t.Errorf("a got %d, b got %d (mismatches %d, %d)", a.Len(), b.Len(), a.RefMismatches, b.RefMismatches)
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
