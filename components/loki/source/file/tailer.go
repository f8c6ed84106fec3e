package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"

	"github.com/flow-telemetry/flow/components/common/loki"
)

// Batch bounds: a tailer sends at most this many lines, or about this many
// bytes, per Send; a batch is also what a kill -9 can duplicate.
const (
	maxBatchLines = 4096
	maxBatchBytes = 1 << 20
	readChunk     = 64 << 10
)

// tailOptions are a tailer's settings, from the component's arguments.
type tailOptions struct {
	enc         *lineEncoding
	maxLineSize int
	minPoll     time.Duration
	maxPoll     time.Duration
	tailFromEnd bool
	// onPositionsError is on_positions_file_error: what to do with a file
	// whose entry in the positions file does not parse.
	onPositionsError string
	decompress       bool
	format           string
	initialDelay     time.Duration
}

// sender hands a batch to the component's current receivers; it retries
// until they accept it or ctx ends.
type sender func(ctx context.Context, entries []loki.Entry) error

// tailer follows one file by name. It reads what is there, sends it in
// batches, and records the offset after the last line of a batch only once
// the receivers accepted the batch (at-least-once). At the end of the data
// it polls, between minPoll and maxPoll (doubling while idle), and checks the
// path: another file there (rotation by rename, or delete and re-create)
// means read the old file to its end, then start the new one from 0; a file
// shorter than the offset means it was truncated (copytruncate rotation):
// start over from 0.
//
// What a name-following tailer cannot see: a file rotated twice within one
// poll interval (the middle file is never opened, unless a glob also
// matches the rotated names), and a file truncated and re-grown past the
// old offset within one poll.
type tailer struct {
	path   string
	key    entry
	labels model.LabelSet
	pos    *positions
	send   sender
	opts   tailOptions
	m      *metrics
	logger interface {
		Warn(string, ...any)
		Info(string, ...any)
		Debug(string, ...any)
	}

	mu     sync.Mutex
	offset int64  // committed: after the last line the receivers accepted
	curID  string // identity of the file offset belongs to ("" for compressed files)
	err    string

	// watched is true when the component's directory watcher reports
	// changes to the path (then discover runs on events, not polls).
	watched bool
	wake    chan struct{}
	qmu     sync.Mutex
	queue   []*openFile // opened files, oldest (being read) first
	// finished are the last files read to their end, so neither
	// discover nor recover opens them again.
	finished []os.FileInfo
	closed   bool
}

func (t *tailer) setErr(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		t.err = ""
	} else {
		t.err = err.Error()
	}
}

// skipCorrupt reports a file not read because its positions entry is
// corrupt and on_positions_file_error is "skip".
func (t *tailer) skipCorrupt() {
	err := errors.New(`not read: its entry in the positions file is corrupt and on_positions_file_error is "skip"; fix or delete the entry and reload`)
	t.logger.Warn("file skipped", "err", err)
	t.setErr(err)
}

// lastLineEnd is the offset just after the last newline in f's first size
// bytes: where restart_from_end resumes, so that a line being written is
// read whole once it ends. It looks back at most limit bytes (max_line_size:
// a longer line would be cut anyway); with no newline there it is 0 for a
// file no longer than limit (one unfinished line) and size otherwise.
func lastLineEnd(f *os.File, size, limit int64) int64 {
	buf := make([]byte, 64<<10)
	floor := max(size-limit, 0)
	for end := size; end > floor; {
		n := min(int64(len(buf)), end-floor)
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return size
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1
		}
		end -= n
	}
	if floor > 0 {
		return size
	}
	return 0
}

func (t *tailer) status() (int64, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.offset, t.err
}

// openFile is a file the tailer opened, with its identity.
type openFile struct {
	f  *os.File
	fi os.FileInfo
}

// discover opens the file now at the path unless it is the newest one
// already opened. The directory watcher calls it the moment a file is
// created at (or renamed to) the path, so a file rotated away again before
// the tailer finished the previous one is still held open and read: fast
// rotations lose nothing. Without notifications the tailer calls it at each
// poll.
func (t *tailer) discover() {
	t.qmu.Lock()
	defer t.qmu.Unlock()
	if t.closed {
		return
	}
	fi, err := os.Stat(t.path)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	if n := len(t.queue); n > 0 && os.SameFile(t.queue[n-1].fi, fi) {
		return
	}
	for _, done := range t.finished {
		if os.SameFile(done, fi) {
			return
		}
	}
	f, err := os.Open(t.path)
	if err != nil {
		t.setErr(err)
		return
	}
	ofi, err := f.Stat()
	if err != nil {
		f.Close()
		return
	}
	if n := len(t.queue); n > 0 && os.SameFile(t.queue[n-1].fi, ofi) {
		f.Close() // replaced and replaced back between the two calls
		return
	}
	t.queue = append(t.queue, &openFile{f: f, fi: ofi})
	t.poke()
}

// recover is told that a file was renamed away from the path to name. If
// that file was never opened (it was created and rotated away again before
// discover saw it, which a busy machine makes possible within
// milliseconds), it is opened by its new name and queued in its place:
// after every older file, before the file now at the path.
func (t *tailer) recover(name string) {
	t.qmu.Lock()
	defer t.qmu.Unlock()
	if t.closed {
		return
	}
	f, err := os.Open(name)
	if err != nil {
		return
	}
	fi, err := f.Stat()
	if err != nil || t.knownLocked(fi) {
		f.Close()
		return
	}
	of := &openFile{f: f, fi: fi}
	// The newest queued file is newer than this one only if it is still
	// at the path (it arrived after this one left).
	n := len(t.queue)
	if n > 1 {
		if cur, err := os.Stat(t.path); err == nil && os.SameFile(cur, t.queue[n-1].fi) {
			t.queue = append(t.queue[:n-1], of, t.queue[n-1])
			t.poke()
			return
		}
	}
	t.queue = append(t.queue, of)
	t.poke()
}

// knownLocked reports whether fi is a file queued or already read.
func (t *tailer) knownLocked(fi os.FileInfo) bool {
	for _, of := range t.queue {
		if os.SameFile(of.fi, fi) {
			return true
		}
	}
	for _, done := range t.finished {
		if os.SameFile(done, fi) {
			return true
		}
	}
	return false
}

// poke wakes the tailer to read now.
func (t *tailer) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// head returns the oldest open file and whether a newer one is queued.
func (t *tailer) head() (*openFile, bool) {
	t.qmu.Lock()
	defer t.qmu.Unlock()
	if len(t.queue) == 0 {
		return nil, false
	}
	return t.queue[0], len(t.queue) > 1
}

// pop closes and removes the oldest open file.
func (t *tailer) pop() {
	t.qmu.Lock()
	defer t.qmu.Unlock()
	if len(t.queue) > 0 {
		t.queue[0].f.Close()
		t.finished = append(t.finished, t.queue[0].fi)
		if len(t.finished) > 64 {
			t.finished = t.finished[1:]
		}
		t.queue = t.queue[1:]
	}
}

// closeAll closes every open file; discover opens no more.
func (t *tailer) closeAll() {
	t.qmu.Lock()
	defer t.qmu.Unlock()
	for _, of := range t.queue {
		of.f.Close()
	}
	t.queue = nil
	t.closed = true
}

// wait sleeps until poked, d passes, or ctx ends (false).
func (t *tailer) wait(ctx context.Context, d time.Duration) bool {
	return sleepOrWake(ctx, d, t.wake)
}

// run tails until ctx ends.
func (t *tailer) run(ctx context.Context) {
	defer t.closeAll()
	if t.opts.decompress {
		t.runCompressed(ctx)
		return
	}
	// The first file resumes at its saved position.
	var cur *openFile
	for cur == nil {
		t.discover()
		if cur, _ = t.head(); cur != nil {
			break
		}
		if !t.wait(ctx, t.opts.maxPoll) {
			return
		}
	}
	start := int64(0)
	if off, id, ok := t.pos.get(t.key); ok {
		start = off
		if id != "" && id != fileID(cur.fi) {
			// The file the offset belongs to is no longer at the path:
			// it was rotated while flow was down. Finish it first if it
			// is still in the directory, then read the new one whole.
			if old := findFile(t.path, id); old != nil {
				t.logger.Info("the file was rotated while flow was down; finishing the rotated file first", "rotated", old.f.Name(), "position", off)
				t.qmu.Lock()
				t.queue = append([]*openFile{old}, t.queue...)
				t.qmu.Unlock()
				cur = old
			} else {
				t.logger.Info("the file was replaced while flow was down and the old one is gone; reading the new one from the start", "position", off)
				start = 0
			}
		}
		if start > cur.fi.Size() {
			t.logger.Info("file is shorter than its saved position (truncated or replaced while flow was down); reading it from the start", "position", off, "size", cur.fi.Size())
			start = 0
		}
	} else if t.pos.isCorrupt(t.key) {
		switch t.opts.onPositionsError {
		case onPositionsErrorSkip:
			t.skipCorrupt()
			return
		case onPositionsErrorRestartEnd:
			start = lastLineEnd(cur.f, cur.fi.Size(), int64(t.opts.maxLineSize))
			t.logger.Warn("the file's entry in the positions file is corrupt; reading from the end of its last line (on_positions_file_error = \"restart_from_end\")", "position", start)
		default:
			t.logger.Warn("the file's entry in the positions file is corrupt; reading it from the start (on_positions_file_error = \"restart_from_beginning\")")
		}
	} else if t.opts.tailFromEnd {
		start = cur.fi.Size()
	}
	for {
		if !t.follow(ctx, cur, start) {
			return
		}
		// The file was replaced at the path: it has been read to its
		// end; go on with the next one from its start (follow records
		// the new file's position).
		t.pop()
		start = 0
		for {
			var next bool
			if cur, next = t.head(); cur != nil {
				_ = next
				break
			}
			t.discover()
			if cur, _ = t.head(); cur != nil {
				break
			}
			if !t.wait(ctx, t.opts.maxPoll) {
				return
			}
		}
	}
}

// follow reads of from start until a newer file is queued and of is read to
// its end (true) or ctx ends (false).
func (t *tailer) follow(ctx context.Context, of *openFile, start int64) bool {
	f := of.f
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		t.setErr(err)
		return t.wait(ctx, t.opts.maxPoll) && false
	}
	enc := t.opts.enc.forFile(f)
	r := newLineReader(f, start, enc, t.opts.maxLineSize)
	t.mu.Lock()
	t.curID = fileID(of.fi)
	t.mu.Unlock()
	t.commit(start)
	poll := t.opts.minPoll
	for {
		n, err := t.drain(ctx, r, false)
		if err != nil || ctx.Err() != nil {
			return false // ctx ended while sending
		}
		if n > 0 {
			poll = t.opts.minPoll
		}
		if _, newer := t.head(); newer {
			// Whatever was written to this file before it was replaced
			// is read now, including a last line without a newline.
			if _, err := t.drain(ctx, r, true); err != nil {
				return false
			}
			return true
		}
		if !t.watched {
			t.discover()
			if _, newer := t.head(); newer {
				continue
			}
		}
		if st, err := f.Stat(); err == nil {
			t.m.fileBytes.WithLabelValues(t.path).Set(float64(st.Size()))
			if st.Size() < r.offset {
				t.logger.Info("file was truncated; reading it from the start")
				if _, err := t.drain(ctx, r, true); err != nil {
					return false
				}
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					t.setErr(err)
					return false
				}
				r = newLineReader(f, 0, enc, t.opts.maxLineSize)
				t.commit(0)
				continue
			}
		}
		if !t.wait(ctx, poll) {
			return false
		}
		poll = min(2*poll, t.opts.maxPoll)
	}
}

type fileState int

const (
	fileSame fileState = iota
	fileTruncated
	fileReplaced
	fileGone
)

func (t *tailer) check(f *os.File, offset int64) fileState {
	open, err := f.Stat()
	if err != nil {
		return fileGone
	}
	cur, err := os.Stat(t.path)
	if err != nil {
		return fileGone
	}
	if !os.SameFile(open, cur) {
		return fileReplaced
	}
	if open.Size() < offset {
		return fileTruncated
	}
	t.m.fileBytes.WithLabelValues(t.path).Set(float64(open.Size()))
	return fileSame
}

// drain reads and sends everything up to the end of the file; final also
// sends a last line that has no newline (the file is done). It returns the
// number of lines sent, or ctx's error.
func (t *tailer) drain(ctx context.Context, r *lineReader, final bool) (int, error) {
	total := 0
	var batch []loki.Entry
	batchBytes := 0
	flush := func() error {
		if len(batch) == 0 {
			if r.committable > r.committed {
				t.commit(r.committable) // only over-long lines were skipped
				r.committed = r.committable
			}
			return nil
		}
		if err := t.send(ctx, batch); err != nil {
			return err
		}
		t.m.readLines.WithLabelValues(t.path).Add(float64(len(batch)))
		t.m.readBytes.WithLabelValues(t.path).Add(float64(r.committable - r.committed))
		t.commit(r.committable)
		r.committed = r.committable
		total += len(batch)
		batch = batch[:0]
		batchBytes = 0
		return nil
	}
	for {
		line, ok, err := r.next(final)
		if err != nil {
			t.setErr(err)
			break
		}
		if !ok {
			break
		}
		if r.truncatedLast {
			t.m.truncatedLines.WithLabelValues(t.path).Inc()
		}
		batch = append(batch, loki.Entry{Labels: t.labels, Entry: push.Entry{Timestamp: time.Now(), Line: line}})
		batchBytes += len(line)
		if len(batch) >= maxBatchLines || batchBytes >= maxBatchBytes {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	if err := flush(); err != nil {
		return total, err
	}
	return total, nil
}

// commit records offset as the file's position and writes the positions
// file before the next batch is read, so a crash re-sends at most the
// batch in flight.
func (t *tailer) commit(offset int64) {
	t.mu.Lock()
	t.offset = offset
	id := t.curID
	t.mu.Unlock()
	t.pos.put(t.key, offset, id)
	if err := t.pos.sync(); err != nil {
		t.logger.Warn("writing the positions file failed; a restart may send lines again", "err", err)
	}
}

// sleep waits d; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool { return sleepOrWake(ctx, d, nil) }

// sleepOrWake waits d or until wake receives (a nil wake never does);
// false if ctx ended first.
func sleepOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
	case <-wake:
	}
	return true
}

// lineReader splits a file's bytes into lines in its encoding, tracking
// byte offsets in the file: committable is the offset after the last line
// returned (or skipped), committed the last offset the tailer saved.
type lineReader struct {
	r        io.Reader
	enc      *lineEncoding
	maxLine  int
	buf      []byte
	start    int64 // file offset of buf[0]
	offset   int64 // file offset after buf
	eof      bool
	skipping bool // inside an over-long line, discarding to its newline

	committable, committed int64
	truncatedLast          bool
	bomChecked             bool
}

func newLineReader(r io.Reader, start int64, enc *lineEncoding, maxLine int) *lineReader {
	return &lineReader{r: r, enc: enc, maxLine: maxLine, start: start, offset: start,
		committable: start, committed: start, bomChecked: start != 0}
}

// next returns the next complete line, decoded to UTF-8 without its line
// ending. ok is false when no complete line is available (at the end of the
// data); with final, a trailing partial line is returned then.
func (lr *lineReader) next(final bool) (string, bool, error) {
	lr.truncatedLast = false
	for {
		if !lr.bomChecked && (len(lr.buf) >= 4 || lr.eof) {
			if n := lr.enc.bomLen(lr.buf); n > 0 {
				lr.buf = lr.buf[n:]
				lr.start += int64(n)
				lr.committable = lr.start
			}
			lr.bomChecked = true
		}
		if i := lr.enc.indexNewline(lr.buf, lr.start); i >= 0 {
			raw := lr.buf[:i]
			consumed := i + len(lr.enc.newline)
			lr.buf = lr.buf[consumed:]
			lr.start += int64(consumed)
			lr.committable = lr.start
			if lr.skipping {
				lr.skipping = false
				continue
			}
			if len(raw) > lr.maxLine {
				raw = raw[:lr.enc.align(lr.maxLine)]
				lr.truncatedLast = true
			}
			return lr.decode(raw), true, nil
		}
		if len(lr.buf) >= lr.maxLine {
			if lr.skipping {
				// Still inside the over-long line: drop what was read.
				lr.start += int64(len(lr.buf))
				lr.committable = lr.start
				lr.buf = lr.buf[:0]
			} else {
				// An over-long line: send its first maxLine bytes and
				// skip the rest up to its newline.
				cut := lr.enc.align(lr.maxLine)
				raw := lr.buf[:cut]
				lr.start += int64(len(lr.buf))
				lr.committable = lr.start
				line := lr.decode(raw)
				lr.buf = lr.buf[:0]
				lr.skipping = true
				lr.truncatedLast = true
				return line, true, nil
			}
		}
		if lr.eof {
			lr.eof = false
			if final && len(lr.buf) > 0 && !lr.skipping {
				raw := lr.buf
				lr.start += int64(len(raw))
				lr.committable = lr.start
				lr.buf = lr.buf[:0]
				return lr.decode(raw), true, nil
			}
			return "", false, nil
		}
		if err := lr.fill(); err != nil {
			return "", false, err
		}
	}
}

func (lr *lineReader) fill() error {
	if cap(lr.buf)-len(lr.buf) < readChunk {
		nb := make([]byte, len(lr.buf), max(2*cap(lr.buf), len(lr.buf)+readChunk))
		copy(nb, lr.buf)
		lr.buf = nb
	}
	n, err := lr.r.Read(lr.buf[len(lr.buf):cap(lr.buf)])
	lr.buf = lr.buf[:len(lr.buf)+n]
	lr.offset += int64(n)
	if n == 0 || errors.Is(err, io.EOF) {
		lr.eof = true
		return nil
	}
	if err != nil && !errors.Is(err, syscall.EINTR) {
		return err
	}
	return nil
}

func (lr *lineReader) decode(raw []byte) string {
	s := lr.enc.decode(raw)
	if n := len(s); n > 0 && s[n-1] == '\r' {
		s = s[:n-1]
	}
	return s
}

// lineEncoding is how lines are found and decoded in a file's encoding:
// UTF-8 (the default), a single-byte or ASCII-compatible encoding (newline
// is 0x0A), or UTF-16 (newline is two bytes at an even offset).
type lineEncoding struct {
	name    string
	newline []byte
	unit    int // code unit size: 1, or 2 for UTF-16
	dec     *encoding.Decoder
	bom     []byte
}

func (e *lineEncoding) indexNewline(b []byte, start int64) int {
	if e.unit == 1 {
		return bytes.Index(b, e.newline)
	}
	from := 0
	for {
		i := bytes.Index(b[from:], e.newline)
		if i < 0 {
			return -1
		}
		i += from
		if (start+int64(i))%2 == 0 {
			return i
		}
		from = i + 1
	}
}

// align rounds n down to a whole code unit (and, for UTF-8, a whole rune is
// left to strings.ToValidUTF8 at decode time).
func (e *lineEncoding) align(n int) int { return n - n%e.unit }

func (e *lineEncoding) bomLen(b []byte) int {
	if len(e.bom) > 0 && bytes.HasPrefix(b, e.bom) {
		return len(e.bom)
	}
	return 0
}

func (e *lineEncoding) decode(raw []byte) string {
	if e.dec == nil {
		if utf8.Valid(raw) {
			return string(raw)
		}
		return string(bytes.ToValidUTF8(raw, []byte("\uFFFD")))
	}
	out, err := e.dec.Bytes(raw)
	if err != nil {
		return string(bytes.ToValidUTF8(raw, []byte("\uFFFD")))
	}
	return string(out)
}

// newLineEncoding returns the encoding called name (IANA names, as
// Promtail's and Alloy's `encoding`); "" is UTF-8. "UTF-16" without an
// endianness is settled per file by its byte order mark (big-endian
// without one), with forFile.
func newLineEncoding(name string) (*lineEncoding, error) {
	switch strings.ToUpper(strings.ReplaceAll(name, "_", "-")) {
	case "", "UTF-8", "UTF8":
		return &lineEncoding{name: "UTF-8", newline: []byte("\n"), unit: 1, bom: []byte{0xEF, 0xBB, 0xBF}}, nil
	case "UTF-16LE":
		return utf16Encoding(unicode.LittleEndian), nil
	case "UTF-16BE":
		return utf16Encoding(unicode.BigEndian), nil
	case "UTF-16":
		e := utf16Encoding(unicode.BigEndian)
		e.name = "UTF-16"
		return e, nil
	}
	enc, err := ianaindex.IANA.Encoding(name)
	if err != nil || enc == nil {
		return nil, fmt.Errorf("unknown encoding %q: use an IANA name such as UTF-8, UTF-16LE, ISO-8859-1 or windows-1252", name)
	}
	nl, err := enc.NewEncoder().Bytes([]byte("\n"))
	if err != nil || string(nl) != "\n" {
		return nil, fmt.Errorf("encoding %q is not supported: its newline is not the byte 0x0A", name)
	}
	return &lineEncoding{name: name, newline: []byte("\n"), unit: 1, dec: enc.NewDecoder()}, nil
}

func utf16Encoding(e unicode.Endianness) *lineEncoding {
	le := &lineEncoding{unit: 2, dec: unicode.UTF16(e, unicode.IgnoreBOM).NewDecoder()}
	if e == unicode.LittleEndian {
		le.name, le.newline, le.bom = "UTF-16LE", []byte{'\n', 0}, []byte{0xFF, 0xFE}
	} else {
		le.name, le.newline, le.bom = "UTF-16BE", []byte{0, '\n'}, []byte{0xFE, 0xFF}
	}
	return le
}

// forFile settles "UTF-16" by the file's byte order mark; other encodings
// are returned as they are. A decoder is not safe for concurrent use, so
// each file gets its own.
func (e *lineEncoding) forFile(f io.ReaderAt) *lineEncoding {
	if e.unit == 1 && e.dec == nil {
		return e
	}
	if e.name == "UTF-16" {
		var b [2]byte
		if n, _ := f.ReadAt(b[:], 0); n == 2 && b[0] == 0xFF && b[1] == 0xFE {
			return utf16Encoding(unicode.LittleEndian)
		}
		return utf16Encoding(unicode.BigEndian)
	}
	if e.unit == 2 {
		if e.name == "UTF-16LE" {
			return utf16Encoding(unicode.LittleEndian)
		}
		return utf16Encoding(unicode.BigEndian)
	}
	ne, err := newLineEncoding(e.name)
	if err != nil {
		return e
	}
	return ne
}

// maxDirScan bounds the directory entries examined to find a file rotated
// while flow was down.
const maxDirScan = 10_000

// findFile opens the regular file with identity id in path's directory, or
// returns nil.
func findFile(path, id string) *openFile {
	dir := filepath.Dir(path)
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(maxDirScan)
	for _, n := range names {
		p := filepath.Join(dir, n)
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fileID(fi) != id {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		ofi, err := f.Stat()
		if err != nil || fileID(ofi) != id {
			f.Close()
			return nil
		}
		return &openFile{f: f, fi: ofi}
	}
	return nil
}
