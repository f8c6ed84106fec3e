// Package echo is the loki.echo component: it prints every log entry it
// receives, with its labels, to standard output. It is meant for debugging
// pipelines and for quickstarts that have no Loki to write to.
package echo

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/runtime/component"
)

func init() {
	component.Register(component.Registration{
		Name:    "loki.echo",
		Args:    Arguments{},
		Exports: Exports{},
		Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
			return New(opts, os.Stdout)
		},
	})
}

// Arguments is empty: loki.echo has nothing to configure.
type Arguments struct{}

// Exports holds the receiver other components forward entries to.
type Exports struct {
	Receiver loki.LogsReceiver `river:"receiver,attr"`
}

// Component prints entries.
type Component struct {
	log  *slog.Logger
	live component.LiveDebug

	mu  sync.Mutex // serialises writes so lines of concurrent senders never interleave
	out *bufio.Writer
}

// New builds a loki.echo writing to out.
func New(opts component.Options, out io.Writer) (*Component, error) {
	c := &Component{log: opts.Logger, live: opts.Live(), out: bufio.NewWriter(out)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if opts.OnStateChange != nil {
		opts.OnStateChange(Exports{Receiver: loki.NewReceiver(c.send)})
	}
	return c, nil
}

// Run waits for cancellation; all work happens in Send.
func (c *Component) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Update has nothing to apply.
func (c *Component) Update(component.Arguments) error { return nil }

// send writes one line per entry: timestamp, labels, line.
func (c *Component) send(_ context.Context, entries []loki.Entry) error {
	loki.PublishEntries(c.live, entries)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range entries {
		c.out.WriteString(e.Timestamp.UTC().Format(time.RFC3339Nano))
		c.out.WriteByte(' ')
		c.out.WriteString(e.Labels.String())
		c.out.WriteByte(' ')
		c.out.WriteString(e.Line)
		c.out.WriteByte('\n')
	}
	// Flushing per call keeps output prompt for a human watching it, and a
	// broken stdout must not fail the pipeline, so the error is only logged.
	if err := c.out.Flush(); err != nil {
		c.log.Warn("loki.echo cannot write to standard output", "err", err)
	}
	return nil
}
