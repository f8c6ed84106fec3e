package livedebug

import (
	"errors"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestInactiveUntilWatchedAndAfterClose(t *testing.T) {
	s := New()
	p := s.Publisher("loki.echo.x")
	called := false
	p.Publish("entry", component.LiveFunc(func() string { called = true; return "x" }))
	if p.Active() || called {
		t.Fatalf("a publisher nobody watches is active (%v) or formatted an event (%v)", p.Active(), called)
	}
	if _, err := s.Watch("loki.echo.x"); !errors.Is(err, ErrDisabled) {
		t.Fatalf("Watch with live debugging disabled: err = %v, want ErrDisabled", err)
	}
	s.SetEnabled(true)
	if p.Active() {
		t.Fatal("enabling live debugging made a publisher active with no viewer")
	}
	v, err := s.Watch("loki.echo.x")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Active() || s.Publisher("loki.echo.other").Active() {
		t.Fatal("only the watched component's publisher may be active")
	}
	v.Close()
	v.Close() // twice is fine
	if p.Active() || s.Viewers() != 0 {
		t.Fatalf("after its only viewer closed, active = %v, viewers = %d", p.Active(), s.Viewers())
	}
}

func TestEventsInOrderWithinBurst(t *testing.T) {
	_, p, v := watched(t, "c")
	for i := range 50 {
		p.Publish("entry", component.LiveFunc(func() string { return "line " + string(rune('A'+i%26)) }))
	}
	for i := range 50 {
		select {
		case e := <-v.Events():
			if want := "line " + string(rune('A'+i%26)); e.Text != want || e.Kind != "entry" || e.Time.IsZero() {
				t.Fatalf("event %d = %+v, want text %q of kind entry with a time", i, e, want)
			}
		default:
			t.Fatalf("only %d of 50 events arrived", i)
		}
	}
	if d := v.Tick(); d != 0 {
		t.Fatalf("50 events within the burst of %d: dropped = %d, want 0", Rate, d)
	}
}

// A publisher far over the rate: the viewer gets at most Rate events (the
// burst) plus Rate/10 per Tick, the rest is counted as dropped, and format
// runs only for the admitted ones.
func TestRateLimitSamplesAndCounts(t *testing.T) {
	_, p, v := watched(t, "c")
	formatted := 0
	publish := func(n int) {
		for range n {
			p.Publish("sample", component.LiveFunc(func() string { formatted++; return "s" }))
		}
	}
	publish(10_000)
	if formatted != Rate {
		t.Fatalf("formatted %d events of 10000 over a burst of %d; want exactly the admitted ones", formatted, Rate)
	}
	if d := v.Tick(); d != 10_000-Rate {
		t.Fatalf("dropped = %d, want %d", d, 10_000-Rate)
	}
	// Drain; the next tick admits Rate/10 more.
	for range Rate {
		<-v.Events()
	}
	formatted = 0
	publish(1000)
	if formatted != Rate/10 {
		t.Fatalf("after one tick, formatted %d events, want %d", formatted, Rate/10)
	}
	if d := v.Tick(); d != 1000-Rate/10 {
		t.Fatalf("dropped = %d, want %d", d, 1000-Rate/10)
	}
}

// A viewer that does not read loses events beyond its buffer; the
// publisher never blocks.
func TestFullBufferDropsWithoutBlocking(t *testing.T) {
	_, p, v := watched(t, "c")
	var total int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 40 { // 40 ticks' worth, never read
			for range Rate {
				p.Publish("sample", component.LiveFunc(func() string { return "s" }))
			}
			total += v.Tick()
		}
	}()
	testwait.Receive(t, 30*time.Second, done, "Publish blocked on a viewer that does not read")
	if len(v.Events()) != Buffer {
		t.Fatalf("buffer holds %d events, want it full (%d)", len(v.Events()), Buffer)
	}
	if want := int64(40*Rate - Buffer); total != want {
		t.Fatalf("dropped %d events, want %d (all but the buffered %d)", total, want, Buffer)
	}
}

func TestDisableAndRemoveCloseViewers(t *testing.T) {
	s := New()
	s.SetEnabled(true)
	a, _ := s.Watch("a")
	b, _ := s.Watch("b")
	s.Remove("a")
	select {
	case <-a.Done():
		if !strings.Contains(a.Reason(), "removed") {
			t.Fatalf("reason = %q", a.Reason())
		}
	default:
		t.Fatal("removing a component did not close its viewer")
	}
	s.SetEnabled(false)
	select {
	case <-b.Done():
		if !strings.Contains(b.Reason(), "disabled") {
			t.Fatalf("reason = %q", b.Reason())
		}
	default:
		t.Fatal("disabling live debugging did not close a viewer")
	}
	a.Close()
	b.Close()
	if s.Viewers() != 0 || s.Publisher("b").Active() {
		t.Fatalf("viewers = %d after all closed", s.Viewers())
	}
}

func TestMaxViewers(t *testing.T) {
	s := New()
	s.SetEnabled(true)
	var vs []*Viewer
	for range MaxViewers {
		v, err := s.Watch("c")
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if _, err := s.Watch("d"); !errors.Is(err, ErrTooManyViewers) {
		t.Fatalf("viewer %d: err = %v, want ErrTooManyViewers", MaxViewers+1, err)
	}
	vs[0].Close()
	v, err := s.Watch("d")
	if err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	v.Close()
	for _, v := range vs[1:] {
		v.Close()
	}
}

func TestLongTextIsCut(t *testing.T) {
	long := strings.Repeat("é", MaxText) // 2 bytes each
	got := cut(long)
	if len(got) > MaxText+40 || !strings.Contains(got, "more bytes)") || !strings.HasPrefix(long, strings.Split(got, "…")[0]) {
		t.Fatalf("cut to %d bytes: %q…", len(got), got[:40])
	}
}

// Publishers on many goroutines with viewers coming and going: run under
// -race.
func TestConcurrentPublishWatchClose(t *testing.T) {
	s := New()
	s.SetEnabled(true)
	p := s.Publisher("c")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					if p.Active() {
						p.Publish("sample", component.LiveFunc(func() string { return "s" }))
					}
				}
			}
		}()
	}
	for range 200 {
		v, err := s.Watch("c")
		if err != nil {
			t.Fatal(err)
		}
		v.Tick()
		v.Close()
	}
	close(stop)
	wg.Wait()
	if p.Active() {
		t.Fatal("still active with no viewer")
	}
}

// A LiveSampler stops calling Publish for LiveSkip events after one no
// viewer took, and its Flush keeps the viewer's drop count exact.
func TestLiveSamplerCountsWhatItSkips(t *testing.T) {
	_, p, v := watched(t, "c")
	var ls component.LiveSampler
	if !ls.Reset(p) {
		t.Fatal("Reset: not active with a viewer")
	}
	formatted := 0
	text := component.LiveFunc(func() string { formatted++; return "s" })
	const n = 100_000
	for range n {
		ls.Publish("sample", text)
	}
	ls.Flush()
	if formatted != Rate {
		t.Fatalf("formatted %d events, want the %d the rate admits", formatted, Rate)
	}
	if d := v.Tick(); d != n-Rate {
		t.Fatalf("dropped = %d, want %d (every event not shown)", d, n-Rate)
	}
	v.Close()
	if ls.Reset(p) {
		t.Fatal("Reset: active with no viewer")
	}
}

// watched enables live debugging on a new service and watches component
// id: the service, id's publisher and its viewer (closed when the test
// ends).
func watched(t *testing.T, id string) (*Service, *Publisher, *Viewer) {
	t.Helper()
	s := New()
	s.SetEnabled(true)
	p := s.Publisher(id)
	v, err := s.Watch(id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return s, p, v
}
