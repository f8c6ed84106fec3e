package write

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/flow-telemetry/flow/runtime/component"
)

// CurrentHealth is unhealthy while the WAL cannot be written, while an
// endpoint's pushes are failing (saying where the entries wait: in the WAL
// until Loki takes them, or in memory for a bounded number of retries), and
// after an endpoint dropped entries until one of its pushes succeeds again
// (naming how many, why, and that they are not retried). Every clause says
// only what the endpoint actually does.
func (c *Component) CurrentHealth() component.Health {
	c.mu.RLock()
	appendErr, appendAt := c.appendErr, c.appendAt
	eps := make([]*endpoint, 0, len(c.endpoints))
	for _, e := range c.endpoints {
		eps = append(eps, e)
	}
	c.mu.RUnlock()
	sort.Slice(eps, func(i, j int) bool { return eps[i].name < eps[j].name })

	var problems, notes []string
	var since time.Time
	if appendErr != nil {
		problems = append(problems, fmt.Sprintf("cannot write the WAL, so sends are refused (not acknowledged): %v", appendErr))
		since = appendAt
	}
	if err := c.full(); err != nil {
		problems = append(problems, fmt.Sprintf("%v: sends are refused (not acknowledged; sources retry) until then", err))
		since = time.Now()
	}
	var last time.Time
	for _, e := range eps {
		st := e.snapshot()
		if st.lastSuccess.After(last) {
			last = st.lastSuccess
		}
		bl := e.src.backlog()
		if st.failing {
			p := fmt.Sprintf("endpoint %q: pushes failing since %s: %s (%s); %s", e.name, rfc3339(st.failingSince), st.lastError, e.retryNote(), bl)
			problems = append(problems, p)
		} else if !bl.oldest.IsZero() && time.Since(bl.oldest) > stallAge {
			problems = append(problems, fmt.Sprintf("endpoint %q: delivery is behind by more than %s: %s", e.name, stallAge, bl))
			if bl.oldest.After(since) {
				since = bl.oldest.Add(stallAge)
			}
		}
		if st.recentDropped > 0 {
			p := fmt.Sprintf("endpoint %q: dropped %d %s since the last successful push, not retried (last at %s, reason %s: %s)",
				e.name, st.recentDropped, plural(st.recentDropped, "entry", "entries"), rfc3339(st.lastDropAt), st.lastDropReason, st.lastDropError)
			problems = append(problems, p)
		} else if st.dropped > 0 {
			notes = append(notes, fmt.Sprintf("endpoint %q has dropped %d %s since start (last at %s, reason %s)",
				e.name, st.dropped, plural(st.dropped, "entry", "entries"), rfc3339(st.lastDropAt), st.lastDropReason))
		}
		if (st.failing || st.recentDropped > 0) && st.lastErrorAt.After(since) {
			since = st.lastErrorAt
		}
	}
	if len(problems) > 0 {
		return component.Health{Health: component.HealthUnhealthy, Message: strings.Join(problems, "; "), UpdateTime: since}
	}
	msg := "ok"
	if len(eps) == 0 {
		msg = "no endpoints configured: entries are accepted and discarded"
	}
	if len(notes) > 0 {
		msg += "; " + strings.Join(notes, "; ")
	}
	return component.Health{Health: component.HealthHealthy, Message: msg, UpdateTime: last}
}

// retryNote says where a failing endpoint's entries wait.
func (e *endpoint) retryNote() string {
	if e.durable {
		return "entries are kept in the WAL and retried until Loki accepts them"
	}
	return fmt.Sprintf("entries are held in memory and retried up to max_backoff_retries = %d times, then dropped; enable the WAL to keep them", e.args.MaxBackoffRetries)
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// endpointBacklog is an endpoint's backlog, by name.
type endpointBacklog struct {
	name string
	backlog
}

// backlogs returns every endpoint's backlog, sorted by name.
func (c *Component) backlogs() []endpointBacklog {
	c.mu.RLock()
	out := make([]endpointBacklog, 0, len(c.endpoints))
	for _, e := range c.endpoints {
		out = append(out, endpointBacklog{name: e.name, backlog: e.src.backlog()})
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// stallAge: an endpoint whose oldest undelivered entry is older than this
// is behind (unhealthy), even while its pushes succeed: it delivers less
// than it is given. A keeping-up endpoint's oldest entry is at most about
// batch_wait plus one push old.
var stallAge = time.Minute

// DebugInfo is shown in the API and UI.
type DebugInfo struct {
	WALEnabled  bool            `river:"wal_enabled,attr"`
	WALSegments int             `river:"wal_segments,attr,optional"`
	Endpoints   []EndpointDebug `river:"endpoint,block,optional"`
}

// EndpointDebug describes one endpoint.
type EndpointDebug struct {
	Name           string `river:"name,attr"`
	URL            string `river:"url,attr"`
	Healthy        bool   `river:"healthy,attr"`
	LastError      string `river:"last_error,attr,optional"`
	LastErrorTime  string `river:"last_error_time,attr,optional"`
	LastSuccess    string `river:"last_success_time,attr,optional"`
	EntriesSent    int64  `river:"entries_sent,attr"`
	BatchesSent    int64  `river:"batches_sent,attr"`
	EntriesDropped int64  `river:"entries_dropped,attr"`
	BacklogBytes   int64  `river:"backlog_bytes,attr"`
	BacklogEntries int64  `river:"backlog_entries,attr"`
	// OldestUndelivered is when the oldest entry not yet delivered was
	// accepted ("" when none waits).
	OldestUndelivered string `river:"oldest_undelivered_time,attr,optional"`
}

// DebugInfo returns per-endpoint figures.
func (c *Component) DebugInfo() any {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d := DebugInfo{WALEnabled: c.wal != nil}
	if c.wal != nil {
		d.WALSegments = c.wal.Stats().Segments
	}
	for _, e := range c.endpoints {
		st := e.snapshot()
		bl := e.src.backlog()
		d.Endpoints = append(d.Endpoints, EndpointDebug{
			Name:              e.name,
			URL:               e.args.redactedURL(),
			Healthy:           !st.failing && st.recentDropped == 0,
			LastError:         st.lastError,
			LastErrorTime:     timeString(st.lastErrorAt),
			LastSuccess:       timeString(st.lastSuccess),
			EntriesSent:       st.entriesSent,
			BatchesSent:       st.batchesSent,
			EntriesDropped:    st.dropped,
			BacklogBytes:      bl.bytes,
			BacklogEntries:    bl.entries,
			OldestUndelivered: timeString(bl.oldest),
		})
	}
	sort.Slice(d.Endpoints, func(i, j int) bool { return d.Endpoints[i].Name < d.Endpoints[j].Name })
	return d
}

// timeString is t in RFC 3339, or "" for the zero time (never happened).
func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// String describes a backlog for health: "N entries (B bytes) not yet
// delivered, the oldest accepted at T".
func (b backlog) String() string {
	if b.oldest.IsZero() {
		return "nothing waits for delivery"
	}
	return fmt.Sprintf("%d %s (%d bytes) not yet delivered, the oldest accepted at %s (%s ago)",
		b.entries, plural(b.entries, "entry", "entries"), b.bytes, rfc3339(b.oldest), time.Since(b.oldest).Round(time.Second))
}
