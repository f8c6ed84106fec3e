package remotewrite

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// waitWatchers waits until the WAL watchers of queues live queues have
// started. Prometheus' watcher notes its start time in its own goroutine and
// sends only samples newer than that; flow's replay covers everything up to
// the moment waitWatchers returns, so nothing falls in between.
//
// A watcher that has started keeps a WAL segment open, after noting its
// start time: on Linux, the open files of the process show it. Elsewhere,
// or if that does not show within 10 s, a fixed pause stands in.
func (c *Component) waitWatchers(queues int) {
	walDir := filepath.Join(c.opts.DataPath, "wal") + string(filepath.Separator)
	want := 1 + queues // the WAL writer's own segment, then one per watcher
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, ok := openFilesUnder(walDir)
		if !ok {
			time.Sleep(500 * time.Millisecond)
			return
		}
		if n >= want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.opts.Logger.Warn("WAL watchers did not show as started within 10s; samples committed meanwhile may be sent twice or not at all")
}

// openFilesUnder counts this process's open files inside dir (ok false
// where /proc is not available).
func openFilesUnder(dir string) (int, bool) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	n := 0
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir) {
			n++
		}
	}
	return n, true
}
