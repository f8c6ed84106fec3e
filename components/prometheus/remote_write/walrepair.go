package remotewrite

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/prometheus/prometheus/tsdb/record"
	"github.com/prometheus/prometheus/tsdb/wlog"
)

// WAL repair: damage is cut out where it is, never by deleting what follows.
//
// Prometheus' WAL (tsdb/wlog) writes records in 32 KiB pages. A write that
// fails part-way (ENOSPC) or a process killed mid-write leaves a torn record:
// part of a record, or its first fragments without the last. Prometheus'
// own repair (wlog.WL.Repair, run by wal.Open when reading the WAL fails)
// keeps the records before the damage and deletes everything after it: the
// rest of the segment and every later segment. After a full disk that
// deleted every sample committed after space returned. It also rewrites the
// damaged segment into a copy first, which needs as much free space as the
// segment on a disk that has just been full.
//
// flow repairs before Prometheus reads, in place, needing no free space:
//   - a torn tail (damage with no valid record after it in the segment) is
//     truncated away: it is the record whose write failed or was cut by a
//     crash, which was never acknowledged;
//   - damage followed by valid records (a WAL written by an older flow, which
//     kept writing after a failed write, or damage on disk) is overwritten
//     with zeros up to the next page where a valid record starts. Zeros are
//     the WAL's own padding, so every reader skips them; the valid records
//     after the damage stay.
//
// What a repair removes is counted (non-zero bytes) and reported in the logs
// and the component's health. Zero bytes (padding cut short) are not data
// and are left alone.

// walPageSize is the WAL's page size, a constant of its on-disk format
// (Prometheus' tsdb/docs/format/wal.md; wlog.pageSize is unexported).
const walPageSize = 32 << 10

// segmentDamage is one damaged region a repair removed.
type segmentDamage struct {
	Segment int
	Offset  int64 // where the damage starts
	End     int64 // where it ends (the segment's size for a torn tail)
	Dropped int64 // non-zero bytes removed
	Tail    bool  // truncated (nothing valid after it in the segment)
	Cause   string
}

func (d segmentDamage) String() string {
	if d.Tail {
		return fmt.Sprintf("segment %d: %d bytes of a torn record at offset %d (%s)", d.Segment, d.Dropped, d.Offset, d.Cause)
	}
	return fmt.Sprintf("segment %d: %d bytes of damaged records at offsets %d-%d, valid records after them kept (%s)", d.Segment, d.Dropped, d.Offset, d.End, d.Cause)
}

// repairReport is what one repair of a WAL directory did.
type repairReport struct {
	Damage []segmentDamage
}

func (r repairReport) dropped() int64 {
	var n int64
	for _, d := range r.Damage {
		n += d.Dropped
	}
	return n
}

// midSegment reports whether some damage had valid records after it: that
// was not a torn final write, so it may have held acknowledged samples.
func (r repairReport) midSegment() bool {
	for _, d := range r.Damage {
		if !d.Tail {
			return true
		}
	}
	return false
}

func (r repairReport) String() string {
	parts := make([]string, len(r.Damage))
	for i, d := range r.Damage {
		parts[i] = d.String()
	}
	return strings.Join(parts, "; ")
}

// repairWAL repairs every segment of the WAL in dir that Prometheus reads at
// start-up (those after the last checkpoint) from segment from on. It must
// run while no one writes the WAL.
func repairWAL(dir string, from int) (repairReport, error) {
	var rep repairReport
	first, last, err := wlog.Segments(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return rep, nil
		}
		return rep, err
	}
	if first < 0 {
		return rep, nil
	}
	_, cpIdx, err := wlog.LastCheckpoint(dir)
	switch {
	case err == nil:
		first = max(first, cpIdx+1)
	case errors.Is(err, record.ErrNotFound):
	default:
		return rep, err
	}
	for s := max(first, from); s <= last; s++ {
		damage, err := inspectSegment(wlog.SegmentName(dir, s), s, true)
		rep.Damage = append(rep.Damage, damage...)
		if err != nil {
			return rep, fmt.Errorf("repairing WAL segment %d: %w", s, err)
		}
	}
	return rep, nil
}

// inspectSegment finds the damage in one segment file and, if fix is set,
// removes it (see above).
func inspectSegment(path string, seg int, fix bool) ([]segmentDamage, error) {
	flag := os.O_RDONLY
	if fix {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	var out []segmentDamage
	pos := int64(0)
	for pos < size {
		good, cause := scanValid(f, pos, size)
		if cause == nil {
			return out, nil
		}
		// Damage starts at good. Find the next page where a valid record
		// starts.
		resume := int64(-1)
		for p := (good/walPageSize + 1) * walPageSize; p < size; p += walPageSize {
			if startsValid(f, p, size) {
				resume = p
				break
			}
		}
		end := size
		if resume >= 0 {
			end = resume
		}
		dropped, err := nonZero(f, good, end)
		if err != nil {
			return out, err
		}
		if dropped == 0 {
			// Padding cut short: nothing to remove.
			if resume < 0 {
				return out, nil
			}
			pos = resume
			continue
		}
		d := segmentDamage{Segment: seg, Offset: good, End: end, Dropped: dropped, Tail: resume < 0, Cause: cause.Error()}
		out = append(out, d)
		if fix {
			if err := removeDamage(f, d); err != nil {
				return out, err
			}
		}
		if resume < 0 {
			return out, nil
		}
		pos = resume
	}
	return out, nil
}

// removeDamage truncates a torn tail or zeroes damage that valid records
// follow, and syncs the file.
func removeDamage(f *os.File, d segmentDamage) error {
	var err error
	if d.Tail {
		err = f.Truncate(d.Offset)
	} else {
		err = zero(f, d.Offset, d.End)
	}
	if err != nil {
		return err
	}
	return f.Sync()
}

// scanValid reads records from offset from (a page boundary or the end of a
// valid record) and returns the end of the last valid one, and why reading
// stopped if not at a clean end.
func scanValid(f *os.File, from, size int64) (int64, error) {
	r := wlog.NewReader(bufio.NewReaderSize(io.NewSectionReader(f, from, size-from), 4*walPageSize))
	good := from
	for r.Next() {
		good = from + r.Offset()
	}
	return good, r.Err()
}

// startsValid reports whether a valid record (whole, or the first fragment
// of one, whose later fragments follow) starts at page p.
func startsValid(f *os.File, p, size int64) bool {
	r := wlog.NewReader(bufio.NewReaderSize(io.NewSectionReader(f, p, size-p), walPageSize))
	return r.Next()
}

// nonZero counts the non-zero bytes in [from, to).
func nonZero(f *os.File, from, to int64) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for off := from; off < to; {
		k := min(int64(len(buf)), to-off)
		m, err := f.ReadAt(buf[:k], off)
		for _, b := range buf[:m] {
			if b != 0 {
				n++
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return n, err
		}
		if m == 0 {
			break
		}
		off += int64(m)
	}
	return n, nil
}

// zero overwrites [from, to) with zeros: in place, so on most filesystems it
// needs no free space.
func zero(f *os.File, from, to int64) error {
	buf := make([]byte, min(to-from, 64<<10))
	for off := from; off < to; {
		k := min(int64(len(buf)), to-off)
		if _, err := f.WriteAt(buf[:k], off); err != nil {
			return err
		}
		off += k
	}
	return nil
}
