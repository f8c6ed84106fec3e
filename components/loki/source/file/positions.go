package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.yaml.in/yaml/v2"
)

// positionsFile is the name of the positions file in the component's data
// directory, as in Alloy.
const positionsFile = "positions.yml"

// maxPositionsBytes bounds the positions file read at start.
const maxPositionsBytes = 64 << 20

// entry keys a position: a file and the labels it is tailed with (the same
// file may be tailed twice with different labels). Labels is the label
// set's string form. This is Alloy's positions key and YAML layout.
type entry struct {
	Path   string `yaml:"path"`
	Labels string `yaml:"labels"`
}

// positionsYAML is Alloy's layout plus flow's `files` key: the identity
// (device:inode) of the file each offset belongs to, so a file rotated
// away while flow was down is found and finished (Alloy ignores the key).
type positionsYAML struct {
	Positions map[entry]string `yaml:"positions"`
	Files     map[entry]string `yaml:"files,omitempty"`
}

type legacyPositionsYAML struct {
	Positions map[string]string `yaml:"positions"`
}

// positions is the offset of every tailed file, kept in a file that is
// rewritten (to a temporary file, then renamed over) once after each batch
// of lines the receivers accepted. Writers that arrive while a write is in
// progress share the next one (group commit), so many tailers cost one
// write per round, not one each. A kill -9 loses nothing the kernel has
// (the page cache outlives the process); Close also fsyncs, for power loss
// at a clean shutdown.
type positions struct {
	path string

	mu   sync.Mutex
	cond *sync.Cond
	m    map[entry]int64
	ids  map[entry]string // file identity of each offset, where known
	// corrupt holds the entries whose offset does not parse, as written:
	// on_positions_file_error decides what their tailers do, and they are
	// written back unchanged until a tailer records a real offset.
	corrupt map[entry]string
	version uint64 // bumped by every change
	written uint64 // the version last written
	writing bool
	lastErr error
}

// openPositions reads path. A file that does not parse is moved aside (and
// reported in the returned warning) and tailing starts over: Alloy's
// default, restart_from_beginning, which duplicates rather than loses.
func openPositions(path, legacyPath string) (*positions, string, error) {
	p := &positions{path: path, m: map[entry]int64{}, ids: map[entry]string{}, corrupt: map[entry]string{}}
	p.cond = sync.NewCond(&p.mu)
	warning := ""
	b, err := readBounded(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if legacyPath != "" {
			n, err := p.importLegacy(legacyPath)
			if err != nil {
				return nil, "", err
			}
			if n > 0 {
				warning = fmt.Sprintf("imported %d position(s) from legacy_positions_file %s", n, legacyPath)
			}
		}
	case err != nil:
		return nil, "", fmt.Errorf("reading positions file: %w", err)
	default:
		var f positionsYAML
		if err := yaml.Unmarshal(b, &f); err != nil {
			aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
			_ = os.Rename(path, aside)
			warning = fmt.Sprintf("positions file %s is not valid YAML (%v); moved it to %s and started every file over", path, err, aside)
			break
		}
		for k, v := range f.Positions {
			off, err := strconv.ParseInt(v, 10, 64)
			if err != nil || off < 0 {
				p.corrupt[k] = v
				continue
			}
			p.m[k] = off
			if id := f.Files[k]; id != "" {
				p.ids[k] = id
			}
		}
	}
	return p, warning, nil
}

// importLegacy reads a Promtail or Grafana Agent positions file
// (`positions: {path: offset}`), which keys by path only: its entries get
// the labels "{}", which get falls back to.
func (p *positions) importLegacy(path string) (int, error) {
	b, err := readBounded(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		// An unreadable legacy file must not silently restart every file
		// from the beginning (Alloy #5493).
		return 0, fmt.Errorf("legacy_positions_file %s exists but cannot be read: %w", path, err)
	}
	var f legacyPositionsYAML
	if err := yaml.Unmarshal(b, &f); err != nil {
		return 0, fmt.Errorf("legacy_positions_file %s is not a Promtail positions file: %w", path, err)
	}
	n := 0
	for k, v := range f.Positions {
		off, err := strconv.ParseInt(v, 10, 64)
		if err != nil || off < 0 {
			continue
		}
		p.m[entry{Path: k, Labels: "{}"}] = off
		n++
	}
	if n > 0 {
		p.version++
	}
	return n, nil
}

func readBounded(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxPositionsBytes {
		return nil, fmt.Errorf("%s is %d bytes, more than %d", path, fi.Size(), maxPositionsBytes)
	}
	return os.ReadFile(path)
}

// get returns the saved offset of k and the identity of the file it
// belongs to ("" if unknown), falling back to a legacy entry for the same
// path.
func (p *positions) get(k entry) (int64, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if off, ok := p.m[k]; ok {
		return off, p.ids[k], true
	}
	off, ok := p.m[entry{Path: k.Path, Labels: "{}"}]
	return off, "", ok
}

// isCorrupt reports whether k's saved offset was there but did not parse.
func (p *positions) isCorrupt(k entry) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.corrupt[k]
	return ok
}

func (p *positions) put(k entry, off int64, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.corrupt[k]; ok {
		delete(p.corrupt, k)
		p.version++
	}
	if old, ok := p.m[k]; ok && old == off && p.ids[k] == id {
		return
	}
	p.m[k] = off
	if id != "" {
		p.ids[k] = id
	} else {
		delete(p.ids, k)
	}
	// A legacy entry (labels "{}") is superseded by the first real one;
	// a target without public labels has the key "{}" itself.
	if k.Labels != "{}" {
		delete(p.m, entry{Path: k.Path, Labels: "{}"})
	}
	p.version++
}

func (p *positions) remove(k entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.corrupt[k]; ok {
		delete(p.corrupt, k)
		p.version++
	}
	if _, ok := p.m[k]; ok {
		delete(p.m, k)
		delete(p.ids, k)
		p.version++
	}
}

// sync returns once every change made before the call is in the file.
func (p *positions) sync() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	want := p.version
	for p.written < want {
		if !p.writing {
			p.writing = true
			v := p.version
			snap, ids := p.snapshotLocked()
			p.mu.Unlock()
			err := writePositions(p.path, snap, ids, false)
			p.mu.Lock()
			p.writing = false
			p.lastErr = err
			if err == nil {
				p.written = v
			}
			p.cond.Broadcast()
			if err != nil {
				return err
			}
			continue
		}
		p.cond.Wait()
		if p.lastErr != nil && p.written < want && !p.writing {
			return p.lastErr
		}
	}
	return nil
}

// close writes the positions one last time, with an fsync.
func (p *positions) close() error {
	p.mu.Lock()
	for p.writing {
		p.cond.Wait()
	}
	snap, ids := p.snapshotLocked()
	p.written = p.version
	p.mu.Unlock()
	return writePositions(p.path, snap, ids, true)
}

func (p *positions) snapshotLocked() (map[entry]string, map[entry]string) {
	snap := make(map[entry]string, len(p.m)+len(p.corrupt))
	for k, v := range p.corrupt {
		snap[k] = v
	}
	for k, off := range p.m {
		snap[k] = strconv.FormatInt(off, 10)
	}
	ids := make(map[entry]string, len(p.ids))
	for k, id := range p.ids {
		ids[k] = id
	}
	return snap, ids
}

func writePositions(path string, m, ids map[entry]string, fsync bool) error {
	b, err := yaml.Marshal(positionsYAML{Positions: m, Files: ids})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if fsync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if fsync {
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return nil
}
