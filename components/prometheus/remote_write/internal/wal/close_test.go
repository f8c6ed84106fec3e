package wal

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// TestCloseDuringTruncation: Close while commits and truncations run ends.
// (tsdb/agent's Close takes its lock before stopping the truncation loop;
// a truncation that starts meanwhile waits for that lock, and Close for
// the loop: both hang.)
func TestCloseDuringTruncation(t *testing.T) {
	for round := range 30 {
		opts := testOptions()
		opts.TruncateFrequency = time.Millisecond
		db, _ := openTest(t, t.TempDir(), opts, nil)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := labels.FromStrings("__name__", "m", "round", fmt.Sprint(round))
			for ts := int64(1); ; ts++ {
				select {
				case <-stop:
					return
				default:
				}
				app := db.Appender(context.Background())
				_, _ = app.Append(0, l, ts, 1)
				_ = app.Commit()
			}
		}()
		time.Sleep(5 * time.Millisecond)
		closed := make(chan error, 1)
		go func() { closed <- db.Close() }()
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: Close did not return within 30s", round)
		}
		close(stop)
		wg.Wait()
	}
}
