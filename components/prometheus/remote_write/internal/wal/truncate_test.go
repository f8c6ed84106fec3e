package wal

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/tsdb/wlog"

	"github.com/flow-telemetry/flow/internal/testwait"
)

// TestTruncationTime is agent's rule, value by value.
func TestTruncationTime(t *testing.T) {
	o := Options{MinWALTime: 5 * 60e3, MaxWALTime: 4 * 3600e3}
	now := int64(10 * 3600e3)
	for _, c := range []struct {
		name       string
		lowestSent int64
		want       int64
	}{
		{"nothing sent yet: keep MaxWALTime", 0, now - o.MaxWALTime},
		{"sent an hour ago: keep MinWALTime behind it", now - 3600e3, now - 3600e3 - o.MinWALTime},
		{"stalled for longer than MaxWALTime: keep MaxWALTime", now - 5*3600e3, now - o.MaxWALTime},
		{"sent up to now: keep MinWALTime", now, now - o.MinWALTime},
		{"sent timestamps from the future: keep MinWALTime", now + 3600e3, now - o.MinWALTime},
	} {
		if got := truncationTime(o, c.lowestSent, now); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if got := truncationTime(o, 0, 60e3); got != 0 {
		t.Errorf("just after the epoch: %d, want 0", got)
	}
}

// TestTruncateByLowestSent: the periodic truncation asks lowestSent and
// keeps what agent's rule keeps: samples at or after the truncation time
// (MinWALTime behind what was sent, at most MaxWALTime) survive in the
// checkpoint, older ones and series with nothing newer are dropped.
func TestTruncateByLowestSent(t *testing.T) {
	now := time.Now().UnixMilli()
	ages := []time.Duration{3 * time.Hour, 2 * time.Hour, time.Hour, time.Minute}
	for _, c := range []struct {
		name       string
		lowestSent int64
		// survivors are the ages of lblB's samples still in the WAL.
		survivors []time.Duration
		oldSeries bool // lblA, whose only sample is 3h old, is still there
	}{
		{"nothing sent", 0, ages, true},
		{"sent up to an hour ago", now - time.Hour.Milliseconds(), []time.Duration{time.Hour, time.Minute}, false},
		{"sent everything", now, []time.Duration{time.Minute}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			db, _ := openTest(t, dir, testOptions(), nil)
			app := db.Appender(context.Background())
			if _, err := app.Append(0, lblA, now-ages[0].Milliseconds(), 1); err != nil {
				t.Fatal(err)
			}
			if err := app.Commit(); err != nil {
				t.Fatal(err)
			}
			for _, age := range ages {
				app := db.Appender(context.Background())
				if _, err := app.Append(0, lblB, now-age.Milliseconds(), 1); err != nil {
					t.Fatal(err)
				}
				if err := app.Commit(); err != nil {
					t.Fatal(err)
				}
				if _, err := db.wal.NextSegment(); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			_, dataLast, _ := wlog.Segments(dir + "/wal")

			var asked atomic.Int64
			opts := testOptions()
			opts.TruncateFrequency = 50 * time.Millisecond
			db, _ = openTest(t, dir, opts, func() int64 { asked.Add(1); return c.lowestSent })
			testwait.Eventually(t, 60*time.Second, func() bool {
				_, idx, err := wlog.LastCheckpoint(dir + "/wal")
				return err == nil && idx >= dataLast
			}, "no checkpoint past segment %d", dataLast)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if asked.Load() == 0 {
				t.Fatal("lowestSent was never asked")
			}
			got := readAll(t, dir)
			var ts []int64
			for _, s := range got.samples[lblB.String()] {
				ts = append(ts, s.T)
			}
			var want []int64
			for _, age := range c.survivors {
				want = append(want, now-age.Milliseconds())
			}
			if !slices.Equal(ts, want) {
				t.Errorf("%s samples at %v, want %v (now %d)", lblB, ts, want, now)
			}
			if has := len(got.samples[lblA.String()]) > 0; has != c.oldSeries {
				t.Errorf("old series' sample kept: %v, want %v", has, c.oldSeries)
			}
		})
	}
}
