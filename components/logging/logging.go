// Package logging is the `logging` config block, as in Grafana Alloy:
//
//	logging {
//	  level  = "debug"
//	  format = "json"
//	}
//
// sets the level and format of flow's own logs while the block is in the
// config, overriding --log.level and --log.format; removing the block
// restores them. `write_to` tees every log line, as formatted, to log
// receivers (a loki.write, a loki.relabel) with the label
// {component="flow"}, as Alloy does with {component="alloy"}; lines go
// through a bounded queue, so a slow or failing pipeline drops lines (counted,
// shown in health) and never blocks logging. `destination` is Alloy's:
// "stderr" is where flow writes; Alloy's "windows_event_log" exists only on
// Windows, which flow does not target, and is refused with that reason. It is a component (ID "logging") so that Alloy configs
// carrying the block load unchanged and a reload can change logging.
//
// The block controls the Handler under the runtime's logger
// (component.Options.LogHandler) when it is one made by NewHandler, as
// cmd/flow's is; with any other handler the block only checks its arguments.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/runtime/component"
)

func init() {
	component.Register(component.Registration{
		Name:        "logging",
		Args:        Arguments{},
		NoDataPath:  true,
		ConfigBlock: true,
		Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
			c := &Component{}
			if h, ok := opts.LogHandler.(*Handler); ok {
				c.h = h
				c.fwd = newForwarder(nil)
			}
			return c, c.Update(args)
		},
	})
}

// Arguments configure the logging block.
type Arguments struct {
	// Level is debug, info, warn or error.
	Level string `river:"level,attr,optional"`
	// Format is logfmt or json.
	Format string `river:"format,attr,optional"`
	// Destination is where lines are written: "stderr".
	Destination string `river:"destination,attr,optional"`
	// WriteTo receives a copy of every log line.
	WriteTo []loki.LogsReceiver `river:"write_to,attr,optional"`
}

// SetToDefault sets Alloy's defaults.
func (a *Arguments) SetToDefault() {
	*a = Arguments{Level: "info", Format: "logfmt", Destination: "stderr"}
}

// Validate checks the level and format.
func (a *Arguments) Validate() error {
	if _, err := parseLevel(a.Level); err != nil {
		return err
	}
	if a.Format != "logfmt" && a.Format != "json" {
		return fmt.Errorf("format must be logfmt or json, got %q", a.Format)
	}
	switch a.Destination {
	case "stderr":
	case "windows_event_log":
		return fmt.Errorf("destination: windows_event_log is Alloy's Windows event log, and flow does not run on Windows; use \"stderr\" (the default)")
	default:
		return fmt.Errorf("destination must be \"stderr\", got %q", a.Destination)
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("level must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// Component applies its arguments to the runtime's log handler while it runs.
type Component struct {
	h   *Handler   // nil when the runtime's handler is not a *Handler
	fwd *forwarder // nil without h

	mu      sync.Mutex
	writeTo bool
}

// Run forwards log lines to write_to while it runs; when the block is
// removed, the flags' settings come back.
func (c *Component) Run(ctx context.Context) error {
	if c.fwd != nil {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); c.fwd.run(ctx) }()
		defer wg.Wait()
	}
	<-ctx.Done()
	if c.h != nil {
		c.h.reset()
	}
	return nil
}

// Update applies new arguments.
func (c *Component) Update(args component.Arguments) error {
	a := args.(Arguments)
	lvl, err := parseLevel(a.Level)
	if err != nil {
		return err
	}
	if c.h != nil {
		c.h.set(lvl, a.Format == "json")
	}
	if c.fwd != nil {
		c.fwd.setReceivers(a.WriteTo)
		c.mu.Lock()
		c.writeTo = len(a.WriteTo) > 0
		c.mu.Unlock()
		if len(a.WriteTo) > 0 {
			c.h.out.fwd.Store(c.fwd)
		} else {
			c.h.out.fwd.Store(nil)
		}
	}
	return nil
}

// CurrentHealth says whether write_to delivers.
func (c *Component) CurrentHealth() component.Health {
	c.mu.Lock()
	writeTo := c.writeTo
	c.mu.Unlock()
	h := component.Health{Health: component.HealthHealthy, Message: "logging configured", UpdateTime: time.Now()}
	if c.fwd == nil || !writeTo {
		return h
	}
	ok, msg := c.fwd.health()
	h.Message = msg
	if !ok {
		h.Health = component.HealthUnhealthy
	}
	return h
}

// Handler is a slog.Handler whose level and format (logfmt or JSON) can
// change while loggers derived from it are in use.
type Handler struct {
	level slog.LevelVar
	json  atomic.Bool

	// The settings given at creation, restored by reset.
	defLevel    slog.Level
	defJSON     bool
	text, jsonH slog.Handler
	out         *tee
}

// NewHandler writes to w at level, as JSON if json is set, else logfmt
// (slog's key=value text).
func NewHandler(w io.Writer, level slog.Level, json bool) *Handler {
	h := &Handler{defLevel: level, defJSON: json, out: &tee{w: w}}
	h.level.Set(level)
	h.json.Store(json)
	opts := &slog.HandlerOptions{Level: &h.level}
	h.text, h.jsonH = slog.NewTextHandler(h.out, opts), slog.NewJSONHandler(h.out, opts)
	return h
}

func (h *Handler) set(level slog.Level, json bool) {
	h.level.Set(level)
	h.json.Store(json)
}

func (h *Handler) reset() {
	h.set(h.defLevel, h.defJSON)
	h.out.fwd.Store(nil)
}

// Enabled reports whether level is logged.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// Handle writes r in the current format.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	return (&derived{root: h, text: h.text, json: h.jsonH}).Handle(ctx, r)
}

// WithAttrs returns a handler adding attrs, following later format changes.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &derived{root: h, text: h.text.WithAttrs(attrs), json: h.jsonH.WithAttrs(attrs)}
}

// WithGroup returns a handler nesting attributes under name.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &derived{root: h, text: h.text.WithGroup(name), json: h.jsonH.WithGroup(name)}
}

// derived keeps both formats' handlers with the same attributes and groups.
type derived struct {
	root       *Handler
	text, json slog.Handler
}

func (d *derived) Enabled(ctx context.Context, l slog.Level) bool { return d.root.Enabled(ctx, l) }

func (d *derived) Handle(ctx context.Context, r slog.Record) error {
	if d.root.json.Load() {
		return d.json.Handle(ctx, r)
	}
	return d.text.Handle(ctx, r)
}

func (d *derived) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &derived{root: d.root, text: d.text.WithAttrs(attrs), json: d.json.WithAttrs(attrs)}
}

func (d *derived) WithGroup(name string) slog.Handler {
	return &derived{root: d.root, text: d.text.WithGroup(name), json: d.json.WithGroup(name)}
}
