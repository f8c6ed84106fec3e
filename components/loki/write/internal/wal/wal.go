// Package wal is loki.write's write-ahead log: append-only segment files of
// length-prefixed, CRC-checked records, fsynced before Append returns (with
// concurrent appenders sharing one fsync), read back by one Reader per
// endpoint from that endpoint's committed Position.
//
// On disk a record is an 8-byte header, the payload's length and its CRC-32C
// (both little-endian uint32), then the payload. Segments are named
// 00000001.wal, 00000002.wal, …; every Open starts a new segment, so a segment
// torn by a crash (kill -9, power loss) is never appended to: readers treat a
// short or corrupt record at the end of an older segment as its end.
package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HeaderSize is the size of a record header. Append takes a buffer whose
// first HeaderSize bytes are reserved for it, so that framing a record costs
// no copy.
const HeaderSize = 8

// MaxRecordSize bounds a payload, so a corrupt length can never make a reader
// allocate gigabytes.
const MaxRecordSize = 256 << 20

// DefaultSegmentSize is when a segment is closed and a new one started.
const DefaultSegmentSize = 64 << 20

const segmentSuffix = ".wal"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Position is a place in the log: a segment and a byte offset in it.
type Position struct {
	Segment uint64 `json:"segment"`
	Offset  int64  `json:"offset"`
}

// Before reports whether p comes before q.
func (p Position) Before(q Position) bool {
	return p.Segment < q.Segment || (p.Segment == q.Segment && p.Offset < q.Offset)
}

func (p Position) String() string { return fmt.Sprintf("%08d:%d", p.Segment, p.Offset) }

// Options configure a WAL.
type Options struct {
	Dir         string
	SegmentSize int64 // 0 means DefaultSegmentSize
	// MaxSegmentAge starts a new segment at the first append after the
	// current one has held records this long (0: only SegmentSize cuts), so
	// that a slow stream's delivered entries can be deleted, a whole segment
	// at a time, within about this age.
	MaxSegmentAge time.Duration
	Logger        *slog.Logger
}

// WAL is an open write-ahead log.
type WAL struct {
	dir     string
	segSize int64
	maxAge  time.Duration
	log     *slog.Logger
	now     func() time.Time // the clock; tests replace it

	// syncMu is held for an fsync and for a segment roll, so a file is never
	// closed under a running fsync. Lock order: syncMu, then mu.
	syncMu sync.Mutex

	mu  sync.Mutex
	f   *os.File
	seg uint64
	off int64 // bytes written to the current segment
	// firstAt is when the current segment got its first record.
	firstAt  time.Time
	durable  Position
	notify   chan struct{} // closed and replaced when durable advances
	segments []uint64      // existing segments, ascending
	// sizes holds the size of every finished segment, so that backlog
	// sizes are computed without touching the disk.
	sizes map[uint64]int64
	// err is set when a write or fsync failed: the current segment can no
	// longer be trusted, and the next Append starts a new one.
	err error
	// gen counts failures; an appender whose write happened in an older
	// generation must report failure even if a later segment synced.
	gen    uint64
	closed bool
	syncs  int64 // fsyncs of appended records, for Stats
}

// Open opens (creating if needed) the log in opts.Dir and starts a new segment.
func Open(opts Options) (*WAL, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating WAL directory: %w", err)
	}
	segs, err := listSegments(opts.Dir)
	if err != nil {
		return nil, err
	}
	w := &WAL{dir: opts.Dir, segSize: opts.SegmentSize, maxAge: opts.MaxSegmentAge, log: opts.Logger,
		now: time.Now, segments: segs, notify: make(chan struct{}), sizes: map[uint64]int64{}}
	for _, s := range segs {
		if fi, err := os.Stat(w.segmentPath(s)); err == nil {
			w.sizes[s] = fi.Size()
		}
	}
	next := uint64(1)
	if len(segs) > 0 {
		next = segs[len(segs)-1] + 1
	}
	if err := w.createSegment(next); err != nil {
		return nil, err
	}
	return w, nil
}

func listSegments(dir string) ([]uint64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing WAL directory: %w", err)
	}
	var segs []uint64
	for _, de := range des {
		name, ok := strings.CutSuffix(de.Name(), segmentSuffix)
		if !ok || de.IsDir() {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil || n == 0 {
			continue
		}
		segs = append(segs, n)
	}
	slices.Sort(segs)
	return segs, nil
}

func (w *WAL) segmentPath(n uint64) string {
	return filepath.Join(w.dir, fmt.Sprintf("%08d%s", n, segmentSuffix))
}

// createSegment makes segment n current. Callers hold mu (or own w alone).
func (w *WAL) createSegment(n uint64) error {
	f, err := os.OpenFile(w.segmentPath(n), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("creating WAL segment: %w", err)
	}
	// The directory entry must be durable too, or a crash could lose a
	// segment whose records were acknowledged.
	if err := syncDir(w.dir); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	w.f, w.seg, w.off = f, n, 0
	w.segments = append(w.segments, n)
	w.setDurable(Position{Segment: n})
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing WAL directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing WAL directory: %w", err)
	}
	return nil
}

// setDurable advances the durable position and wakes readers. Callers hold mu.
func (w *WAL) setDurable(p Position) {
	if w.durable.Before(p) {
		w.durable = p
		close(w.notify)
		w.notify = make(chan struct{})
	}
}

// ErrClosed is returned by a closed WAL.
var ErrClosed = errors.New("WAL is closed")

// Append writes rec[HeaderSize:] as one record and returns once it is on
// disk (fsynced). rec[:HeaderSize] is overwritten with the header. Concurrent
// appenders share fsyncs.
func (w *WAL) Append(rec []byte) error {
	return w.AppendFunc(rec, nil)
}

// AppendFunc is Append that also calls written, if not nil, with the
// record's start and end once it is written and before it is synced, in
// the order records are written (under the WAL's lock: written must be
// quick and must not call the WAL).
func (w *WAL) AppendFunc(rec []byte, written func(start, end Position)) error {
	p, err := w.Write(rec, written)
	if err != nil {
		return err
	}
	return w.WaitDurable(p)
}

// Pending is a record written to the current segment and not yet known to
// be durable.
type Pending struct {
	end Position
	gen uint64
}

// Write is AppendFunc without the wait for the fsync: it returns once rec
// is written (to the page cache), after which the caller may reuse rec.
// The record is durable, and may be acknowledged, only once WaitDurable(p)
// returns nil. Waiting apart lets an appender give back its record's
// buffer during the fsync, which is most of an append's time: appenders
// waiting on a shared fsync then hold no buffer each.
func (w *WAL) Write(rec []byte, written func(start, end Position)) (Pending, error) {
	n := len(rec) - HeaderSize
	if n <= 0 {
		return Pending{}, errors.New("WAL: empty record")
	}
	if n > MaxRecordSize {
		return Pending{}, fmt.Errorf("WAL: record of %d bytes exceeds the %d byte limit; send fewer entries at once", n, MaxRecordSize)
	}
	payload := rec[HeaderSize:]
	binary.LittleEndian.PutUint32(rec[0:4], uint32(n))
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(payload, castagnoli))

	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return Pending{}, ErrClosed
	}
	if w.err != nil || w.full(int64(len(rec))) {
		w.mu.Unlock()
		if err := w.roll(int64(len(rec))); err != nil {
			return Pending{}, err
		}
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return Pending{}, ErrClosed
		}
	}
	if _, err := w.f.Write(rec); err != nil {
		w.fail(err)
		w.mu.Unlock()
		return Pending{}, fmt.Errorf("writing WAL segment %s: %w", w.f.Name(), err)
	}
	if w.off == 0 {
		w.firstAt = w.now()
	}
	start := Position{Segment: w.seg, Offset: w.off}
	w.off += int64(len(rec))
	end, gen := Position{Segment: w.seg, Offset: w.off}, w.gen
	if written != nil {
		written(start, end)
	}
	w.mu.Unlock()
	return Pending{end: end, gen: gen}, nil
}

// WaitDurable returns once the record Write returned p for is durable
// (fsynced), or with an error if it cannot be: then it must not be
// acknowledged.
func (w *WAL) WaitDurable(p Pending) error {
	return w.syncTo(p.end, p.gen)
}

// fail marks the current segment untrustworthy. Callers hold mu.
func (w *WAL) fail(err error) {
	w.err = err
	w.gen++
	w.log.Error("WAL write failed; starting a new segment on the next append", "segment", w.seg, "err", err)
}

// syncTo returns once end is durable. The first appender to get syncMu syncs
// everything written so far; the others find their records already covered.
func (w *WAL) syncTo(end Position, gen uint64) error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	if w.gen != gen {
		err := w.err
		w.mu.Unlock()
		if err == nil {
			err = errors.New("an earlier write failed")
		}
		return fmt.Errorf("WAL record not made durable: %w", err)
	}
	if !w.durable.Before(end) {
		w.mu.Unlock()
		return nil
	}
	f, target := w.f, Position{Segment: w.seg, Offset: w.off}
	w.mu.Unlock()

	err := f.Sync()

	w.mu.Lock()
	defer w.mu.Unlock()
	w.syncs++
	if err != nil {
		w.fail(err)
		return fmt.Errorf("syncing WAL segment %s: %w", f.Name(), err)
	}
	w.setDurable(target)
	return nil
}

// roll closes the current segment and starts the next one, if a record of
// need bytes does not fit or the current one failed.
func (w *WAL) roll(need int64) error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if w.err == nil && !w.full(need) {
		return nil // another appender rolled already
	}
	if w.err == nil {
		if err := w.f.Sync(); err != nil {
			w.fail(err)
			return fmt.Errorf("syncing WAL segment %s: %w", w.f.Name(), err)
		}
	}
	w.f.Close()
	w.sizes[w.seg] = w.off
	if err := w.createSegment(w.seg + 1); err != nil {
		// Keep w.err set so that the next Append tries again.
		if w.err == nil {
			w.fail(err)
		}
		return err
	}
	w.err = nil
	return nil
}

// full reports whether a record of need bytes must go to a new segment:
// the current one has records and is too big for it, or too old. Callers
// hold mu.
func (w *WAL) full(need int64) bool {
	if w.off == 0 {
		return false
	}
	return w.off+need > w.segSize || (w.maxAge > 0 && w.now().Sub(w.firstAt) >= w.maxAge)
}

// Durable returns the end of the durable log.
func (w *WAL) Durable() Position {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.durable
}

// First returns the start of the oldest segment.
func (w *WAL) First() Position {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Position{Segment: w.segments[0]}
}

// nextSegment returns the first existing segment after n (or the current one).
func (w *WAL) nextSegment(n uint64) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	i, found := slices.BinarySearch(w.segments, n+1)
	_ = found
	if i < len(w.segments) {
		return w.segments[i]
	}
	return w.seg
}

// Truncate deletes every segment before segment before, except the current
// one. It returns the number of segments deleted.
func (w *WAL) Truncate(before uint64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var keep []uint64
	deleted := 0
	var firstErr error
	for _, s := range w.segments {
		if s >= before || s == w.seg {
			keep = append(keep, s)
			continue
		}
		if err := os.Remove(w.segmentPath(s)); err != nil && !errors.Is(err, os.ErrNotExist) {
			keep = append(keep, s)
			if firstErr == nil {
				firstErr = fmt.Errorf("deleting WAL segment: %w", err)
			}
			continue
		}
		delete(w.sizes, s)
		deleted++
	}
	w.segments = keep
	return deleted, firstErr
}

// SegmentTimes returns the modification time of each finished segment, by
// segment: records in a segment were written after its predecessor's time
// and before its own.
func (w *WAL) SegmentTimes() map[uint64]time.Time {
	w.mu.Lock()
	segs := slices.Clone(w.segments)
	cur := w.seg
	w.mu.Unlock()
	out := map[uint64]time.Time{}
	for _, s := range segs {
		if s == cur {
			continue
		}
		if fi, err := os.Stat(w.segmentPath(s)); err == nil {
			out[s] = fi.ModTime()
		}
	}
	return out
}

// Stats describe the log on disk.
type Stats struct {
	Segments int
	Current  uint64
	// Syncs counts the fsyncs made for appends: with group commit, one
	// covers every record written while the previous one ran.
	Syncs int64
}

// Stats returns the number of segments and the current one.
func (w *WAL) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Stats{Segments: len(w.segments), Current: w.seg, Syncs: w.syncs}
}

// SizeBetween returns the bytes of log between from and to (the backlog
// of a reader at from), from sizes kept in memory.
func (w *WAL) SizeBetween(from, to Position) int64 {
	if !from.Before(to) {
		return 0
	}
	if from.Segment == to.Segment {
		return to.Offset - from.Offset
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var n int64
	for _, s := range w.segments {
		switch {
		case s < from.Segment || s > to.Segment:
		case s == to.Segment:
			n += to.Offset
		default:
			n += w.sizes[s]
			if s == from.Segment {
				n -= from.Offset
			}
		}
	}
	return max(n, 0)
}

// Close syncs and closes the current segment. Readers waiting for records
// are woken and get ErrClosed.
func (w *WAL) Close() error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	var err error
	if w.err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	close(w.notify)
	w.notify = make(chan struct{})
	return err
}
