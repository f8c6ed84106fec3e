// Package file_match is the local.file_match component (Alloy's name and
// arguments): it expands the `__path__` glob of each target into one target
// per matching file, re-scanning every sync_period, and exports them for
// loki.source.file.
//
// Globs are doublestar's (`**` matches any number of directories, `{a,b}`
// alternatives). `__path_exclude__` is a glob of files to leave out.
// Directories never match. With ignore_older_than, files not modified for
// that long are left out. A scan is bounded: at most maxFiles files per
// target (more are reported on the component's health), so a glob such as
// /** cannot exhaust memory.
package file_match

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/flow-telemetry/flow/components/common/relabel"
	"github.com/flow-telemetry/flow/runtime/component"
)

func init() {
	component.Register(component.Registration{
		Name:       "local.file_match",
		Args:       Arguments{},
		Exports:    Exports{},
		NoDataPath: true,
		Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
			return New(opts, args.(Arguments))
		},
	})
}

const (
	pathLabel        = "__path__"
	pathExcludeLabel = "__path_exclude__"
	// maxFiles bounds the files one target's glob may match.
	maxFiles = 100_000
)

// Arguments are Alloy's local.file_match arguments.
type Arguments struct {
	PathTargets     []map[string]string `river:"path_targets,attr"`
	SyncPeriod      time.Duration       `river:"sync_period,attr,optional"`
	IgnoreOlderThan time.Duration       `river:"ignore_older_than,attr,optional"`
}

// SetToDefault sets sync_period to 10s.
func (a *Arguments) SetToDefault() { *a = Arguments{SyncPeriod: 10 * time.Second} }

// Validate checks the arguments.
func (a *Arguments) Validate() error {
	if a.SyncPeriod <= 0 {
		return fmt.Errorf("sync_period must be positive, got %s", a.SyncPeriod)
	}
	if a.IgnoreOlderThan < 0 {
		return fmt.Errorf("ignore_older_than must not be negative, got %s", a.IgnoreOlderThan)
	}
	for i, t := range a.PathTargets {
		p, ok := t[pathLabel]
		if !ok || p == "" {
			continue // such targets are skipped, as in Alloy
		}
		if !doublestar.ValidatePathPattern(p) {
			return fmt.Errorf("path_targets[%d]: __path__ %q is not a valid glob", i, p)
		}
		if ex := t[pathExcludeLabel]; ex != "" && !doublestar.ValidatePathPattern(ex) {
			return fmt.Errorf("path_targets[%d]: __path_exclude__ %q is not a valid glob", i, ex)
		}
	}
	return nil
}

// Exports are the file targets.
type Exports struct {
	Targets []map[string]string `river:"targets,attr"`
}

// Component is a running local.file_match.
type Component struct {
	opts component.Options

	mu      sync.Mutex
	args    Arguments
	last    []map[string]string
	health  component.Health
	changed chan struct{}
}

var _ component.HealthComponent = (*Component)(nil)

// New scans once and publishes the first targets.
func New(opts component.Options, args Arguments) (*Component, error) {
	c := &Component{opts: opts, args: args, changed: make(chan struct{}, 1)}
	c.scan()
	return c, nil
}

// Run re-scans every sync_period and on Update.
func (c *Component) Run(ctx context.Context) error {
	for {
		c.mu.Lock()
		period := c.args.SyncPeriod
		c.mu.Unlock()
		t := time.NewTimer(period)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-c.changed:
			t.Stop()
		}
		c.scan()
	}
}

// Update applies new arguments and re-scans at once.
func (c *Component) Update(args component.Arguments) error {
	c.mu.Lock()
	c.args = args.(Arguments)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return nil
}

// CurrentHealth reports scan problems (a glob matching too many files, an
// unreadable directory).
func (c *Component) CurrentHealth() component.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health
}

func (c *Component) scan() {
	c.mu.Lock()
	args := c.args
	c.mu.Unlock()
	targets, problem := Expand(args.PathTargets, args.IgnoreOlderThan, time.Now())
	h := component.Health{Health: component.HealthHealthy, Message: fmt.Sprintf("%d file(s) matched", len(targets)), UpdateTime: time.Now()}
	if problem != "" {
		h = component.Health{Health: component.HealthUnhealthy, Message: problem, UpdateTime: time.Now()}
		c.opts.Logger.Warn("file_match: " + problem)
	}
	c.mu.Lock()
	c.health = h
	same := reflect.DeepEqual(targets, c.last)
	c.last = targets
	c.mu.Unlock()
	if !same {
		c.opts.OnStateChange(Exports{Targets: targets})
		relabel.PublishTargets(c.opts.Live(), targets)
	}
}

// Expand returns one target per file matched by each target's __path__,
// sorted by path then labels, and a description of the first problem met.
func Expand(pathTargets []map[string]string, ignoreOlderThan time.Duration, now time.Time) ([]map[string]string, string) {
	out := []map[string]string{}
	problem := ""
	seen := map[string]bool{}
	for _, t := range pathTargets {
		pattern := t[pathLabel]
		if pattern == "" {
			continue
		}
		exclude := t[pathExcludeLabel]
		matches, err := glob(pattern)
		if err != nil && problem == "" {
			problem = fmt.Sprintf("__path__ %q: %v", pattern, err)
		}
		if len(matches) > maxFiles {
			if problem == "" {
				problem = fmt.Sprintf("__path__ %q matches %d files; only the first %d are tailed", pattern, len(matches), maxFiles)
			}
			matches = matches[:maxFiles]
		}
		for _, m := range matches {
			if exclude != "" {
				if ok, _ := doublestar.PathMatch(exclude, m); ok {
					continue
				}
			}
			fi, err := os.Stat(m)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if ignoreOlderThan > 0 && fi.ModTime().Before(now.Add(-ignoreOlderThan)) {
				continue
			}
			nt := make(map[string]string, len(t))
			for k, v := range t {
				if k != pathExcludeLabel {
					nt[k] = v
				}
			}
			nt[pathLabel] = m
			key := fmt.Sprint(nt)
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, nt)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i][pathLabel] < out[j][pathLabel] })
	return out, problem
}

// glob expands pattern, stopping after maxFiles+1 matches so a pattern
// such as /** cannot exhaust memory. Unreadable directories are skipped.
func glob(pattern string) ([]string, error) {
	pattern = filepath.Clean(pattern)
	if !filepath.IsAbs(pattern) {
		return doublestar.FilepathGlob(pattern, doublestar.WithFilesOnly())
	}
	var out []string
	err := doublestar.GlobWalk(os.DirFS("/"), strings.TrimLeft(filepath.ToSlash(pattern), "/"), func(p string, d fs.DirEntry) error {
		if d.IsDir() {
			return nil
		}
		out = append(out, "/"+p)
		if len(out) > maxFiles {
			return fs.SkipAll
		}
		return nil
	})
	return out, err
}
