package remotewrite

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// endpointStatus is what health and debug info know of one endpoint's
// sends. It belongs to the endpoint, not to its client: a reload that
// rebuilds the client keeps it, so health and counters carry over.
type endpointStatus struct {
	mu sync.Mutex
	// requests and failedRequests count HTTP requests (each retry is one).
	requests, failedRequests uint64
	// failing: a send failed and the queue is retrying it.
	failing bool
	// failingSince is the first failure (retried or dropped) since the last
	// successful send; zero after one.
	failingSince time.Time
	lastError    string
	lastErrorAt  time.Time
	lastSuccess  time.Time
	// dropped counts samples (and histograms) the endpoint refused for good
	// since start; recentDropped those since the last successful send:
	// health is unhealthy while it is not 0, and names the last reason.
	dropped, recentDropped        int64
	lastDropAt                    time.Time
	lastDropReason, lastDropError string
}

func (s *endpointStatus) request(ok bool) {
	s.mu.Lock()
	s.requests++
	if !ok {
		s.failedRequests++
	}
	s.mu.Unlock()
}

func (s *endpointStatus) succeed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = false
	s.failingSince = time.Time{}
	s.recentDropped = 0
	s.lastSuccess = time.Now()
}

func (s *endpointStatus) fail(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.failing = true
	if s.failingSince.IsZero() {
		s.failingSince = now
	}
	s.lastError, s.lastErrorAt = msg, now
}

func (s *endpointStatus) drop(n int64, reason, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.dropped += n
	s.recentDropped += n
	s.lastDropAt, s.lastDropReason, s.lastDropError = now, reason, msg
	// This request's retries (if any) are over; the next failure starts anew.
	s.failing = false
	if s.failingSince.IsZero() {
		s.failingSince = now
	}
	s.lastError, s.lastErrorAt = msg, now
}

// snapshot copies the status, for reading without the lock.
type statusSnapshot struct {
	requests, failedRequests      uint64
	failing                       bool
	failingSince                  time.Time
	lastError                     string
	lastErrorAt, lastSuccess      time.Time
	dropped, recentDropped        int64
	lastDropAt                    time.Time
	lastDropReason, lastDropError string
}

func (s *endpointStatus) snapshot() statusSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return statusSnapshot{
		requests: s.requests, failedRequests: s.failedRequests,
		failing: s.failing, failingSince: s.failingSince,
		lastError: s.lastError, lastErrorAt: s.lastErrorAt, lastSuccess: s.lastSuccess,
		dropped: s.dropped, recentDropped: s.recentDropped,
		lastDropAt: s.lastDropAt, lastDropReason: s.lastDropReason, lastDropError: s.lastDropError,
	}
}

// endpointHealth describes the named endpoint for the component's health:
// problems make it unhealthy (sends being retried, saying where the samples
// wait; drops since the last successful send, saying they are not retried);
// notes are kept in a healthy message (drops since start). since is the
// latest problem's time. Every clause says only what the endpoint does.
func endpointHealth(name string, cl *endpointClient, wal WALOptions) (problems, notes []string, since time.Time) {
	st := cl.st.snapshot()
	if st.failing {
		problems = append(problems, fmt.Sprintf("endpoint %q (%s): sends failing since %s: %s (%s)",
			name, cl.url, rfc3339(st.failingSince), st.lastError, retryNote(&cl.settings, wal)))
	}
	if st.recentDropped > 0 {
		problems = append(problems, fmt.Sprintf("endpoint %q (%s): dropped %d %s since the last successful send, not retried (last at %s, reason %s: %s)",
			name, cl.url, st.recentDropped, plural(st.recentDropped, "sample", "samples"), rfc3339(st.lastDropAt), st.lastDropReason, st.lastDropError))
	} else if st.dropped > 0 {
		notes = append(notes, fmt.Sprintf("endpoint %q has dropped %d %s since start (last at %s, reason %s)",
			name, st.dropped, plural(st.dropped, "sample", "samples"), rfc3339(st.lastDropAt), st.lastDropReason))
	}
	if st.failing || st.recentDropped > 0 {
		since = st.lastErrorAt
	}
	return problems, notes, since
}

// retryNote says where a failing endpoint's samples wait. The queue
// retries a failed request with backoff for as long as it fails; behind it
// the WAL tailer waits, and the WAL keeps samples for at most
// max_keepalive_time, whether sent or not.
func retryNote(ep *EndpointOptions, wal WALOptions) string {
	note := fmt.Sprintf("samples are kept in the WAL and retried until the endpoint accepts them; the WAL keeps samples for at most max_keepalive_time = %s", wal.MaxKeepaliveTime)
	if ep.QueueOptions.SampleAgeLimit > 0 {
		note += fmt.Sprintf(", and samples older than sample_age_limit = %s are dropped instead of retried", ep.QueueOptions.SampleAgeLimit)
	}
	return note
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// timeString is t in RFC 3339, or "" for the zero time (never happened).
func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// observerState is an endpoint's send figures in debug info.
type observerState struct {
	Healthy          bool   `river:"healthy,attr"`
	Requests         uint64 `river:"requests,attr"`
	Failed           uint64 `river:"failed_requests,attr"`
	LastSuccess      string `river:"last_success,attr,optional"`
	LastFailure      string `river:"last_failure,attr,optional"`
	LastError        string `river:"last_error,attr,optional"`
	FailingSince     string `river:"failing_since,attr,optional"`
	SamplesDropped   int64  `river:"samples_dropped,attr"`
	LastDropReason   string `river:"last_drop_reason,attr,optional"`
	LastDropTime     string `river:"last_drop_time,attr,optional"`
	RetryOnAuthError bool   `river:"retry_on_http_auth_error,attr"`
}

func (c *endpointClient) state() observerState {
	st := c.st.snapshot()
	return observerState{
		Healthy:          !st.failing && st.recentDropped == 0,
		Requests:         st.requests,
		Failed:           st.failedRequests,
		LastSuccess:      timeString(st.lastSuccess),
		LastFailure:      timeString(st.lastErrorAt),
		LastError:        st.lastError,
		FailingSince:     timeString(st.failingSince),
		SamplesDropped:   st.dropped,
		LastDropReason:   st.lastDropReason,
		LastDropTime:     timeString(st.lastDropAt),
		RetryOnAuthError: c.settings.RetryOnHTTPAuthError,
	}
}

// metrics are prometheus.remote_write's own metrics, next to those of
// the queue (prometheus_remote_storage_*, named as Prometheus' queue manager names them).
type metrics struct {
	droppedSamples *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		droppedSamples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prometheus_remote_write_dropped_samples_total",
			Help: "Samples (and native histograms) an endpoint refused for good, not retried, by reason: the HTTP status (400, 413, …; 401/403 only with retry_on_http_auth_error = false, 429 only with retry_on_http_429 = false).",
		}, []string{"endpoint", "reason"}),
	}
	if reg != nil {
		if err := reg.Register(m.droppedSamples); err != nil {
			return nil, fmt.Errorf("registering prometheus.remote_write metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg != nil {
		reg.Unregister(m.droppedSamples)
	}
}
