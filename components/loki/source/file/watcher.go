package file

import (
	"path/filepath"
	"sync"
)

// dirWatcher tells tailers at once that a file was created at, renamed to
// or removed from their path, so a rotated file is opened (and held) the
// moment it appears; data is picked up by polling. There is one watcher per
// component, with one watch per directory however many files it holds.
// Where no watcher can be made (no inotify, or the kernel's limits
// reached) tailers find rotations by polling alone, which catches at most
// one rotation per poll interval.
//
// On Linux it is inotify without IN_MODIFY: a busy file makes tens of
// thousands of modify events a second, and a creation queued behind them
// would be seen too late for a file that lives a few milliseconds.
type dirWatcher struct {
	backend watchBackend

	mu     sync.Mutex
	dirs   map[string]int              // watched directory -> files in it
	byPath map[string]map[*tailer]bool // path -> tailers of it
	// moved remembers, by rename cookie, the tailers whose path a file
	// was just renamed away from, so the rename's other half can tell
	// them its new name (see tailer.recover).
	moved      map[uint32][]*tailer
	movedOrder []uint32
}

// eventKind is what happened to a name.
type eventKind int

const (
	evCreated   eventKind = iota // created at, or renamed to, the name
	evMovedFrom                  // renamed away from the name
	evMovedTo                    // renamed to the name (also reported as evCreated)
	evRemoved
)

// watchBackend is the OS's notification mechanism.
type watchBackend interface {
	add(dir string) error
	remove(dir string)
	close()
}

func newDirWatcher() *dirWatcher {
	dw := &dirWatcher{dirs: map[string]int{}, byPath: map[string]map[*tailer]bool{}, moved: map[uint32][]*tailer{}}
	b, err := newBackend(dw.event, dw.overflow)
	if err != nil {
		return nil
	}
	dw.backend = b
	return dw
}

// add watches t's directory; it reports whether events will come.
func (dw *dirWatcher) add(t *tailer) bool {
	if dw == nil {
		return false
	}
	dw.mu.Lock()
	defer dw.mu.Unlock()
	dir := filepath.Dir(t.path)
	if dw.dirs[dir] == 0 {
		if err := dw.backend.add(dir); err != nil {
			return false
		}
	}
	dw.dirs[dir]++
	if dw.byPath[t.path] == nil {
		dw.byPath[t.path] = map[*tailer]bool{}
	}
	dw.byPath[t.path][t] = true
	return true
}

func (dw *dirWatcher) remove(t *tailer) {
	if dw == nil || !t.watched {
		return
	}
	dw.mu.Lock()
	defer dw.mu.Unlock()
	delete(dw.byPath[t.path], t)
	if len(dw.byPath[t.path]) == 0 {
		delete(dw.byPath, t.path)
	}
	dir := filepath.Dir(t.path)
	if dw.dirs[dir]--; dw.dirs[dir] <= 0 {
		delete(dw.dirs, dir)
		dw.backend.remove(dir)
	}
}

func (dw *dirWatcher) close() {
	if dw != nil {
		dw.backend.close()
	}
}

// event is called by the backend, in the kernel's order, for a change of
// path; cookie pairs the two halves of a rename.
func (dw *dirWatcher) event(path string, kind eventKind, cookie uint32) {
	dw.mu.Lock()
	ts := make([]*tailer, 0, len(dw.byPath[path]))
	for t := range dw.byPath[path] {
		ts = append(ts, t)
	}
	var movedTs []*tailer
	switch kind {
	case evMovedFrom:
		if len(ts) > 0 {
			dw.moved[cookie] = ts
			dw.movedOrder = append(dw.movedOrder, cookie)
			if len(dw.movedOrder) > 256 {
				delete(dw.moved, dw.movedOrder[0])
				dw.movedOrder = dw.movedOrder[1:]
			}
		}
	case evMovedTo:
		movedTs = dw.moved[cookie]
		delete(dw.moved, cookie)
	}
	dw.mu.Unlock()
	for _, t := range movedTs {
		t.recover(path)
	}
	for _, t := range ts {
		t.discover()
	}
}

// overflow is called when events were lost: every tailer looks for itself.
func (dw *dirWatcher) overflow() {
	dw.mu.Lock()
	var ts []*tailer
	for _, m := range dw.byPath {
		for t := range m {
			ts = append(ts, t)
		}
	}
	dw.mu.Unlock()
	for _, t := range ts {
		t.discover()
	}
}
