// Package file is the loki.source.file component (Alloy's name, arguments
// and positions file): it tails the files its targets name (`__path__`,
// usually from local.file_match) and sends each line, labelled with the
// target's public labels and `filename`, to forward_to.
//
// Delivery is at least once. A tailer reads a batch (at most 4096 lines or
// 1 MiB), hands it to the receivers with their synchronous Send, and only
// once they accepted it records the offset after the batch in
// <data dir>/positions.yml, written before the next batch is read. A
// restart, even after kill -9, resumes there: at most the batch in flight
// at the crash is sent twice, and nothing accepted is lost. While the
// receivers refuse (loki.write's WAL full, a failing pipeline), the tailer
// retries the same batch with backoff and reads nothing more, so back
// pressure reaches the file instead of memory.
//
// Files are followed by name (see tailer): rotation by rename or by
// delete-and-create reads the old file to its end and then the new one from
// its start; truncation (copytruncate) starts over at 0. A directory
// watcher (inotify) opens each new file the moment it appears, and a file
// created and rotated away again before that is found by its rename, so
// rotations milliseconds apart lose nothing. The positions file also keeps
// the identity (device:inode) of the file each offset belongs to: after a
// restart, a file rotated while flow was down is found in its directory and
// finished before the new one is read. What is documented as lost: a file
// rotated away while flow was down when another rotation followed it
// before the restart (the middle file is never seen, unless the glob also
// matches rotated names), a copytruncate rotation's lines written after the
// last read and before the truncation, and a file truncated and re-grown
// past the old offset within one poll interval. Lines are split on
// the newline of `encoding` (UTF-8 by default; UTF-16 and the IANA
// single-byte encodings are decoded to UTF-8), a trailing "\r" is removed,
// and a line longer than max_line_size (256 KiB, Loki's default limit) is
// cut there, the rest of it skipped and counted.
package file

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/local/file_match"
	"github.com/flow-telemetry/flow/runtime/component"
)

func init() {
	component.Register(component.Registration{
		Name: "loki.source.file",
		Args: Arguments{},
		Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
			return New(opts, args.(Arguments))
		},
	})
}

const (
	pathLabel        = "__path__"
	pathExcludeLabel = "__path_exclude__"
	filenameLabel    = "filename"
	// DefaultMaxLineSize is Loki's default limit on a line.
	DefaultMaxLineSize = 256 << 10
)

// Arguments are Alloy's loki.source.file arguments, plus max_line_size.
type Arguments struct {
	Targets             []map[string]string `river:"targets,attr"`
	ForwardTo           []loki.LogsReceiver `river:"forward_to,attr"`
	Encoding            string              `river:"encoding,attr,optional"`
	TailFromEnd         bool                `river:"tail_from_end,attr,optional"`
	LegacyPositionsFile string              `river:"legacy_positions_file,attr,optional"`
	MaxLineSize         loki.ByteSize       `river:"max_line_size,attr,optional"`
	FileWatch           FileWatch           `river:"file_watch,block,optional"`
	Decompression       Decompression       `river:"decompression,block,optional"`
	FileMatch           FileMatch           `river:"file_match,block,optional"`
	// OnPositionsFileError is what to do with a file whose entry in the
	// positions file does not parse: "restart_from_beginning" (default),
	// "restart_from_end" (after its last complete line) or "skip" (not
	// read, reported in the debug info and logs).
	OnPositionsFileError string `river:"on_positions_file_error,attr,optional"`
}

// The values of on_positions_file_error.
const (
	onPositionsErrorBeginning  = "restart_from_beginning"
	onPositionsErrorRestartEnd = "restart_from_end"
	onPositionsErrorSkip       = "skip"
)

// FileMatch is Alloy's built-in file discovery: with enabled, each target's
// __path__ is a glob (doublestar, with __path_exclude__) expanded every
// sync_period, exactly as local.file_match does; ignore_older_than leaves
// out files not modified for that long.
type FileMatch struct {
	Enabled         bool          `river:"enabled,attr,optional"`
	SyncPeriod      time.Duration `river:"sync_period,attr,optional"`
	IgnoreOlderThan time.Duration `river:"ignore_older_than,attr,optional"`
}

// SetToDefault sets the file_match block's defaults (sync_period 10s).
func (f *FileMatch) SetToDefault() { *f = FileMatch{SyncPeriod: 10 * time.Second} }

// FileWatch is how often files are checked for new data and rotation: the
// interval starts at min_poll_frequency after data and doubles while a file
// is idle, up to max_poll_frequency.
type FileWatch struct {
	MinPollFrequency time.Duration `river:"min_poll_frequency,attr,optional"`
	MaxPollFrequency time.Duration `river:"max_poll_frequency,attr,optional"`
}

// Decompression reads compressed files (rotated archives) once, whole.
type Decompression struct {
	Enabled      bool          `river:"enabled,attr"`
	InitialDelay time.Duration `river:"initial_delay,attr,optional"`
	// Format is "gz", "z" (zlib) or "bz2".
	Format string `river:"format,attr"`
}

// SetToDefault sets Alloy's defaults (250ms polls) and max_line_size.
func (a *Arguments) SetToDefault() {
	*a = Arguments{
		MaxLineSize:          DefaultMaxLineSize,
		FileWatch:            FileWatch{MinPollFrequency: 250 * time.Millisecond, MaxPollFrequency: 250 * time.Millisecond},
		FileMatch:            FileMatch{SyncPeriod: 10 * time.Second},
		OnPositionsFileError: onPositionsErrorBeginning,
	}
}

// SetToDefault sets the file_watch block's defaults.
func (f *FileWatch) SetToDefault() {
	*f = FileWatch{MinPollFrequency: 250 * time.Millisecond, MaxPollFrequency: 250 * time.Millisecond}
}

// Validate checks the arguments.
func (a *Arguments) Validate() error {
	if _, err := newLineEncoding(a.Encoding); err != nil {
		return err
	}
	if a.MaxLineSize < 1 || a.MaxLineSize > 64<<20 {
		return fmt.Errorf("max_line_size must be between 1 byte and 64MiB, got %d", a.MaxLineSize)
	}
	fw := a.FileWatch
	if fw.MinPollFrequency <= 0 || fw.MaxPollFrequency < fw.MinPollFrequency {
		return fmt.Errorf("file_watch: min_poll_frequency (%s) must be positive and at most max_poll_frequency (%s)", fw.MinPollFrequency, fw.MaxPollFrequency)
	}
	switch a.OnPositionsFileError {
	case onPositionsErrorBeginning, onPositionsErrorRestartEnd, onPositionsErrorSkip:
	default:
		return fmt.Errorf(`on_positions_file_error must be "restart_from_beginning", "restart_from_end" or "skip", got %q`, a.OnPositionsFileError)
	}
	if fm := a.FileMatch; fm.SyncPeriod <= 0 || fm.IgnoreOlderThan < 0 {
		return fmt.Errorf("file_match: sync_period (%s) must be positive and ignore_older_than (%s) not negative", fm.SyncPeriod, fm.IgnoreOlderThan)
	}
	if a.FileMatch.Enabled {
		for i, t := range a.Targets {
			if p := t[pathLabel]; p != "" && !doublestar.ValidatePathPattern(p) {
				return fmt.Errorf("targets[%d]: __path__ %q is not a valid glob (file_match is enabled)", i, p)
			}
			if ex := t[pathExcludeLabel]; ex != "" && !doublestar.ValidatePathPattern(ex) {
				return fmt.Errorf("targets[%d]: __path_exclude__ %q is not a valid glob", i, ex)
			}
		}
	}
	if a.Decompression.Enabled {
		switch a.Decompression.Format {
		case "gz", "z", "bz2":
		default:
			return fmt.Errorf(`decompression: format %q is not supported; use "gz", "z" or "bz2"`, a.Decompression.Format)
		}
	}
	return nil
}

// Component is a running loki.source.file.
type Component struct {
	opts    component.Options
	m       *metrics
	pos     *positions
	watcher *dirWatcher // nil: polling only
	warning string

	updateMu  sync.Mutex // serializes Update
	mu        sync.Mutex
	args      Arguments
	receivers []loki.LogsReceiver
	tailers   map[entry]*running
	ctx       context.Context // set by Run; tailers start once it is
	sendErr   string
	sendErrAt time.Time
	wg        sync.WaitGroup
	// matched are the targets with file_match's globs expanded (the
	// targets themselves without file_match), and matchProblem the first
	// problem the last expansion met.
	matched      []map[string]string
	matchProblem string
	resync       chan struct{}
	forgetAfter  time.Duration // forgetPositionAfter when built
}

type running struct {
	t      *tailer
	cancel context.CancelFunc
	done   chan struct{}
}

var (
	_ component.HealthComponent = (*Component)(nil)
	_ component.DebugComponent  = (*Component)(nil)
)

// New opens the positions file (importing legacy_positions_file the first
// time) and prepares the tailers; they start with Run.
func New(opts component.Options, args Arguments) (*Component, error) {
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.DataPath, 0o750); err != nil {
		return nil, fmt.Errorf("creating the data directory: %w", err)
	}
	pos, warning, err := openPositions(filepath.Join(opts.DataPath, positionsFile), args.LegacyPositionsFile)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		opts.Logger.Warn(warning)
	}
	matched, problem := expandTargets(args)
	return &Component{opts: opts, m: m, pos: pos, watcher: newDirWatcher(), warning: warning, args: args, receivers: args.ForwardTo,
		tailers: map[entry]*running{}, matched: matched, matchProblem: problem, resync: make(chan struct{}, 1),
		forgetAfter: forgetPositionAfter}, nil
}

// expandTargets returns the targets to tail: a's targets, or with file_match
// enabled one target per file their __path__ globs match (local.file_match's
// expansion, bounded the same way), and the first problem met.
func expandTargets(a Arguments) ([]map[string]string, string) {
	if !a.FileMatch.Enabled {
		return a.Targets, ""
	}
	return file_match.Expand(a.Targets, a.FileMatch.IgnoreOlderThan, time.Now())
}

// rematch expands file_match's globs again and starts and stops tailers to
// match.
func (c *Component) rematch() {
	c.updateMu.Lock()
	defer c.updateMu.Unlock()
	c.mu.Lock()
	a := c.args
	c.mu.Unlock()
	if !a.FileMatch.Enabled {
		return
	}
	matched, problem := expandTargets(a)
	if problem != "" {
		c.opts.Logger.Warn("file_match: " + problem)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.matched, c.matchProblem = matched, problem
	if c.ctx != nil {
		c.reconcile()
	}
}

// syncFiles runs rematch every file_match sync_period until ctx ends.
func (c *Component) syncFiles(ctx context.Context) {
	for {
		c.mu.Lock()
		period := c.args.FileMatch.SyncPeriod
		c.mu.Unlock()
		t := time.NewTimer(period)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-c.resync:
			t.Stop()
			continue // the new period applies
		}
		c.rematch()
	}
}

// Run starts the tailers and stops them when ctx ends; a batch in flight
// then is not recorded as sent, so it is read again at the next start.
func (c *Component) Run(ctx context.Context) error {
	c.mu.Lock()
	c.ctx = ctx
	c.reconcile()
	c.mu.Unlock()
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		c.syncFiles(ctx)
	}()
	<-ctx.Done()
	<-synced
	c.mu.Lock()
	for k, r := range c.tailers {
		r.cancel()
		delete(c.tailers, k)
	}
	c.mu.Unlock()
	c.wg.Wait()
	c.watcher.close()
	c.m.active.Set(0)
	if err := c.pos.close(); err != nil {
		c.opts.Logger.Warn("writing the positions file at shutdown failed", "err", err)
	}
	return nil
}

// Update applies new targets, receivers and settings. Tailers whose file,
// labels and settings are unchanged keep running.
func (c *Component) Update(args component.Arguments) error {
	a := args.(Arguments)
	c.updateMu.Lock()
	defer c.updateMu.Unlock()
	matched, problem := expandTargets(a)
	c.mu.Lock()
	restart := a.Encoding != c.args.Encoding || a.MaxLineSize != c.args.MaxLineSize ||
		a.FileWatch != c.args.FileWatch || a.Decompression != c.args.Decompression || a.TailFromEnd != c.args.TailFromEnd ||
		a.OnPositionsFileError != c.args.OnPositionsFileError
	if a.FileMatch.SyncPeriod != c.args.FileMatch.SyncPeriod {
		select {
		case c.resync <- struct{}{}:
		default:
		}
	}
	c.args = a
	c.matched, c.matchProblem = matched, problem
	c.receivers = a.ForwardTo
	var stopped []*running
	if restart {
		for k, r := range c.tailers {
			r.cancel()
			stopped = append(stopped, r)
			delete(c.tailers, k)
		}
	}
	c.mu.Unlock()
	// Wait without the lock: a stopping tailer may be inside send, which
	// takes it.
	for _, r := range stopped {
		<-r.done
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx != nil {
		c.reconcile()
	}
	return nil
}

// forgetPositionAfter is how long the position of a file no longer in the
// targets and no longer on disk is kept, in case its target returns. A
// variable for tests, read when a component is built.
var forgetPositionAfter = 10 * time.Second

// reconcile starts a tailer per target not yet tailed and stops those whose
// target is gone. Called with c.mu held.
func (c *Component) reconcile() {
	want := map[entry]model.LabelSet{}
	for _, t := range c.matched {
		path := t[pathLabel]
		if path == "" {
			continue
		}
		ls := model.LabelSet{}
		for k, v := range t {
			if !strings.HasPrefix(k, "__") && v != "" {
				ls[model.LabelName(k)] = model.LabelValue(v)
			}
		}
		key := entry{Path: path, Labels: ls.String()}
		ls[filenameLabel] = model.LabelValue(path)
		want[key] = ls
	}
	for k, r := range c.tailers {
		if _, ok := want[k]; ok {
			continue
		}
		r.cancel()
		delete(c.tailers, k)
		path, ctx, after := k.Path, c.ctx, c.forgetAfter
		go func() {
			<-r.done
			// A file that is gone needs no position any more, unless its
			// target comes back: a glob misses a file for a moment while
			// it is rotated by rename, and the position (with the rotated
			// file's identity) is what lets the next tailer finish the
			// rotated file before the new one.
			if !sleep(ctx, after) {
				return
			}
			c.mu.Lock()
			_, back := c.tailers[k]
			back = back || ctx.Err() != nil
			gone := false
			if !back {
				_, err := os.Stat(path)
				gone = errors.Is(err, os.ErrNotExist)
				if gone {
					c.pos.remove(k)
				}
			}
			c.mu.Unlock()
			if gone {
				_ = c.pos.sync()
			}
		}()
	}
	enc, err := newLineEncoding(c.args.Encoding)
	if err != nil {
		return // Validate refused it already
	}
	opts := tailOptions{
		enc:              enc,
		maxLineSize:      int(c.args.MaxLineSize),
		minPoll:          c.args.FileWatch.MinPollFrequency,
		maxPoll:          c.args.FileWatch.MaxPollFrequency,
		tailFromEnd:      c.args.TailFromEnd,
		onPositionsError: c.args.OnPositionsFileError,
		decompress:       c.args.Decompression.Enabled,
		format:           c.args.Decompression.Format,
		initialDelay:     c.args.Decompression.InitialDelay,
	}
	for k, ls := range want {
		if _, ok := c.tailers[k]; ok {
			continue
		}
		t := &tailer{path: k.Path, key: k, labels: ls, pos: c.pos, send: c.send, opts: opts, m: c.m,
			logger: c.opts.Logger.With("path", k.Path), wake: make(chan struct{}, 1)}
		t.watched = c.watcher.add(t)
		ctx, cancel := context.WithCancel(c.ctx)
		r := &running{t: t, cancel: cancel, done: make(chan struct{})}
		c.tailers[k] = r
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer close(r.done)
			defer c.watcher.remove(t)
			t.run(ctx)
		}()
	}
	c.m.active.Set(float64(len(c.tailers)))
}

// send hands a batch to the current receivers, retrying with backoff (100ms
// doubling to 10s, jittered) until all accept it or ctx ends.
func (c *Component) send(ctx context.Context, entries []loki.Entry) error {
	backoff := 100 * time.Millisecond
	for {
		c.mu.Lock()
		recv := c.receivers
		c.mu.Unlock()
		err := loki.Fanout(ctx, recv, entries)
		if err == nil {
			loki.PublishEntries(c.opts.Live(), entries)
			c.mu.Lock()
			c.sendErr = ""
			c.mu.Unlock()
			c.m.entries.Add(float64(len(entries)))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.mu.Lock()
		if c.sendErr == "" {
			c.sendErrAt = time.Now()
		}
		c.sendErr = err.Error()
		c.mu.Unlock()
		c.m.sendErrors.Inc()
		d := backoff/2 + rand.N(backoff/2+1)
		if errors.Is(err, loki.ErrFull) {
			// The pipeline is full (loki.write's WAL backlog is over its
			// bound): reading is paused, and retried when it asks, without
			// backing off further, so reading resumes soon after it drains.
			d = loki.RetryAfter(err, time.Second)
		} else {
			backoff = min(2*backoff, 10*time.Second)
		}
		if !sleep(ctx, d) {
			return ctx.Err()
		}
	}
}

// CurrentHealth is unhealthy while forward_to refuses lines.
func (c *Component) CurrentHealth() component.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sendErr != "" {
		return component.Health{Health: component.HealthUnhealthy, UpdateTime: time.Now(),
			Message: fmt.Sprintf("forward_to has refused lines since %s: %s (the files are not read further until it accepts them; nothing is lost)",
				c.sendErrAt.Format(time.RFC3339), c.sendErr)}
	}
	if c.matchProblem != "" {
		return component.Health{Health: component.HealthUnhealthy, UpdateTime: time.Now(),
			Message: fmt.Sprintf("file_match: %s (tailing %d file(s))", c.matchProblem, len(c.tailers))}
	}
	msg := fmt.Sprintf("tailing %d file(s)", len(c.tailers))
	if c.warning != "" {
		msg += "; " + c.warning
	}
	return component.Health{Health: component.HealthHealthy, Message: msg, UpdateTime: time.Now()}
}

// DebugInfo lists every tailed file with its saved offset.
type DebugInfo struct {
	Files []FileInfo `river:"file,block,optional"`
}

// FileInfo is one tailed file.
type FileInfo struct {
	Path      string `river:"path,attr"`
	Labels    string `river:"labels,attr"`
	Position  int64  `river:"position,attr"`
	LastError string `river:"last_error,attr,optional"`
}

// DebugInfo implements component.DebugComponent.
func (c *Component) DebugInfo() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var d DebugInfo
	for k, r := range c.tailers {
		off, errStr := r.t.status()
		d.Files = append(d.Files, FileInfo{Path: k.Path, Labels: k.Labels, Position: off, LastError: errStr})
	}
	sort.Slice(d.Files, func(i, j int) bool { return d.Files[i].Path < d.Files[j].Path })
	return d
}

type metrics struct {
	readBytes      *prometheus.CounterVec
	readLines      *prometheus.CounterVec
	fileBytes      *prometheus.GaugeVec
	truncatedLines *prometheus.CounterVec
	entries        prometheus.Counter
	sendErrors     prometheus.Counter
	active         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		readBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loki_source_file_read_bytes_total", Help: "Bytes read and accepted by forward_to, per file."}, []string{"path"}),
		readLines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loki_source_file_read_lines_total", Help: "Lines read and accepted by forward_to, per file."}, []string{"path"}),
		fileBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "loki_source_file_file_bytes_total", Help: "Size of each tailed file."}, []string{"path"}),
		truncatedLines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loki_source_file_truncated_lines_total", Help: "Lines longer than max_line_size, cut to it."}, []string{"path"}),
		entries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_source_file_entries_sent_total", Help: "Log entries accepted by forward_to."}),
		sendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loki_source_file_send_errors_total", Help: "Batches forward_to refused (each retried)."}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loki_source_file_files_active_total", Help: "Files being tailed."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.readBytes, m.readLines, m.fileBytes, m.truncatedLines, m.entries, m.sendErrors, m.active} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("registering loki.source.file metrics: %w", err)
		}
	}
	return m, nil
}
