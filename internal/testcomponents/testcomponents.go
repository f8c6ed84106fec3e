// Package testcomponents registers components that exercise the runtime in
// tests: a counter whose exports change on a timer or on demand, a
// passthrough that exports its input, a component that fails or panics where
// told (or fails Build a given number of times), and a source/sink pair whose
// receiver is Countable.
//
// Release builds never contain them: the flow binary imports this package
// only from cmd/flow/testcomponents.go, which has the build constraint
// `testcomponents`. Tests that need them in a real `flow run` (the browser
// tests in web/ui, whose timer-driven counter shows live re-evaluations)
// build it with
//
//	go build -tags testcomponents ./cmd/flow
//
// Go tests import the package directly. It lives under the module's
// internal/ rather than runtime/internal/ so cmd/flow may import it.
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

func init() {
	component.Register(component.Registration{
		Name:    "testcomponents.counter",
		Args:    CounterArgs{},
		Exports: CounterExports{},
		Build: func(o component.Options, a component.Arguments) (component.Component, error) {
			c := &Counter{opts: o, args: a.(CounterArgs), kick: make(chan struct{}, 1)}
			c.gauge = prometheus.NewGauge(prometheus.GaugeOpts{Name: "testcomponents_counter_count", Help: "The counter's count."})
			if err := o.Registerer.Register(c.gauge); err != nil {
				return nil, err
			}
			o.OnStateChange(CounterExports{Count: 0})
			return c, nil
		},
	})
	component.Register(component.Registration{
		Name:       "testcomponents.passthrough",
		NoDataPath: true,
		Args:       PassthroughArgs{},
		Exports:    PassthroughExports{},
		Build: func(o component.Options, a component.Arguments) (component.Component, error) {
			p := &Passthrough{opts: o}
			if err := p.Update(a); err != nil {
				return nil, err
			}
			p.updates.Store(0) // the first arguments are not an update
			return p, nil
		},
	})
	component.Register(component.Registration{
		Name:       "testcomponents.fail",
		NoDataPath: true,
		Args:       FailArgs{},
		Build: func(o component.Options, a component.Arguments) (component.Component, error) {
			args := a.(FailArgs)
			attempt := BuildAttempts.add(o.ID)
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
			f := &Fail{}
			f.args.Store(&args)
			return f, nil
		},
	})
	component.Register(component.Registration{
		Name:       "testcomponents.sink",
		NoDataPath: true,
		Args:       SinkArgs{},
		Exports:    SinkExports{},
		Build: func(o component.Options, a component.Arguments) (component.Component, error) {
			s := &Sink{id: o.ID}
			o.OnStateChange(SinkExports{Receiver: &receiver{sink: s}})
			return s, nil
		},
	})
	component.Register(component.Registration{
		Name:       "testcomponents.source",
		NoDataPath: true,
		Args:       SourceArgs{},
		Build: func(o component.Options, a component.Arguments) (component.Component, error) {
			s := &Source{id: o.ID}
			s.args.Store(ptr(a.(SourceArgs)))
			return s, nil
		},
	})
	component.Register(component.Registration{
		Name:       "testcomponents.secret",
		NoDataPath: true,
		Args:       SecretArgs{},
		Exports:    SecretExports{},
		Build: func(o component.Options, a component.Arguments) (component.Component, error) {
			s := &Secret{opts: o}
			return s, s.Update(a)
		},
	})
	component.Register(component.Registration{
		Name:       "testcomponents.targets",
		NoDataPath: true,
		Args:       TargetsArgs{},
		Exports:    TargetsExports{},
		Build: func(o component.Options, a component.Arguments) (component.Component, error) {
			t := &Targets{opts: o}
			return t, t.Update(a)
		},
	})
}

func ptr[T any](v T) *T { return &v }

// StopOrder records the IDs of components whose Run returned, in order, so
// tests can check that sources stop before sinks.
var StopOrder stopOrder

type stopOrder struct {
	mu  sync.Mutex
	ids []string
}

func (s *stopOrder) add(id string) {
	s.mu.Lock()
	s.ids = append(s.ids, id)
	s.mu.Unlock()
}

// IDs returns the recorded IDs.
func (s *stopOrder) IDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

// Reset forgets the recorded IDs.
func (s *stopOrder) Reset() {
	s.mu.Lock()
	s.ids = nil
	s.mu.Unlock()
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
	defer StopOrder.add(c.opts.ID)
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

// OnPassthroughUpdate, when set, is called by every passthrough after it
// applied new arguments (Build included), with its ID and output. Benchmarks
// use it to see when a change has reached every dependant.
var OnPassthroughUpdate atomic.Pointer[func(id, output string)]

// Passthrough exports its input.
type Passthrough struct {
	opts    component.Options
	mu      sync.Mutex
	args    PassthroughArgs
	updates atomic.Int64
	running atomic.Bool
}

func (p *Passthrough) Run(ctx context.Context) error {
	p.running.Store(true)
	defer p.running.Store(false)
	defer StopOrder.add(p.opts.ID)
	<-ctx.Done()
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
	if f := OnPassthroughUpdate.Load(); f != nil {
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
	// ID fail (counted in BuildAttempts), as a listener whose port is taken
	// for a while would; later attempts succeed.
	FailBuilds int `river:"fail_builds,attr,optional"`
	// RunError makes Run return this error at once.
	RunError string `river:"run_error,attr,optional"`
	// Unhealthy makes the component report itself unhealthy with this message.
	Unhealthy string `river:"unhealthy,attr,optional"`
	// Version exists to change the arguments (and so call Update).
	Version int `river:"version,attr,optional"`
	// IgnoreCancel makes Run ignore its context until ReleaseStuck.
	IgnoreCancel bool `river:"ignore_cancel,attr,optional"`
}

// BuildAttempts records when testcomponents.fail's Build was called, per
// component ID, so tests can see retries and their spacing.
var BuildAttempts attempts

type attempts struct {
	mu    sync.Mutex
	times map[string][]time.Time
}

// add records an attempt now and returns how many there were for id.
func (a *attempts) add(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.times == nil {
		a.times = map[string][]time.Time{}
	}
	a.times[id] = append(a.times[id], time.Now())
	return len(a.times[id])
}

// Times returns when Build was called for id, oldest first.
func (a *attempts) Times(id string) []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.times[id]...)
}

// Count returns how many times Build was called for id.
func (a *attempts) Count(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.times[id])
}

// Reset forgets the attempts for id (a test starting over, or run again
// with -count).
func (a *attempts) Reset(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.times, id)
}

var (
	stuckMu sync.Mutex
	stuck   = make(chan struct{})
)

// stuckUntil returns the channel whose closing releases the Runs blocked by
// ignore_cancel now.
func stuckUntil() <-chan struct{} {
	stuckMu.Lock()
	defer stuckMu.Unlock()
	return stuck
}

// ReleaseStuck lets every Run blocked by ignore_cancel return. Runs started
// afterwards block again until the next ReleaseStuck, so a test that uses
// ignore_cancel still sees a stuck component when run again with -count.
func ReleaseStuck() {
	stuckMu.Lock()
	defer stuckMu.Unlock()
	close(stuck)
	stuck = make(chan struct{})
}

// Fail fails or panics as its arguments say.
type Fail struct {
	args atomic.Pointer[FailArgs]
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
		<-stuckUntil()
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
	id       string
	received atomic.Int64
}

// Received returns how many items arrived.
func (s *Sink) Received() int64 { return s.received.Load() }

func (s *Sink) Run(ctx context.Context) error {
	<-ctx.Done()
	StopOrder.add(s.id)
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
	StopOrder.add(s.id)
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
	s.opts.OnStateChange(SecretExports{Password: args.Password, URL: args.URL})
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
