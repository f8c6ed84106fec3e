package write

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/flow-telemetry/flow/components/loki/write/internal/wal"
)

// backlog is what an endpoint has accepted but not yet delivered.
type backlog struct {
	bytes   int64
	entries int64
	// oldest is when the oldest undelivered entry was accepted; zero when
	// nothing waits.
	oldest time.Time
}

// ledger maps WAL positions to entry counts and acceptance times, so that
// an endpoint's backlog (entries, bytes, oldest entry's age) is known from
// its committed position alone. Appends are grouped into buckets of at most
// bucketSpan or bucketBytes, never across segments: counts for a position
// inside a bucket are interpolated (off by at most the bucket's entries),
// and the age is the bucket's first append (at most bucketSpan too old).
// Entries found in the WAL at start are counted by a scan (scanLedger).
type ledger struct {
	mu      sync.Mutex
	buckets []bucket // in WAL order
}

type bucket struct {
	start, end          wal.Position
	at                  time.Time
	cumBefore, cumAfter int64 // entries before and after the bucket, from the ledger's origin
}

const (
	bucketSpan  = 100 * time.Millisecond
	bucketBytes = 1 << 20
)

// appended records a record of n entries at [start, end), written at now.
// Called in WAL order.
func (l *ledger) appended(start, end wal.Position, n int, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.add(start, end, n, now, func(last *bucket) bool { return now.Sub(last.at) < bucketSpan })
}

// add puts the record [start, end) of n entries in the last bucket when it
// follows that bucket, the bucket stays within bucketBytes and joins says
// so; otherwise it starts a bucket at the time at. The ledger is locked or
// not yet shared.
func (l *ledger) add(start, end wal.Position, n int, at time.Time, joins func(last *bucket) bool) {
	var cum int64
	if k := len(l.buckets); k > 0 {
		b := &l.buckets[k-1]
		if b.end == start && end.Offset-b.start.Offset <= bucketBytes && joins(b) {
			b.end = end
			b.cumAfter += int64(n)
			return
		}
		cum = b.cumAfter
	}
	l.buckets = append(l.buckets, bucket{start: start, end: end, at: at, cumBefore: cum, cumAfter: cum + int64(n)})
}

// cumAt is the number of entries before pos. Callers hold mu.
func (l *ledger) cumAt(pos wal.Position) int64 {
	if len(l.buckets) == 0 {
		return 0
	}
	// The first bucket ending after pos.
	i := sort.Search(len(l.buckets), func(i int) bool { return pos.Before(l.buckets[i].end) })
	if i == len(l.buckets) {
		return l.buckets[i-1].cumAfter
	}
	b := l.buckets[i]
	if !b.start.Before(pos) || pos.Segment != b.start.Segment {
		return b.cumBefore
	}
	span := b.end.Offset - b.start.Offset
	return b.cumBefore + (b.cumAfter-b.cumBefore)*(pos.Offset-b.start.Offset)/span
}

// of returns the backlog of a reader committed at from, with the WAL
// durable up to to.
func (l *ledger) of(w *wal.WAL, from, to wal.Position) backlog {
	if !from.Before(to) {
		return backlog{}
	}
	bl := backlog{bytes: w.SizeBetween(from, to)}
	l.mu.Lock()
	defer l.mu.Unlock()
	bl.entries = max(l.cumAt(to)-l.cumAt(from), 0)
	i := sort.Search(len(l.buckets), func(i int) bool { return from.Before(l.buckets[i].end) })
	if i < len(l.buckets) {
		bl.oldest = l.buckets[i].at
	}
	return bl
}

// trim forgets the buckets that end at or before pos (every endpoint has
// committed past them).
func (l *ledger) trim(pos wal.Position) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := sort.Search(len(l.buckets), func(i int) bool { return pos.Before(l.buckets[i].end) })
	if i > 0 {
		l.buckets = append(l.buckets[:0], l.buckets[i:]...)
	}
}

// scanLedger counts the entries of the records in w from from to the
// durable end (what a previous run left undelivered), so that backlogs are
// known from the start. Their acceptance times are bounded by the segment
// files' times: a record of segment s was written after segment s-1 was
// last modified, which is taken as its time (so its age is, if anything,
// overstated); for the oldest segment, its own time. It reads the records
// once, which for the default wal > max_backlog_size (256 MiB) takes well
// under a second from the page cache.
func scanLedger(w *wal.WAL, from wal.Position, onCorrupt func(wal.Position, error)) *ledger {
	l := &ledger{}
	times := w.SegmentTimes()
	r := w.NewReader(from)
	r.OnCorrupt = onCorrupt
	defer r.Close()
	durable := w.Durable()
	start := from
	for start.Before(durable) {
		payload, end, ok, err := r.Next(context.Background(), time.Now())
		if err != nil || !ok {
			break
		}
		// Buckets are keyed by the ends the reader reports, which are the
		// positions endpoints commit (after a segment's last record, the
		// start of the next one).
		seg := start.Segment
		if end.Offset > 0 {
			seg = end.Segment
		}
		at, ok := times[seg-1]
		if !ok {
			at = times[seg]
		}
		l.appendedAt(start, end, recordEntries(payload), at)
		start = end
	}
	return l
}

// appendedAt is appended for the scan: buckets of bucketBytes within a
// segment, whatever their times.
func (l *ledger) appendedAt(start, end wal.Position, n int, at time.Time) {
	l.add(start, end, n, at, func(last *bucket) bool { return end.Segment == last.start.Segment })
}

// recordEntries is the number of entries in a record (0 if it does not
// decode), read without decoding the entries.
func recordEntries(payload []byte) int {
	d := decoder{s: payload}
	if d.byte() != recordVersion {
		return 0
	}
	ns := d.uvarint()
	for i := uint64(0); i < ns && d.err == nil; i++ {
		d.string()
		d.string()
	}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(payload)) {
		return 0
	}
	return int(n)
}
