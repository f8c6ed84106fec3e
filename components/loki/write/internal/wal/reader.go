package wal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"
)

// Reader reads records in order from a position, waiting for new ones.
// A Reader is used by one goroutine.
type Reader struct {
	w   *WAL
	pos Position
	f   *os.File
	// size is the size of f once it is known to be a finished segment, -1
	// before; it lets the reader step to the next segment right after the
	// last record, so the position it reports is past the finished segment.
	size int64
	hdr  [HeaderSize]byte
	buf  []byte
	// OnCorrupt is called when the rest of a segment is skipped because a
	// record is torn or corrupt (expected once after a crash).
	OnCorrupt func(at Position, err error)
}

// NewReader returns a reader starting at from.
func (w *WAL) NewReader(from Position) *Reader {
	return &Reader{w: w, pos: from, size: -1}
}

// Position is where the next record will be read from.
func (r *Reader) Position() Position { return r.pos }

// Seek moves the reader, for example back to an endpoint's committed
// position when a batch it read could not be delivered.
func (r *Reader) Seek(p Position) {
	if p.Segment != r.pos.Segment {
		r.closeFile()
	}
	r.pos = p
}

// Close releases the reader's file.
func (r *Reader) Close() { r.closeFile() }

func (r *Reader) closeFile() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	r.size = -1
}

var (
	// errSegmentEnd means the reader reached the end of an older segment.
	errSegmentEnd = errors.New("end of segment")
	// errSkipped means the reader skipped damaged bytes and should go on.
	errSkipped = errors.New("skipped damaged records")
)

// Next returns the next record's payload (valid until the next call) and the
// position after it. It waits for a durable record until deadline (zero: no
// deadline) and then returns ok == false; it returns ctx's error when ctx
// ends and ErrClosed once the WAL is closed.
func (r *Reader) Next(ctx context.Context, deadline time.Time) (payload []byte, end Position, ok bool, err error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		r.w.mu.Lock()
		durable, notify, closed := r.w.durable, r.w.notify, r.w.closed
		r.w.mu.Unlock()
		if closed {
			return nil, r.pos, false, ErrClosed
		}
		if r.pos.Before(durable) {
			limit := int64(-1) // an older segment: read until its end
			if r.pos.Segment == durable.Segment {
				limit = durable.Offset
			}
			rec, err := r.read(limit)
			switch {
			case err == nil:
				if limit < 0 && r.size >= 0 && r.pos.Offset >= r.size {
					r.closeFile()
					r.pos = Position{Segment: r.w.nextSegment(r.pos.Segment)}
				}
				return rec, r.pos, true, nil
			case errors.Is(err, errSegmentEnd):
				r.closeFile()
				r.pos = Position{Segment: r.w.nextSegment(r.pos.Segment)}
				continue
			case errors.Is(err, errSkipped):
				continue
			default:
				return nil, r.pos, false, err
			}
		}
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return nil, r.pos, false, nil
			}
			if timer == nil {
				timer = time.NewTimer(d)
			}
		}
		var timeout <-chan time.Time
		if timer != nil {
			timeout = timer.C
		}
		select {
		case <-ctx.Done():
			return nil, r.pos, false, ctx.Err()
		case <-notify:
		case <-timeout:
			return nil, r.pos, false, nil
		}
	}
}

// read reads the record at r.pos. limit is the durable end of the current
// segment, or -1 for an older segment.
func (r *Reader) read(limit int64) ([]byte, error) {
	if r.f == nil {
		f, err := os.Open(r.w.segmentPath(r.pos.Segment))
		if errors.Is(err, os.ErrNotExist) && limit < 0 {
			return nil, errSegmentEnd // deleted or never synced: skip it
		}
		if err != nil {
			return nil, fmt.Errorf("opening WAL segment: %w", err)
		}
		r.f = f
	}
	if limit < 0 && r.size < 0 {
		// A finished segment never changes again.
		if fi, err := r.f.Stat(); err == nil {
			r.size = fi.Size()
		}
	}
	corrupt := func(why string) ([]byte, error) {
		if limit >= 0 {
			// Inside the durable part of the current segment nothing can be
			// torn; this is damage to the file. Skip to the durable end so
			// the endpoint keeps going, and say so.
			err := fmt.Errorf("WAL segment %d damaged at offset %d: %s", r.pos.Segment, r.pos.Offset, why)
			if r.OnCorrupt != nil {
				r.OnCorrupt(r.pos, err)
			}
			r.pos.Offset = limit
			return nil, errSkipped
		}
		if r.OnCorrupt != nil {
			r.OnCorrupt(r.pos, fmt.Errorf("WAL segment %d ends with a torn or corrupt record at offset %d (%s); skipping the rest of it", r.pos.Segment, r.pos.Offset, why))
		}
		return nil, errSegmentEnd
	}
	n, err := r.f.ReadAt(r.hdr[:], r.pos.Offset)
	if n == 0 && errors.Is(err, io.EOF) && limit < 0 {
		return nil, errSegmentEnd // clean end
	}
	if n < HeaderSize {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("reading WAL segment %d: %w", r.pos.Segment, err)
		}
		return corrupt("short header")
	}
	size := int64(binary.LittleEndian.Uint32(r.hdr[0:4]))
	sum := binary.LittleEndian.Uint32(r.hdr[4:8])
	if size == 0 || size > MaxRecordSize {
		return corrupt(fmt.Sprintf("invalid record length %d", size))
	}
	if limit >= 0 && r.pos.Offset+HeaderSize+size > limit {
		return corrupt("record extends past the durable end")
	}
	if int64(cap(r.buf)) < size {
		r.buf = make([]byte, size)
	}
	buf := r.buf[:size]
	n, err = r.f.ReadAt(buf, r.pos.Offset+HeaderSize)
	if int64(n) < size {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("reading WAL segment %d: %w", r.pos.Segment, err)
		}
		return corrupt("short record")
	}
	if crc32.Checksum(buf, castagnoli) != sum {
		return corrupt("checksum mismatch")
	}
	r.pos.Offset += HeaderSize + size
	// A large one-off record should not pin its buffer forever.
	if cap(r.buf) > 4<<20 && size < 1<<20 {
		r.buf = nil
	}
	return buf, nil
}
