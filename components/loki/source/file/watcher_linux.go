package file

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// inotify watches directories for creations, moves and deletions only.
type inotify struct {
	f        *os.File
	onEvent  func(path string, kind eventKind, cookie uint32)
	overflow func()

	mu    sync.Mutex
	wds   map[int32]string
	byDir map[string]int32
}

const inotifyMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_ONLYDIR

func newBackend(onEvent func(string, eventKind, uint32), overflow func()) (watchBackend, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	// Non-blocking and wrapped in an os.File, the descriptor is read
	// through Go's poller, so close ends the read loop.
	in := &inotify{f: os.NewFile(uintptr(fd), "inotify"), onEvent: onEvent, overflow: overflow,
		wds: map[int32]string{}, byDir: map[string]int32{}}
	go in.loop()
	return in, nil
}

func (in *inotify) add(dir string) error {
	rc, err := in.f.SyscallConn()
	if err != nil {
		return err
	}
	var wd int
	var addErr error
	if err := rc.Control(func(fd uintptr) { wd, addErr = unix.InotifyAddWatch(int(fd), dir, inotifyMask) }); err != nil {
		return err
	}
	if addErr != nil {
		return addErr
	}
	in.mu.Lock()
	in.wds[int32(wd)] = dir
	in.byDir[dir] = int32(wd)
	in.mu.Unlock()
	return nil
}

func (in *inotify) remove(dir string) {
	in.mu.Lock()
	wd, ok := in.byDir[dir]
	delete(in.byDir, dir)
	delete(in.wds, wd)
	in.mu.Unlock()
	if !ok {
		return
	}
	if rc, err := in.f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _, _ = unix.InotifyRmWatch(int(fd), uint32(wd)) })
	}
}

func (in *inotify) close() { in.f.Close() }

func (in *inotify) loop() {
	buf := make([]byte, 64<<10)
	for {
		n, err := in.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameLen := int(ev.Len)
			end := off + unix.SizeofInotifyEvent + nameLen
			if end > n {
				break
			}
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				in.overflow()
			}
			if nameLen > 0 {
				name := buf[off+unix.SizeofInotifyEvent : end]
				for i, c := range name {
					if c == 0 {
						name = name[:i]
						break
					}
				}
				in.mu.Lock()
				dir, ok := in.wds[ev.Wd]
				in.mu.Unlock()
				if ok {
					kind := evCreated
					switch {
					case ev.Mask&unix.IN_MOVED_FROM != 0:
						kind = evMovedFrom
					case ev.Mask&unix.IN_MOVED_TO != 0:
						kind = evMovedTo
					case ev.Mask&unix.IN_DELETE != 0:
						kind = evRemoved
					}
					in.onEvent(filepath.Join(dir, string(name)), kind, ev.Cookie)
				}
			}
			off = end
		}
	}
}
