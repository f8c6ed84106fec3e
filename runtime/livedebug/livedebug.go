// Package livedebug is the runtime's live debugging service, Alloy's
// `livedebugging`: components publish what passes through them (samples,
// log entries, target sets, credential refreshes) and viewers (the Live tab
// of a component's page, through GET /api/v0/components/{id}/live) receive
// it.
//
// The service is built so that the data path pays nothing when nobody
// watches: a component's Publisher answers Active with one atomic load of
// its viewer list, which is nil unless a viewer watches that component, and
// a viewer exists only while live debugging is enabled.
//
// With viewers, each one is bounded on its own, so a component passing 100k
// samples a second can neither flood a browser nor slow its pipeline:
//
//   - a token bucket admits at most Rate events a second (bursts up to
//     Rate), checked with one atomic add per event before the event's text
//     is formatted; events over the rate are sampled out and counted;
//   - admitted events go to a channel of Buffer events with a non-blocking
//     send: when the viewer's connection falls behind, events are dropped
//     and counted, never waited for;
//   - one event's text is cut at MaxText bytes;
//   - at most MaxViewers viewers exist at once, across all components.
//
// The viewer learns how many events it lost from Viewer.Tick.
package livedebug

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/flow-telemetry/flow/runtime/component"
)

// Limits of one viewer and of the service, documented in docs/security.md.
const (
	// Rate is how many events a second one viewer receives at most; a
	// burst of up to Rate events passes at once.
	Rate = 200
	// Buffer is how many admitted events wait for one viewer's
	// connection; more are dropped.
	Buffer = 256
	// MaxText bounds one event's text, in bytes; a longer text (a long
	// log line) is cut and says how much was cut.
	MaxText = 2048
	// MaxViewers bounds the viewers watching at once, all components
	// together.
	MaxViewers = 32
	// TickInterval is how often a viewer's consumer should call Tick: the
	// token bucket is refilled by Rate/10 each time.
	TickInterval = 100 * time.Millisecond
)

// Errors of Watch.
var (
	ErrDisabled = errors.New("live debugging is disabled: add `livedebugging { enabled = true }` to the config " +
		"(a top-level block, as in Grafana Alloy) and reload")
	ErrTooManyViewers = fmt.Errorf("too many live debugging viewers: at most %d may watch at once; close another Live tab", MaxViewers)
)

// Event is one thing a component published.
type Event struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	Text string    `json:"text"`
}

// Service holds the publishers of every component and their viewers. Its
// methods are safe for concurrent use.
type Service struct {
	enabled atomic.Bool

	mu      sync.Mutex
	pubs    map[string]*Publisher
	viewers int
}

// New returns a service with live debugging disabled.
func New() *Service { return &Service{pubs: map[string]*Publisher{}} }

// Enabled reports whether live debugging is on.
func (s *Service) Enabled() bool { return s.enabled.Load() }

// SetEnabled switches live debugging on or off; off closes every viewer.
func (s *Service) SetEnabled(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enabled.Store(on)
	if on {
		return
	}
	for _, p := range s.pubs {
		s.closeViewersLocked(p, "live debugging was disabled (the livedebugging block was removed or set enabled = false)")
	}
}

// Publisher returns the publisher of the component with this ID, making it
// on first use.
func (s *Service) Publisher(id string) *Publisher {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publisherLocked(id)
}

func (s *Service) publisherLocked(id string) *Publisher {
	p := s.pubs[id]
	if p == nil {
		p = &Publisher{svc: s, id: id}
		s.pubs[id] = p
	}
	return p
}

// Remove forgets a component that left the config; its viewers are closed.
func (s *Service) Remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.pubs[id]; p != nil {
		s.closeViewersLocked(p, "the component was removed from the config")
		delete(s.pubs, id)
	}
}

func (s *Service) closeViewersLocked(p *Publisher, reason string) {
	vs := p.viewers.Load()
	if vs == nil {
		return
	}
	for _, v := range *vs {
		v.closeLocked(reason)
	}
	s.viewers -= len(*vs)
	p.viewers.Store(nil)
}

// Watch adds a viewer of the component with this ID. The caller must Close
// it and call Tick every TickInterval while it reads Events.
func (s *Service) Watch(id string) (*Viewer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.enabled.Load() {
		return nil, ErrDisabled
	}
	if s.viewers >= MaxViewers {
		return nil, ErrTooManyViewers
	}
	p := s.publisherLocked(id)
	v := &Viewer{pub: p, ch: make(chan Event, Buffer), done: make(chan struct{})}
	v.tokens.Store(Rate)
	var next []*Viewer
	if old := p.viewers.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, v)
	p.viewers.Store(&next)
	s.viewers++
	return v, nil
}

// Viewers returns how many viewers watch now, all components together.
func (s *Service) Viewers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.viewers
}

// Publisher is one component's side of live debugging: it implements
// component.LiveDebug and component.LiveDebugSwitch.
type Publisher struct {
	svc *Service
	id  string
	// viewers is nil when nobody watches (the fast path), else a list
	// replaced as a whole (copy on write) under svc.mu.
	viewers atomic.Pointer[[]*Viewer]
}

// Active reports whether anyone watches this component: one atomic load.
func (p *Publisher) Active() bool { return p.viewers.Load() != nil }

// Publish offers one event to every viewer; text.LiveText is called once,
// only if some viewer's rate admits the event. It never blocks, and
// reports whether a viewer took the event.
func (p *Publisher) Publish(kind string, text component.LiveText) bool {
	vs := p.viewers.Load()
	if vs == nil {
		return false
	}
	var ev Event
	made := false
	for _, v := range *vs {
		if !v.admit() {
			continue
		}
		if !made {
			ev = Event{Time: time.Now(), Kind: kind, Text: cut(text.LiveText())}
			made = true
		}
		select {
		case v.ch <- ev:
		default:
			v.lost.Add(1)
		}
	}
	return made
}

// Dropped counts n events the component left out before Publish (a
// component.LiveSampler) as dropped for every viewer.
func (p *Publisher) Dropped(n int) {
	if vs := p.viewers.Load(); vs != nil {
		for _, v := range *vs {
			v.lost.Add(int64(n))
		}
	}
}

// SetLiveDebugging switches live debugging on or off for the whole agent
// (the livedebugging block calls it).
func (p *Publisher) SetLiveDebugging(on bool) { p.svc.SetEnabled(on) }

// cut bounds an event's text to MaxText bytes, on a rune boundary.
func cut(s string) string {
	if len(s) <= MaxText {
		return s
	}
	n := MaxText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s… (%d more bytes)", s[:n], len(s)-n)
}

// Viewer receives one component's events within its bounds.
type Viewer struct {
	pub *Publisher
	ch  chan Event
	// tokens is the token bucket: an event is admitted when taking one
	// leaves it non-negative. It goes below zero by the number of events
	// refused since the last Tick.
	tokens atomic.Int64
	// lost counts admitted events dropped because ch was full, and those
	// the component left out itself (Dropped).
	lost atomic.Int64

	done   chan struct{}
	closed bool // under svc.mu
	reason string
}

func (v *Viewer) admit() bool { return v.tokens.Add(-1) >= 0 }

// Events delivers the admitted events in the order they were published (per
// publishing goroutine).
func (v *Viewer) Events() <-chan Event { return v.ch }

// Done is closed when the service ends the viewer (live debugging disabled,
// component removed); Reason then says why.
func (v *Viewer) Done() <-chan struct{} { return v.done }

// Reason says why Done was closed.
func (v *Viewer) Reason() string {
	v.pub.svc.mu.Lock()
	defer v.pub.svc.mu.Unlock()
	return v.reason
}

// Tick refills the token bucket by a tenth of Rate (up to Rate) and returns
// how many events were lost since the last Tick, over the rate or to a full
// buffer. Call it every TickInterval.
func (v *Viewer) Tick() (dropped int64) {
	for {
		cur := v.tokens.Load()
		next := max(cur, 0) + Rate/10
		next = min(next, Rate)
		if v.tokens.CompareAndSwap(cur, next) {
			if cur < 0 {
				dropped = -cur
			}
			break
		}
	}
	return dropped + v.lost.Swap(0)
}

// Close ends the viewer; the component's data path is back to its fast path
// once its last viewer is closed.
func (v *Viewer) Close() {
	s := v.pub.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	if v.closed {
		return
	}
	v.closeLocked("closed")
	s.viewers--
	old := v.pub.viewers.Load()
	if old == nil {
		return
	}
	var next []*Viewer
	for _, o := range *old {
		if o != v {
			next = append(next, o)
		}
	}
	if len(next) == 0 {
		v.pub.viewers.Store(nil)
	} else {
		v.pub.viewers.Store(&next)
	}
}

func (v *Viewer) closeLocked(reason string) {
	if v.closed {
		return
	}
	v.closed = true
	v.reason = reason
	close(v.done)
}
