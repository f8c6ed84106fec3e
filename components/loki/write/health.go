package write

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/flow-telemetry/flow/runtime/component"
)

// CurrentHealth is unhealthy while the WAL cannot be written or while an
// endpoint's pushes are failing, naming the endpoint and its last error.
func (c *Component) CurrentHealth() component.Health {
	c.mu.RLock()
	appendErr, appendAt := c.appendErr, c.appendAt
	eps := make([]*endpoint, 0, len(c.endpoints))
	for _, e := range c.endpoints {
		eps = append(eps, e)
	}
	c.mu.RUnlock()
	sort.Slice(eps, func(i, j int) bool { return eps[i].name < eps[j].name })

	var problems []string
	var since time.Time
	if appendErr != nil {
		problems = append(problems, fmt.Sprintf("cannot write the WAL: %v", appendErr))
		since = appendAt
	}
	for _, e := range eps {
		st := e.snapshot()
		if !st.failing {
			continue
		}
		p := fmt.Sprintf("endpoint %q: pushes failing since %s: %s", e.name, st.failingSince.UTC().Format(time.RFC3339), st.lastError)
		if e.durable {
			p += " (entries are kept in the WAL and retried)"
		}
		problems = append(problems, p)
		if st.lastErrorAt.After(since) {
			since = st.lastErrorAt
		}
	}
	if len(problems) > 0 {
		return component.Health{Health: component.HealthUnhealthy, Message: strings.Join(problems, "; "), UpdateTime: since}
	}
	var last time.Time
	for _, e := range eps {
		if t := e.snapshot().lastSuccess; t.After(last) {
			last = t
		}
	}
	msg := "ok"
	if len(eps) == 0 {
		msg = "no endpoints configured: entries are accepted and discarded"
	}
	return component.Health{Health: component.HealthHealthy, Message: msg, UpdateTime: last}
}

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
		d.Endpoints = append(d.Endpoints, EndpointDebug{
			Name:           e.name,
			URL:            e.args.redactedURL(),
			Healthy:        !st.failing,
			LastError:      st.lastError,
			LastErrorTime:  timeString(st.lastErrorAt),
			LastSuccess:    timeString(st.lastSuccess),
			EntriesSent:    st.entriesSent,
			BatchesSent:    st.batchesSent,
			EntriesDropped: st.dropped,
			BacklogBytes:   e.src.backlog(),
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
