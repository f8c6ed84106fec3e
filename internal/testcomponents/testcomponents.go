// Package testcomponents provides components that exercise the runtime in
// tests: a counter whose exports change on a timer or on demand, a
// passthrough that exports its input, a component that fails or panics where
// told (or fails Build a given number of times), and a source/sink pair whose
// receiver is Countable.
//
// It registers nothing by itself. A Go test makes its own set with New, so
// what the components report (stop order, Build attempts) belongs to that
// test alone, and runs it with
//
//	env := testcomponents.New()
//	f := flowtest.Start(t, src, flowtest.Components(env.Registrations()...))
//
// Release builds never contain them: the flow binary registers them only
// from cmd/flow/testcomponents.go, which has the build constraint
// `testcomponents`. Tests that need them in a real `flow run` (the browser
// tests in web/ui, whose timer-driven counter shows live re-evaluations)
// build it with
//
//	go build -tags testcomponents ./cmd/flow
//
// It lives under the module's internal/ rather than runtime/internal/ so
// cmd/flow may import it.
package testcomponents

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// Env is one set of test components and the state they report: the order
// in which components stopped, Build attempts, a hook on passthrough updates,
// and the gate holding ignore_cancel Runs. Each test makes its own with New
// and registers Registrations in a registry of its own
// (flowtest.Components), so tests sharing no state can run in parallel.
type Env struct {
	// StopOrder records the IDs of components whose Run returned, in
	// order, so tests can check that sources stop before sinks.
	StopOrder StopOrder
	// BuildAttempts records when testcomponents.fail's Build was called,
	// per component ID, so tests can see retries and their spacing.
	BuildAttempts Attempts

	onPassthroughUpdate atomic.Pointer[func(id, output string)]

	releaseOnce sync.Once
	stuck       chan struct{}
}

// New returns a set of test components with fresh state.
func New() *Env { return &Env{stuck: make(chan struct{})} }

// OnPassthroughUpdate makes every passthrough call f (nil: nothing) after it
// applied new arguments (Build included), with its ID and output.
// Benchmarks use it to see when a change has reached every dependant.
func (e *Env) OnPassthroughUpdate(f func(id, output string)) {
	if f == nil {
		e.onPassthroughUpdate.Store(nil)
		return
	}
	e.onPassthroughUpdate.Store(&f)
}

// ReleaseStuck lets every Run blocked by ignore_cancel return, and later
// ones return as soon as they are cancelled.
func (e *Env) ReleaseStuck() { e.releaseOnce.Do(func() { close(e.stuck) }) }

// Registrations returns the test components of e, to be registered in a
// test's own registry (or, by the flow binary built with -tags
// testcomponents, in the default one).
func (e *Env) Registrations() []component.Registration {
	return []component.Registration{
		{
			Name:    "testcomponents.counter",
			Args:    CounterArgs{},
			Exports: CounterExports{},
			Build: func(o component.Options, a component.Arguments) (component.Component, error) {
				c := &Counter{env: e, opts: o, args: a.(CounterArgs), kick: make(chan struct{}, 1)}
				c.gauge = prometheus.NewGauge(prometheus.GaugeOpts{Name: "testcomponents_counter_count", Help: "The counter's count."})
				if err := o.Registerer.Register(c.gauge); err != nil {
					return nil, err
				}
				o.OnStateChange(CounterExports{Count: 0})
				return c, nil
			},
		},
		{
			Name:       "testcomponents.passthrough",
			NoDataPath: true,
			Args:       PassthroughArgs{},
			Exports:    PassthroughExports{},
			Build: func(o component.Options, a component.Arguments) (component.Component, error) {
				p := &Passthrough{env: e, opts: o}
				if err := p.Update(a); err != nil {
					return nil, err
				}
				p.updates.Store(0) // the first arguments are not an update
				return p, nil
			},
		},
		{
			Name:       "testcomponents.fail",
			NoDataPath: true,
			Args:       FailArgs{},
			Build: func(o component.Options, a component.Arguments) (component.Component, error) {
				args := a.(FailArgs)
				attempt := e.BuildAttempts.add(o.ID)
				if args.PanicIn == "build" {
					panic("boom in build")
				}
				if args.FailBuilds > 0 {
					if attempt <= args.FailBuilds {
						msg := args.BuildError
						if msg == "" {
							msg = fmt.Sprintf("build failure %d of %d", attempt, args.FailBuilds)
						}
						return nil, errors.New(msg)
					}
				} else if args.BuildError != "" {
					return nil, errors.New(args.BuildError)
				}
				f := &Fail{stuck: e.stuck}
				f.args.Store(&args)
				return f, nil
			},
		},
		{
			Name:       "testcomponents.sink",
			NoDataPath: true,
			Args:       SinkArgs{},
			Exports:    SinkExports{},
			Build: func(o component.Options, a component.Arguments) (component.Component, error) {
				s := &Sink{env: e, id: o.ID}
				o.OnStateChange(SinkExports{Receiver: &receiver{sink: s}})
				return s, nil
			},
		},
		{
			Name:       "testcomponents.source",
			NoDataPath: true,
			Args:       SourceArgs{},
			Build: func(o component.Options, a component.Arguments) (component.Component, error) {
				s := &Source{env: e, id: o.ID}
				s.args.Store(ptr(a.(SourceArgs)))
				return s, nil
			},
		},
		{
			Name:       "testcomponents.secret",
			NoDataPath: true,
			Args:       SecretArgs{},
			Exports:    SecretExports{},
			Build: func(o component.Options, a component.Arguments) (component.Component, error) {
				s := &Secret{opts: o}
				return s, s.Update(a)
			},
		},
		{
			Name:       "testcomponents.targets",
			NoDataPath: true,
			Args:       TargetsArgs{},
			Exports:    TargetsExports{},
			Build: func(o component.Options, a component.Arguments) (component.Component, error) {
				t := &Targets{opts: o}
				return t, t.Update(a)
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// StopOrder records component IDs in the order their Run returned.
type StopOrder struct {
	mu  sync.Mutex
	ids []string
}

func (s *StopOrder) add(id string) {
	s.mu.Lock()
	s.ids = append(s.ids, id)
	s.mu.Unlock()
}

// IDs returns the recorded IDs.
func (s *StopOrder) IDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

// CounterArgs configure testcomponents.counter.
type CounterArgs struct {
	// Frequency is how often the count goes up; 0 means only on Increment.
	Frequency time.Duration `river:"frequency,attr,optional"`
	// Max stops the count there; 0 means no limit.
	Max int `river:"max,attr,optional"`
}

// CounterExports is what testcomponents.counter exports.
type CounterExports struct {
	Count int `river:"count,attr"`
}

// Counter exports a count that goes up on a timer or on Increment.
type Counter struct {
	env     *Env
	opts    component.Options
	mu      sync.Mutex
	args    CounterArgs
	count   int
	kick    chan struct{}
	running atomic.Bool
	gauge   prometheus.Gauge
}

// Increment adds one to the count and publishes it.
func (c *Counter) Increment() {
	c.mu.Lock()
	c.count++
	n := c.count
	c.mu.Unlock()
	c.gauge.Set(float64(n))
	c.opts.OnStateChange(CounterExports{Count: n})
}

// Running reports whether Run is running.
func (c *Counter) Running() bool { return c.running.Load() }

func (c *Counter) Run(ctx context.Context) error {
	c.running.Store(true)
	defer c.running.Store(false)
	defer c.env.StopOrder.add(c.opts.ID)
	for {
		c.mu.Lock()
		freq := c.args.Frequency
		c.mu.Unlock()
		var tick <-chan time.Time
		var timer *time.Timer
		if freq > 0 {
			timer = time.NewTimer(freq)
			tick = timer.C
		}
		stopTimer := func() {
			if timer != nil {
				timer.Stop()
			}
		}
		select {
		case <-ctx.Done():
			stopTimer()
			return nil
		case <-c.kick:
			stopTimer()
		case <-tick:
			c.mu.Lock()
			stop := c.args.Max > 0 && c.count >= c.args.Max
			c.mu.Unlock()
			if !stop {
				c.Increment()
			}
		}
	}
}

func (c *Counter) Update(a component.Arguments) error {
	c.mu.Lock()
	c.args = a.(CounterArgs)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

// PassthroughArgs configure testcomponents.passthrough.
type PassthroughArgs struct {
	// Input is any value; Output is its text (fmt.Sprint), Value the value.
	Input  any   `river:"input,attr,optional"`
	Inputs []any `river:"inputs,attr,optional"`
	// Lag delays Update, to hold a wave while a test makes a burst.
	Lag time.Duration `river:"lag,attr,optional"`
	// StopLag delays Run's return after cancellation: a component that
	// takes a moment to stop.
	StopLag time.Duration `river:"stop_lag,attr,optional"`
}

// PassthroughExports is what testcomponents.passthrough exports.
type PassthroughExports struct {
	// Output is input followed by inputs joined with commas, as text.
	Output string `river:"output,attr"`
	// Value is the input as given.
	Value any `river:"value,attr"`
	// ID never changes, for tests of evaluations that change no argument.
	ID string `river:"id,attr"`
}

// Passthrough exports its input.
type Passthrough struct {
	env     *Env
	opts    component.Options
	mu      sync.Mutex
	args    PassthroughArgs
	updates atomic.Int64
	running atomic.Bool
}

func (p *Passthrough) Run(ctx context.Context) error {
	p.running.Store(true)
	defer p.running.Store(false)
	defer p.env.StopOrder.add(p.opts.ID)
	<-ctx.Done()
	p.mu.Lock()
	lag := p.args.StopLag
	p.mu.Unlock()
	time.Sleep(lag)
	return nil
}

func (p *Passthrough) Update(a component.Arguments) error {
	args := a.(PassthroughArgs)
	if args.Lag > 0 {
		time.Sleep(args.Lag)
	}
	p.mu.Lock()
	p.args = args
	p.mu.Unlock()
	p.updates.Add(1)
	var out string
	if args.Input != nil {
		out = fmt.Sprint(args.Input)
	}
	if len(args.Inputs) > 0 {
		parts := make([]string, len(args.Inputs))
		for i, in := range args.Inputs {
			parts[i] = fmt.Sprint(in)
		}
		out += strings.Join(parts, ",")
	}
	p.opts.OnStateChange(PassthroughExports{Output: out, Value: args.Input, ID: p.opts.ID})
	if f := p.env.onPassthroughUpdate.Load(); f != nil {
		(*f)(p.opts.ID, out)
	}
	return nil
}

// Updates returns how many times Update was called after Build.
func (p *Passthrough) Updates() int64 { return p.updates.Load() }

// Args returns the last arguments.
func (p *Passthrough) Args() PassthroughArgs {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.args
}

// Running reports whether Run is running.
func (p *Passthrough) Running() bool { return p.running.Load() }

// FailArgs say where testcomponents.fail fails.
type FailArgs struct {
	// PanicIn is "build", "update" or "run".
	PanicIn string `river:"panic_in,attr,optional"`
	// BuildError makes Build return this error: always, or with FailBuilds
	// only on the failing attempts.
	BuildError string `river:"build_error,attr,optional"`
	// FailBuilds makes the first FailBuilds Build attempts of this component
	// ID fail (counted in Env.BuildAttempts), as a listener whose port is taken
	// for a while would; later attempts succeed.
	FailBuilds int `river:"fail_builds,attr,optional"`
	// RunError makes Run return this error at once.
	RunError string `river:"run_error,attr,optional"`
	// Unhealthy makes the component report itself unhealthy with this message.
	Unhealthy string `river:"unhealthy,attr,optional"`
	// Version exists to change the arguments (and so call Update).
	Version int `river:"version,attr,optional"`
	// IgnoreCancel makes Run ignore its context until Env.ReleaseStuck.
	IgnoreCancel bool `river:"ignore_cancel,attr,optional"`
}

// Attempts records when Build was called, per component ID.
type Attempts struct {
	mu    sync.Mutex
	times map[string][]time.Time
}

// add records an attempt now and returns how many there were for id.
func (a *Attempts) add(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.times == nil {
		a.times = map[string][]time.Time{}
	}
	a.times[id] = append(a.times[id], time.Now())
	return len(a.times[id])
}

// Times returns when Build was called for id, oldest first.
func (a *Attempts) Times(id string) []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.times[id]...)
}

// Count returns how many times Build was called for id.
func (a *Attempts) Count(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.times[id])
}

// Fail fails or panics as its arguments say.
type Fail struct {
	args  atomic.Pointer[FailArgs]
	stuck <-chan struct{} // closed by Env.ReleaseStuck
}

func (f *Fail) Run(ctx context.Context) error {
	a := f.args.Load()
	if a.PanicIn == "run" {
		panic("boom in run")
	}
	if a.RunError != "" {
		return errors.New(a.RunError)
	}
	if a.IgnoreCancel {
		<-f.stuck
		return nil
	}
	<-ctx.Done()
	return nil
}

func (f *Fail) Update(a component.Arguments) error {
	args := a.(FailArgs)
	if args.PanicIn == "update" {
		panic("boom in update")
	}
	f.args.Store(&args)
	return nil
}

func (f *Fail) CurrentHealth() component.Health {
	if msg := f.args.Load().Unhealthy; msg != "" {
		return component.Health{Health: component.HealthUnhealthy, Message: msg, UpdateTime: time.Now()}
	}
	return component.Health{Health: component.HealthHealthy, Message: "fine", UpdateTime: time.Time{}}
}

// Receiver takes items.
type Receiver interface {
	Receive(n int)
}

type receiver struct{ sink *Sink }

func (r *receiver) Receive(n int) { r.sink.received.Add(int64(n)) }

// WithCounter makes receiver a component.Countable.
func (r *receiver) WithCounter(f func(int)) any { return &countingReceiver{next: r, count: f} }

type countingReceiver struct {
	next  Receiver
	count func(int)
}

func (c *countingReceiver) Receive(n int) {
	c.count(n)
	c.next.Receive(n)
}

// SinkArgs configure testcomponents.sink (nothing).
type SinkArgs struct{}

// SinkExports is what testcomponents.sink exports.
type SinkExports struct {
	Receiver Receiver `river:"receiver,attr"`
}

// Sink counts the items it receives.
type Sink struct {
	env      *Env
	id       string
	received atomic.Int64
}

// Received returns how many items arrived.
func (s *Sink) Received() int64 { return s.received.Load() }

func (s *Sink) Run(ctx context.Context) error {
	<-ctx.Done()
	s.env.StopOrder.add(s.id)
	return nil
}

func (s *Sink) Update(component.Arguments) error { return nil }

// Handler makes the sink a component.HTTPComponent: it serves the number of
// items received.
func (s *Sink) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s received %d at %s\n", s.id, s.received.Load(), r.URL.Path)
	})
}

// SourceArgs configure testcomponents.source.
type SourceArgs struct {
	ForwardTo []Receiver `river:"forward_to,attr"`
}

// Source sends items to its receivers on Send.
type Source struct {
	env  *Env
	id   string
	args atomic.Pointer[SourceArgs]
}

// Send sends n items to every receiver.
func (s *Source) Send(n int) {
	for _, r := range s.args.Load().ForwardTo {
		r.Receive(n)
	}
}

// Receivers returns the receivers it was given.
func (s *Source) Receivers() []Receiver { return s.args.Load().ForwardTo }

func (s *Source) Run(ctx context.Context) error {
	<-ctx.Done()
	s.env.StopOrder.add(s.id)
	return nil
}

func (s *Source) Update(a component.Arguments) error {
	s.args.Store(ptr(a.(SourceArgs)))
	return nil
}

// SecretArgs configure testcomponents.secret.
type SecretArgs struct {
	Password value.Secret `river:"password,attr"`
	URL      value.URL    `river:"url,attr,optional"`
}

// SecretExports is what testcomponents.secret exports.
type SecretExports struct {
	Password value.Secret `river:"password,attr"`
	URL      value.URL    `river:"url,attr"`
}

// Secret exports its password and URL.
type Secret struct{ opts component.Options }

func (s *Secret) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (s *Secret) Update(a component.Arguments) error {
	args := a.(SecretArgs)
	s.opts.OnStateChange(SecretExports(args))
	return nil
}

// TargetsArgs configure testcomponents.targets.
type TargetsArgs struct {
	Count int `river:"count,attr"`
}

// TargetsExports is what testcomponents.targets exports.
type TargetsExports struct {
	Targets []map[string]string `river:"targets,attr"`
}

// Targets exports count targets.
type Targets struct{ opts component.Options }

func (t *Targets) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (t *Targets) Update(a component.Arguments) error {
	n := a.(TargetsArgs).Count
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{"__address__": "127.0.0.1:" + strconv.Itoa(9000+i)}
	}
	t.opts.OnStateChange(TargetsExports{Targets: out})
	return nil
}
