package runtime

import (
	"sync"
	"time"

	"github.com/flow-telemetry/flow/runtime/component"
)

// Event is a change the API streams to the UI (GET /api/v0/events).
type Event struct {
	// Type is "health", "evaluation" or "graph".
	Type string
	// Data is the event's JSON payload.
	Data any
}

// HealthEvent is the data of a "health" event: one change of a component's
// combined health, the newest entry of its ComponentDetail.HealthHistory.
type HealthEvent struct {
	ID     string           `json:"id"`
	Health component.Health `json:"health"`
}

// EvaluationEvent is the data of an "evaluation" event.
type EvaluationEvent struct {
	ID string `json:"id"`
	Evaluation
}

// GraphEvent is the data of a "graph" event: components were added or removed.
type GraphEvent struct{}

// eventBus fans events out to subscribers. A subscriber that falls behind
// loses events rather than slowing the runtime down; the UI refetches on
// reconnect anyway.
type eventBus struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
}

func newEventBus() *eventBus { return &eventBus{subs: map[chan Event]struct{}{}} }

func (b *eventBus) publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

func (b *eventBus) active() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs) > 0
}

// Subscribe returns a channel of events and a function that ends the
// subscription. Events are dropped if the channel's buffer is full.
func (r *Runtime) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 256)
	r.events.mu.Lock()
	r.events.subs[ch] = struct{}{}
	r.events.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			r.events.mu.Lock()
			delete(r.events.subs, ch)
			r.events.mu.Unlock()
		})
	}
}

// announceHealth records a change of st's combined health since the last
// announcement in its health history and publishes it as a health event.
// It runs after every evaluation, when Run starts and returns, and every
// second for component-reported health (which components do not push), so
// a reported state that lasts less than a second may go unrecorded.
//
// Announcements of one component are serialised (announceMu), so a caller
// that read the health earlier cannot record it after a newer one, and the
// events go out in the history's order.
func (r *Runtime) announceHealth(st *nodeState) {
	st.announceMu.Lock()
	defer st.announceMu.Unlock()
	h := st.health()
	st.mu.Lock()
	prev := st.reported
	changed := prev.Health != h.Health || prev.Message != h.Message
	if changed {
		st.reported = h
		st.recordHealthChange(h, time.Now())
	}
	st.mu.Unlock()
	if changed {
		r.events.publish(Event{Type: "health", Data: HealthEvent{ID: st.id, Health: h}})
	}
}

// pollHealth announces changes of component-reported health, which
// components do not push.
func (r *Runtime) pollHealth() {
	for _, n := range r.graph.Load().nodes {
		r.announceHealth(n.st)
	}
}

func (r *Runtime) announceEvaluation(st *nodeState, e Evaluation) {
	r.events.publish(Event{Type: "evaluation", Data: EvaluationEvent{ID: st.id, Evaluation: e}})
}
