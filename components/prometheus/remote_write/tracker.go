package remotewrite

import (
	"container/heap"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/storage"

	commonrelabel "github.com/flow-telemetry/flow/components/common/relabel"
)

// Delivery tracking: what survives a restart or a kill -9.
//
// The live tailer sends only what this run writes to the WAL (from
// firstOwnSegment on), so samples that were in the WAL but not yet
// delivered when the process stopped would never be sent (Prometheus'
// agent, whose WAL watcher starts at its own start time, loses them). flow
// keeps, per endpoint, a marker: a timestamp M such that every sample with
// timestamp ≤ M that was committed to the WAL has been delivered (or
// rejected for good with a 4xx). At start-up, samples in the WAL newer than M
// are sent again first (replay.go).
//
// The marker is exact, not a heuristic: the receiver counts, per timestamp,
// the samples each commit adds (registered before the WAL write, so a crash
// cannot lose a commit the marker does not know of), and the sender counts,
// per timestamp, the samples of every request that reached a final outcome
// (the live queue from its batches, queue.Config.OnDone; the replay's
// client by decoding the request's timestamps, writeclient.go). M advances
// over a timestamp once every sample committed with it is accounted for. A
// commit with a timestamp at or below M (a late scrape, honoured old
// timestamps) first lowers M and writes it down.
//
// The marker file (16 bytes written in place) is written whenever a
// delivery moves M or H, and every second while M moves for other reasons
// (age limits); a kill -9 keeps what the kernel has, as for the WAL itself.
// Moving M with every delivery keeps the window (M, H] that a restart must
// treat as "maybe delivered" (replay.go) as small as the requests that were
// in flight.

// tracker is one endpoint's delivery accounting.
type tracker struct {
	name string
	file *markerFile

	cfgMu    sync.RWMutex
	rules    commonrelabel.Rules // the endpoint's write_relabel_config
	ext      labels.Labels       // external labels, applied before rules
	withHist bool                // send_native_histograms: histograms are sent
	ageLimit time.Duration       // queue_config.sample_age_limit: older samples are dropped

	mu       sync.Mutex
	expected map[int64]int64 // timestamp → samples committed and not yet accounted for
	order    tsHeap          // the timestamps of expected, smallest first (may hold stale ones)
	done     map[int64]int64 // timestamp → samples delivered (or finally rejected)
	marker   int64           // M: every committed sample with timestamp ≤ M is accounted for
	highest  int64           // H: the newest timestamp any delivered request carried
	// persistedM and persistedH are what the file holds.
	persistedM, persistedH int64

	keepMu sync.Mutex
	keep   map[storage.SeriesRef]bool // write_relabel_config decision per series
}

func newTracker(dir, name string) (*tracker, error) {
	f, m, h, err := openMarkerFile(dir, name)
	if err != nil {
		return nil, err
	}
	return &tracker{
		name: name, file: f,
		expected: map[int64]int64{}, done: map[int64]int64{},
		marker: m, highest: h, persistedM: m, persistedH: h,
		keep: map[storage.SeriesRef]bool{},
	}, nil
}

// configure applies the endpoint settings that decide which samples it
// sends.
func (t *tracker) configure(ep *EndpointOptions, ext labels.Labels) error {
	rules, err := commonrelabel.Compile(ep.WriteRelabelConfigs)
	if err != nil {
		return err
	}
	t.cfgMu.Lock()
	defer t.cfgMu.Unlock()
	t.rules, t.ext = rules, ext
	t.withHist, t.ageLimit = ep.SendNativeHistograms, ep.QueueOptions.SampleAgeLimit
	t.keepMu.Lock()
	t.keep = map[storage.SeriesRef]bool{}
	t.keepMu.Unlock()
	return nil
}

func (t *tracker) sendsHistograms() bool {
	t.cfgMu.RLock()
	defer t.cfgMu.RUnlock()
	return t.withHist
}

func (t *tracker) hasRules() bool {
	t.cfgMu.RLock()
	defer t.cfgMu.RUnlock()
	return len(t.rules) > 0
}

// keeps reports whether the endpoint sends the series (its write relabel
// rules keep it), caching the decision by series reference.
func (t *tracker) keeps(ref storage.SeriesRef, lbls labels.Labels) bool {
	t.cfgMu.RLock()
	defer t.cfgMu.RUnlock()
	if len(t.rules) == 0 {
		return true
	}
	t.keepMu.Lock()
	defer t.keepMu.Unlock()
	if k, ok := t.keep[ref]; ok && ref != 0 {
		return k
	}
	b := labels.NewBuilder(lbls)
	t.ext.Range(func(l labels.Label) {
		if b.Get(l.Name) == "" {
			b.Set(l.Name, l.Value)
		}
	})
	k := relabel.ProcessBuilder(b, t.rules...)
	if len(t.keep) > 1<<21 {
		t.keep = map[storage.SeriesRef]bool{} // bound memory under series churn
	}
	t.keep[ref] = k
	return k
}

// sendLabels returns the labels the endpoint sends for a series: the
// external labels added where the series lacks them, then the endpoint's
// write_relabel_config applied, as Prometheus' queue manager does; ok is
// false when the rules drop the series.
func (t *tracker) sendLabels(lbls labels.Labels) (out labels.Labels, ok bool) {
	t.cfgMu.RLock()
	defer t.cfgMu.RUnlock()
	if t.ext.IsEmpty() && len(t.rules) == 0 {
		// Nothing to add or apply: no builder (180 B of garbage per new
		// series, in the burst of a first scrape).
		return lbls, true
	}
	b := labels.NewBuilder(lbls)
	t.ext.Range(func(l labels.Label) {
		if b.Get(l.Name) == "" {
			b.Set(l.Name, l.Value)
		}
	})
	if len(t.rules) > 0 && !relabel.ProcessBuilder(b, t.rules...) {
		return labels.EmptyLabels(), false
	}
	return b.Labels(), true
}

// state returns the current marker and highest delivered timestamp.
func (t *tracker) state() (m, h int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.marker, t.highest
}

// persistLocked writes M and H if they changed. t.mu is held.
func (t *tracker) persistLocked() error {
	if t.marker == t.persistedM && t.highest == t.persistedH {
		return nil
	}
	if err := t.file.write(t.marker, t.highest); err != nil {
		return err
	}
	t.persistedM, t.persistedH = t.marker, t.highest
	return nil
}

// expect registers samples about to be committed (n per timestamp). It is
// called before the WAL write; if a timestamp is at or below the marker, the
// marker is lowered and written down first.
func (t *tracker) expect(counts []tsCount) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	lowered := false
	for _, c := range counts {
		if c.n == 0 {
			continue
		}
		if t.expected[c.t] == 0 {
			heap.Push(&t.order, c.t)
		}
		t.expected[c.t] += c.n
		if c.t <= t.marker {
			t.marker = c.t - 1
			lowered = true
		}
	}
	if lowered && t.marker < t.persistedM {
		return t.persistLocked()
	}
	return nil
}

// unexpect withdraws samples whose commit failed.
func (t *tracker) unexpect(counts []tsCount) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range counts {
		if t.expected[c.t] -= c.n; t.expected[c.t] <= 0 {
			delete(t.expected, c.t)
		}
	}
}

// delivered records samples that reached a final outcome and moves the
// marker over the timestamps now complete. A request that moves H or M
// has it written down at once: replay must know which timestamps may
// already be at the receiver, and the fewer the better.
func (t *tracker) delivered(counts map[int64]int64) error {
	tooOld := t.tooOld(time.Now())
	t.mu.Lock()
	defer t.mu.Unlock()
	for ts, n := range counts {
		if ts > t.marker {
			t.done[ts] += n
		}
		if ts > t.highest {
			t.highest = ts
		}
	}
	t.advanceLocked(tooOld)
	if t.highest != t.persistedH || t.marker != t.persistedM {
		return t.persistLocked()
	}
	return nil
}

// tooOld is the timestamp below which queue_config's sample_age_limit has
// the queue drop samples (0: no limit).
func (t *tracker) tooOld(now time.Time) int64 {
	t.cfgMu.RLock()
	ageLimit := t.ageLimit
	t.cfgMu.RUnlock()
	if ageLimit <= 0 {
		return 0
	}
	return now.Add(-ageLimit).UnixMilli()
}

// advanceLocked moves the marker over the smallest outstanding timestamps
// while they are fully delivered (or too old to be sent). t.mu is held.
func (t *tracker) advanceLocked(tooOld int64) {
	for len(t.order) > 0 {
		ts := t.order[0]
		want, ok := t.expected[ts]
		if ok && t.done[ts] < want && ts >= tooOld {
			return
		}
		heap.Pop(&t.order)
		if !ok {
			continue // withdrawn (unexpect) or pushed twice
		}
		delete(t.expected, ts)
		delete(t.done, ts)
		if ts > t.marker {
			t.marker = ts
		}
	}
}

// advance moves the marker over every fully delivered timestamp and
// returns it.
func (t *tracker) advance(now time.Time) int64 {
	tooOld := t.tooOld(now)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.advanceLocked(tooOld)
	if len(t.expected) == 0 {
		t.order = t.order[:0]
		// Nothing outstanding: everything delivered so far is final.
		for ts := range t.done {
			if ts > t.marker {
				t.marker = ts
			}
		}
	}
	for ts := range t.done {
		if ts <= t.marker {
			delete(t.done, ts)
		}
	}
	return t.marker
}

// outstanding is how many committed samples are not yet accounted for.
func (t *tracker) outstanding() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for ts, e := range t.expected {
		if d := e - t.done[ts]; d > 0 {
			n += d
		}
	}
	return n
}

// flush advances the marker and writes it down if it moved.
func (t *tracker) flush(now time.Time) error {
	t.advance(now)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.persistLocked()
}

// tsHeap is a min-heap of timestamps (container/heap).
type tsHeap []int64

func (h tsHeap) Len() int           { return len(h) }
func (h tsHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h tsHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *tsHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *tsHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// tsCount is a number of samples with one timestamp.
type tsCount struct {
	t int64
	n int64
}

// markerFile holds one endpoint's marker M and highest delivered timestamp
// H, 16 bytes written in place with one write: a killed process leaves
// either the old or the new pair, never half of each.
type markerFile struct {
	f    *os.File
	path string
}

func openMarkerFile(dir, endpoint string) (*markerFile, int64, int64, error) {
	sum := sha256.Sum256([]byte(endpoint))
	return openMarkerFileAt(filepath.Join(dir, "delivered-"+hex.EncodeToString(sum[:8])))
}

func openMarkerFileAt(path string) (*markerFile, int64, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("opening delivery marker: %w", err)
	}
	var b [16]byte
	n, err := f.ReadAt(b[:], 0)
	if err == nil && n == 16 {
		m := int64(binary.LittleEndian.Uint64(b[:8]))
		h := int64(binary.LittleEndian.Uint64(b[8:]))
		return &markerFile{f: f, path: path}, m, h, nil
	}
	// No marker yet: a new endpoint. Like a new Prometheus queue, it gets
	// what is committed from now on, not the WAL's history.
	mf := &markerFile{f: f, path: path}
	now := time.Now().UnixMilli()
	if err := mf.write(now, now); err != nil {
		f.Close()
		return nil, 0, 0, err
	}
	return mf, now, now, nil
}

func (mf *markerFile) write(m, h int64) error {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(m))
	binary.LittleEndian.PutUint64(b[8:], uint64(h))
	if _, err := mf.f.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("writing delivery marker: %w", err)
	}
	return nil
}

func (mf *markerFile) close() error { return mf.f.Close() }

// remove deletes the marker of an endpoint taken out of the configuration.
func (mf *markerFile) remove() error { return os.Remove(mf.path) }
