// Package file is the local.file component: it exports the content of a file
// and re-exports it whenever the file changes.
//
// `detector` is Alloy's: "fsnotify" (the default) re-reads the file as soon
// as the kernel reports a change to it (the parent directory is watched, so
// an editor's or Kubernetes' rename-into-place is seen too); "poll" stats the
// file every min(poll_frequency, 1s) and re-reads it when its size or
// modification time changes, for network and container filesystems where
// notifications never come. Either way the file is re-read unconditionally
// every poll_frequency (comparing a hash) to catch a rewrite that kept size
// and time. When notifications cannot be set up (the inotify limit), the
// component polls and logs why once.
//
// Only regular files of at most 64 MiB are read: a config pointing at a
// device (/dev/zero) or a huge file fails clearly instead of exhausting
// memory. With is_secret the content is exported as a secret.
package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

func init() {
	component.Register(component.Registration{
		Name:    "local.file",
		Args:    Arguments{},
		Exports: Exports{},
		// It only reads the file it is given.
		NoDataPath: true,
		Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
			return New(opts, args.(Arguments))
		},
	})
}

// maxStatInterval bounds how long a change can go unnoticed when
// poll_frequency is long.
const maxStatInterval = time.Second

// settleTime is how long a file must see no further change events before
// it is read, so a rewrite in several writes is read once, whole.
const settleTime = 50 * time.Millisecond

// maxFileSize bounds what local.file reads into memory.
const maxFileSize = 64 << 20

// Detectors, as Alloy names them.
const (
	DetectorFSNotify = "fsnotify"
	DetectorPoll     = "poll"
)

// Arguments configure local.file.
type Arguments struct {
	// Filename is the path of the file to read.
	Filename string `river:"filename,attr"`
	// PollFrequency is how often the file is re-read even if it looks unchanged.
	PollFrequency time.Duration `river:"poll_frequency,attr,optional"`
	// IsSecret exports the content as a secret.
	IsSecret bool `river:"is_secret,attr,optional"`
	// Detector is how changes are found: fsnotify or poll.
	Detector string `river:"detector,attr,optional"`
}

// SetToDefault sets Alloy's defaults: poll_frequency one minute, fsnotify.
func (a *Arguments) SetToDefault() {
	*a = Arguments{PollFrequency: time.Minute, Detector: DetectorFSNotify}
}

// Validate checks the arguments.
func (a *Arguments) Validate() error {
	if a.Filename == "" {
		return errors.New("filename must not be empty")
	}
	if a.PollFrequency <= 0 {
		return fmt.Errorf("poll_frequency must be greater than 0, got %s", a.PollFrequency)
	}
	if a.Detector != DetectorFSNotify && a.Detector != DetectorPoll {
		return fmt.Errorf("detector must be %q or %q, got %q", DetectorFSNotify, DetectorPoll, a.Detector)
	}
	return nil
}

// Exports is what local.file exports.
type Exports struct {
	// Content is the file's content: a string, or a value.Secret when
	// is_secret is set (an interface field, so it encodes as either).
	Content any `river:"content,attr"`
}

// Component is a running local.file.
type Component struct {
	opts component.Options

	mu     sync.Mutex
	args   Arguments
	health component.Health
	// What was last read, to tell a change.
	size    int64
	modTime time.Time
	sum     [sha256.Size]byte
	read    bool // something was read successfully
	content []byte
	secret  bool
	// lastRead is when the file was last read in full.
	lastRead time.Time

	wake chan struct{}
}

var (
	_ component.HealthComponent = (*Component)(nil)
	_ component.DebugComponent  = (*Component)(nil)
)

// New builds a local.file and reads the file once, so dependants see its
// content in the same load. A missing file does not fail the build: the
// component is unhealthy and keeps checking.
func New(opts component.Options, args Arguments) (*Component, error) {
	c := &Component{opts: opts, args: args, wake: make(chan struct{}, 1)}
	c.refresh(true)
	return c, nil
}

// Run watches or polls the file until ctx is done.
func (c *Component) Run(ctx context.Context) error {
	var w *watch
	var failedFor string // the file whose watch could not be set up
	defer func() { w.close() }()
	for {
		c.mu.Lock()
		args := c.args
		c.mu.Unlock()

		// (Re)start or stop the watch when the detector or file changed.
		if args.Detector == DetectorFSNotify && failedFor != args.Filename && (w == nil || w.filename != args.Filename) {
			w.close()
			var err error
			if w, err = newWatch(args.Filename); err != nil {
				w, failedFor = nil, args.Filename
				c.opts.Logger.Warn("cannot watch the file for changes; polling it instead", "filename", args.Filename, "err", err)
			} else {
				// A change between the last read and the watch's start
				// sent no event: read once more now that events flow.
				c.refresh(true)
			}
		} else if args.Detector == DetectorPoll && w != nil {
			w.close()
			w = nil
		}

		interval := args.PollFrequency
		if w == nil {
			interval = min(args.PollFrequency, maxStatInterval)
		}
		var events <-chan struct{}
		if w != nil {
			events = w.changed
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-c.wake:
			t.Stop()
		case <-events:
			t.Stop()
			c.refresh(true)
		case <-t.C:
			c.mu.Lock()
			full := time.Since(c.lastRead) >= c.args.PollFrequency
			c.mu.Unlock()
			c.refresh(full)
		}
	}
}

// watch turns fsnotify events about one file into a signal. The parent
// directory is watched, because a file replaced by rename (editors,
// Kubernetes ConfigMaps) is a new inode a watch on the file would miss.
type watch struct {
	filename string
	w        *fsnotify.Watcher
	changed  chan struct{}
	done     chan struct{}
}

func newWatch(filename string) (*watch, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(filename)
	if err != nil {
		fw.Close()
		return nil, err
	}
	if err := fw.Add(filepath.Dir(abs)); err != nil {
		fw.Close()
		return nil, err
	}
	w := &watch{filename: filename, w: fw, changed: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		// Events are debounced: a writer that truncates and then writes
		// (os.WriteFile, shell redirection) sends several, and reading at
		// the first would export a half-written file to the dependants.
		var quiet *time.Timer
		var fire <-chan time.Time
		defer func() {
			if quiet != nil {
				quiet.Stop()
			}
		}()
		signal := func() {
			if quiet == nil {
				quiet = time.NewTimer(settleTime)
			} else {
				quiet.Reset(settleTime)
			}
			fire = quiet.C
		}
		for {
			select {
			case ev, ok := <-fw.Events:
				if !ok {
					return
				}
				// Kubernetes swaps a "..data" symlink; any event in the
				// directory may change what the path resolves to, so only
				// unrelated names are ignored when the path is not a link.
				if filepath.Clean(ev.Name) != abs && !isLink(abs) {
					continue
				}
				signal()
			case _, ok := <-fw.Errors:
				if !ok {
					return
				}
				// An overflow loses events: make the next loop re-read.
				signal()
			case <-fire:
				fire = nil
				select {
				case w.changed <- struct{}{}:
				default:
				}
			}
		}
	}()
	return w, nil
}

func isLink(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&os.ModeSymlink != 0
}

func (w *watch) close() {
	if w == nil {
		return
	}
	w.w.Close()
	<-w.done
}

// Update applies new arguments and reads the file again at once.
func (c *Component) Update(args component.Arguments) error {
	a := args.(Arguments)
	c.mu.Lock()
	changed := a != c.args
	c.args = a
	c.mu.Unlock()
	if changed {
		c.refresh(true)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// refresh stats the file and reads it when it looks changed or when full is
// set, publishing the content when it differs from what was exported.
func (c *Component) refresh(full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	path := c.args.Filename
	fi, err := os.Stat(path)
	if err != nil {
		c.setUnhealthy(err)
		return
	}
	if fi.IsDir() {
		c.setUnhealthy(fmt.Errorf("%s is a directory, not a file", path))
		return
	}
	if !fi.Mode().IsRegular() {
		c.setUnhealthy(fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type()))
		return
	}
	if fi.Size() > maxFileSize {
		c.setUnhealthy(fmt.Errorf("%s is %d bytes, more than local.file reads (%d MiB)", path, fi.Size(), maxFileSize>>20))
		return
	}
	changedSecret := c.secret != c.args.IsSecret
	if !full && c.read && !changedSecret && c.health.Health == component.HealthHealthy &&
		fi.Size() == c.size && fi.ModTime().Equal(c.modTime) {
		return
	}
	data, err := readLimited(path)
	if err != nil {
		c.setUnhealthy(err)
		return
	}
	c.lastRead = time.Now()
	sum := sha256.Sum256(data)
	c.size, c.modTime = fi.Size(), fi.ModTime()
	if c.health.Health != component.HealthHealthy {
		c.health = component.Health{Health: component.HealthHealthy, Message: "read " + path, UpdateTime: time.Now()}
	}
	if c.read && sum == c.sum && !changedSecret {
		return
	}
	c.read, c.sum, c.secret = true, sum, c.args.IsSecret
	c.content = bytes.Clone(data)
	c.opts.OnStateChange(c.exports())
	c.publishLive()
}

// readLimited reads at most maxFileSize bytes: a file that grew between
// the stat and the read is refused, not read without bound.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("more than local.file reads (%d MiB)", maxFileSize>>20)
	}
	return data, nil
}

// publishLive shows the new content on the Live tab, or only that it
// changed when it is a secret.
func (c *Component) publishLive() {
	ld := c.opts.Live()
	if !ld.Active() {
		return
	}
	if c.secret {
		ld.Publish("file", component.LiveFunc(func() string { return "updated (secret)" }))
		return
	}
	content := string(c.content)
	ld.Publish("file", component.LiveFunc(func() string { return "updated (" + strconv.Itoa(len(content)) + " bytes): " + content }))
}

func (c *Component) exports() Exports {
	if c.secret {
		return Exports{Content: value.Secret(c.content)}
	}
	return Exports{Content: string(c.content)}
}

// setUnhealthy records a failure to read; the last content stays exported,
// so a file briefly missing during a rewrite does not empty its dependants.
func (c *Component) setUnhealthy(err error) {
	msg := fmt.Sprintf("reading %s: %v", c.args.Filename, unwrapPath(err))
	if c.health.Health == component.HealthUnhealthy && c.health.Message == msg {
		return
	}
	c.opts.Logger.Warn("cannot read file", "filename", c.args.Filename, "err", unwrapPath(err))
	c.health = component.Health{Health: component.HealthUnhealthy, Message: msg, UpdateTime: time.Now()}
	if !c.read {
		// Nothing read yet: dependants still get a value of the right
		// kind (an empty string or secret) rather than none.
		c.secret = c.args.IsSecret
		c.opts.OnStateChange(c.exports())
	}
}

// unwrapPath drops the *PathError wrapper, whose message repeats the path.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// CurrentHealth reports whether the file could be read.
func (c *Component) CurrentHealth() component.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health
}

// DebugInfo is shown on the component's page.
type DebugInfo struct {
	Size     int64     `river:"size,attr"`
	ModTime  time.Time `river:"mod_time,attr"`
	LastRead time.Time `river:"last_read,attr"`
}

// DebugInfo returns what was last read.
func (c *Component) DebugInfo() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return DebugInfo{Size: c.size, ModTime: c.modTime, LastRead: c.lastRead}
}
