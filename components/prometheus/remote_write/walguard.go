package remotewrite

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/wlog"
)

// Writing the WAL when the disk fills.
//
// When a write to Prometheus' WAL fails (ENOSPC, EIO), the WAL is left in a
// state it cannot get out of by itself (tsdb/wlog, as of the pinned
// version):
//   - the failed record is torn on disk, and its unwritten rest stays in the
//     WAL's page buffer: the next write, once space returns, first writes
//     that rest out, then continues in the same segment after the torn
//     record. The WAL watcher then reads a record sequence that cannot be
//     (`unexpected first record, dropping buffer`), gives up on the segment
//     and starts over every few seconds, skipping everything committed in
//     between: delivery stops until the 128 MiB segment is full;
//   - the writer's memory (internal/wal: series created, last timestamps)
//     includes what the failed transaction added;
//   - at the next start, Prometheus' repair deletes everything after the
//     torn record.
//
// flow therefore treats the first failed write as the end of that WAL
// handle:
//  1. Commits are serialised (commitMu), so no other transaction writes
//     between a failure and the moment it is noticed; from then on every
//     commit and new appender fails at once with the original error, without
//     touching the WAL: nothing is acknowledged that is not on disk, and the
//     scrape (or any other caller) sees the error.
//  2. Once the WAL's filesystem has room again (at least minFreeForRecovery),
//     the component finds the torn tail, closes the WAL DB, truncates the
//     torn record away (repairWAL), and opens the WAL again, which starts a
//     new segment. The watcher reads the old segment to its (now clean) end
//     and moves on: everything committed before the failure is delivered.
//  3. While this lasts, the component is unhealthy and says why and since
//     when; a repair that removed bytes is reported in the logs and health.
//
// Attempts back off (1 s doubling to 30 s) when the WAL fails again soon
// after being reopened, so a disk hovering at full does not make the
// component reread its WAL every second.

// minFreeForRecovery is the free space the WAL's filesystem needs before
// the WAL is reopened: a few pages for the records of a typical scrape.
const minFreeForRecovery = 1 << 20

const (
	recoveryBackoffMin = time.Second
	recoveryBackoffMax = 30 * time.Second
	// watcherFailWindow: a watcher that cannot read the WAL retries every
	// 5 s or so, so an error within this window means it is still failing.
	watcherFailWindow = 30 * time.Second
	// maxRepairNotes bounds the repairs remembered for health.
	maxRepairNotes = 5
)

// walFailure is the error that stopped writes to the current WAL handle.
type walFailure struct {
	err   error
	since time.Time
	// seg is the last WAL segment when the write failed: the torn record is
	// in it or the one before.
	seg int
}

// walState is what the component's health says about its WAL.
type walState struct {
	mu            sync.Mutex
	refused       int64 // commits refused since the failure
	waitingFree   int64 // free bytes when recovery last waited for space (-1: not waiting)
	lastErr       error // the last recovery attempt's error
	nextTry       time.Time
	backoff       time.Duration
	lastRecovered time.Time
	repairs       []repairNote
	promRepair    *repairNote // Prometheus' own repair ran (see logtap.go)
	watchers      map[string]*watcherFailure
}

type repairNote struct {
	at  time.Time
	msg string
	// lossy: may have removed acknowledged samples.
	lossy bool
}

type watcherFailure struct {
	since, last time.Time
	err         string
}

// walDir is where the agent keeps its WAL segments.
func (c *Component) walDir() string { return filepath.Join(c.opts.DataPath, "wal") }

// walWriteFailed records that a commit's WAL write failed. commitMu is held.
func (c *Component) walWriteFailed(err error) {
	if c.walFail.Load() != nil {
		return
	}
	_, last, _ := wlog.Segments(c.walDir())
	c.walFail.Store(&walFailure{err: err, since: time.Now(), seg: last})
	c.opts.Logger.Error("writing the WAL failed; appends are refused until it can be written again", "err", err)
	select {
	case c.recoverNow <- struct{}{}:
	default:
	}
}

// refuse is the appender handed out while the WAL cannot be written.
func (c *Component) refuse(f *walFailure) storage.Appender {
	c.countRefused()
	return errAppender{err: walRefusal(f)}
}

func (c *Component) countRefused() {
	c.ws.mu.Lock()
	c.ws.refused++
	c.ws.mu.Unlock()
}

// walRefusal is the error a commit gets while the WAL cannot be written.
func walRefusal(f *walFailure) error {
	return fmt.Errorf("prometheus.remote_write: WAL append failing since %s, samples not accepted: %w",
		f.since.UTC().Format(time.RFC3339), f.err)
}

// recoverWAL reopens a WAL whose write failed, once there is room (see
// above). It runs from Run.
func (c *Component) recoverWAL(now time.Time) {
	f := c.walFail.Load()
	if f == nil {
		return
	}
	c.ws.mu.Lock()
	if now.Before(c.ws.nextTry) {
		c.ws.mu.Unlock()
		return
	}
	c.ws.mu.Unlock()
	if free, ok := freeBytes(c.opts.DataPath); ok && free < minFreeForRecovery {
		c.ws.mu.Lock()
		c.ws.waitingFree = free
		c.ws.nextTry = now.Add(time.Second)
		c.ws.mu.Unlock()
		return
	}

	c.dbMu.Lock()
	defer c.dbMu.Unlock()
	if c.walClosed {
		return
	}
	err := c.reopenWALLocked(c.walOpts, f.seg-1)
	c.ws.mu.Lock()
	defer c.ws.mu.Unlock()
	c.ws.waitingFree = -1
	if err != nil {
		c.ws.lastErr = err
		c.ws.backoff = min(max(2*c.ws.backoff, recoveryBackoffMin), recoveryBackoffMax)
		c.ws.nextTry = time.Now().Add(c.ws.backoff)
		c.opts.Logger.Error("reopening the WAL after a failed write failed; retrying", "err", err, "retry_in", c.ws.backoff)
		return
	}
	// Failing again soon after the last recovery: back off further.
	if !c.ws.lastRecovered.IsZero() && f.since.Sub(c.ws.lastRecovered) < time.Minute {
		c.ws.backoff = min(max(2*c.ws.backoff, recoveryBackoffMin), recoveryBackoffMax)
	} else {
		c.ws.backoff = 0
	}
	c.ws.lastErr = nil
	c.ws.lastRecovered = time.Now()
	if c.ws.backoff > 0 {
		c.ws.nextTry = c.ws.lastRecovered.Add(c.ws.backoff)
	}
	refused := c.ws.refused
	c.ws.refused = 0
	c.walFail.Store(nil)
	c.opts.Logger.Info("WAL writable again; appends are accepted", "failed_since", f.since, "refused_commits", refused)
}

// reopenWALLocked closes the WAL (if open), repairs it from segment from on
// and opens it with opts. dbMu is held for writing, so no transaction is
// open.
func (c *Component) reopenWALLocked(opts WALOptions, from int) error {
	if err := c.closeWALLocked(from); err != nil {
		return err
	}
	return c.openWAL(opts, from)
}

// closeWALLocked closes the WAL. After a failed write it also cuts the torn
// record away. dbMu is held for writing.
func (c *Component) closeWALLocked(from int) error {
	if c.db == nil {
		return nil
	}
	var tails []segmentDamage
	if f := c.walFail.Load(); f != nil {
		// Find torn tails before closing: closing writes out what the
		// failed write left in the WAL's page buffer (which could complete
		// a record whose commit was refused). That write needs up to a
		// page of space: the reserve makes it.
		tails = c.tornTails(min(from, f.seg-1))
		c.releaseReserve()
	}
	err := c.db.Close()
	c.dbReg.UnregisterAll()
	c.db = nil
	if err != nil {
		// With no space even for that page, Prometheus' WAL keeps its
		// segment open until the process ends.
		c.opts.Logger.Error("closing the WAL failed; its last segment stays open until flow exits", "err", err)
	}
	for _, d := range tails {
		if err := truncateIfLonger(wlog.SegmentName(c.walDir(), d.Segment), d.Offset); err != nil {
			return fmt.Errorf("cutting the torn record from WAL segment %d: %w", d.Segment, err)
		}
		c.noteRepair(repairReport{Damage: []segmentDamage{d}})
	}
	return nil
}

// The reserve is a small file next to the WAL, written while there is
// space and deleted when a WAL write fails, so that closing the WAL (which
// writes out its last page) succeeds on a full disk.
const (
	reserveName = "wal-reserve"
	reserveSize = 2 * walPageSize
)

func (c *Component) reservePath() string { return filepath.Join(c.opts.DataPath, reserveName) }

// makeReserve writes the reserve if it is missing; on a full disk it does
// without.
func (c *Component) makeReserve() {
	path := c.reservePath()
	if st, err := os.Stat(path); err == nil && st.Size() >= reserveSize {
		return
	}
	err := os.WriteFile(path, make([]byte, reserveSize), 0o600)
	if err != nil {
		_ = os.Remove(path)
		c.opts.Logger.Warn("could not write the WAL's space reserve; closing the WAL on a full disk may fail", "err", err)
	}
}

func (c *Component) releaseReserve() { _ = os.Remove(c.reservePath()) }

// tornTails finds, without changing anything, the torn records at the end of
// segments from `from` on.
func (c *Component) tornTails(from int) []segmentDamage {
	first, last, err := wlog.Segments(c.walDir())
	if err != nil || first < 0 {
		return nil
	}
	var out []segmentDamage
	for s := max(first, from); s <= last; s++ {
		ds, err := inspectSegment(wlog.SegmentName(c.walDir(), s), s, false)
		if err != nil {
			continue
		}
		for _, d := range ds {
			if d.Tail {
				d.Cause = "a write that failed; never acknowledged"
				out = append(out, d)
			}
		}
	}
	return out
}

func truncateIfLonger(path string, size int64) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Size() <= size {
		return nil
	}
	return os.Truncate(path, size)
}

// noteRepair logs a repair that removed bytes and keeps it for health.
func (c *Component) noteRepair(rep repairReport) {
	if len(rep.Damage) == 0 {
		return
	}
	lossy := rep.midSegment()
	msg := fmt.Sprintf("WAL repair removed %d bytes: %s", rep.dropped(), rep)
	if lossy {
		c.opts.Logger.Error("WAL repair removed damaged records; they may have held acknowledged samples", "dropped_bytes", rep.dropped(), "damage", rep.String())
	} else {
		c.opts.Logger.Warn("WAL repair removed a torn record (a write that failed or was cut short, never acknowledged)", "dropped_bytes", rep.dropped(), "damage", rep.String())
	}
	c.ws.mu.Lock()
	defer c.ws.mu.Unlock()
	c.ws.repairs = append(c.ws.repairs, repairNote{at: time.Now(), msg: msg, lossy: lossy})
	if len(c.ws.repairs) > maxRepairNotes {
		c.ws.repairs = c.ws.repairs[len(c.ws.repairs)-maxRepairNotes:]
	}
}

// watcherFailed records that an endpoint's WAL tailer cannot read the WAL.
func (c *Component) watcherFailed(name string, err error) {
	c.onPrometheusLog(msgWatcherError, map[string]string{"remote_name": name, "err": err.Error()})
}

// onPrometheusLog receives the log records logtap.go watches for.
func (c *Component) onPrometheusLog(msg string, attrs map[string]string) {
	now := time.Now()
	c.ws.mu.Lock()
	defer c.ws.mu.Unlock()
	switch msg {
	case msgWatcherError:
		name := attrs["remote_name"]
		if c.ws.watchers == nil {
			c.ws.watchers = map[string]*watcherFailure{}
		}
		w := c.ws.watchers[name]
		if w == nil || now.Sub(w.last) > watcherFailWindow {
			w = &watcherFailure{since: now}
			c.ws.watchers[name] = w
		}
		w.last, w.err = now, attrs["err"]
	case msgPromRepair:
		c.ws.promRepair = &repairNote{at: now, lossy: true,
			msg: fmt.Sprintf("Prometheus' WAL repair deleted every record after the damage it found (%s); samples committed after it are lost", attrs["err"])}
	}
}

// walHealth is what the WAL contributes to the component's health.
func (c *Component) walHealth(now time.Time) (problems, notes []string) {
	f := c.walFail.Load()
	c.ws.mu.Lock()
	defer c.ws.mu.Unlock()
	if f != nil {
		p := fmt.Sprintf("WAL append failing since %s: %v; %d commits refused (not acknowledged) so far",
			f.since.UTC().Format(time.RFC3339), f.err, c.ws.refused)
		switch {
		case c.ws.lastErr != nil:
			p += fmt.Sprintf("; reopening the WAL failed: %v (retrying)", c.ws.lastErr)
		case c.ws.waitingFree >= 0:
			p += fmt.Sprintf("; waiting for free space in %s (%d bytes free, %d needed)", c.opts.DataPath, c.ws.waitingFree, minFreeForRecovery)
		}
		p += "; samples already in the WAL are still sent"
		problems = append(problems, p)
	}
	names := make([]string, 0, len(c.ws.watchers))
	for n := range c.ws.watchers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w := c.ws.watchers[n]
		if now.Sub(w.last) <= watcherFailWindow {
			problems = append(problems, fmt.Sprintf("endpoint %q: the WAL watcher cannot read the WAL since %s: %s "+
				"(it starts over every few seconds and skips what was committed meanwhile; those samples stay in the WAL and are sent after a restart)",
				n, w.since.UTC().Format(time.RFC3339), w.err))
		}
	}
	if r := c.ws.promRepair; r != nil {
		notes = append(notes, fmt.Sprintf("at %s: %s", r.at.UTC().Format(time.RFC3339), r.msg))
	}
	for _, r := range c.ws.repairs {
		notes = append(notes, fmt.Sprintf("at %s: %s", r.at.UTC().Format(time.RFC3339), r.msg))
	}
	return problems, notes
}
