// Package relabel is the discovery.relabel component: it applies `rule`
// blocks to a list of discovery targets and exports the result as `output`,
// and the compiled rules as `rules` for other components to reuse.
package relabel

import (
	"context"
	"sync"

	"github.com/flow-telemetry/flow/components/common/relabel"
	"github.com/flow-telemetry/flow/runtime/component"
)

func init() {
	component.Register(component.Registration{
		Name:    "discovery.relabel",
		Args:    Arguments{},
		Exports: Exports{},
		// Keeps nothing on disk.
		NoDataPath: true,
		Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
			return New(opts, args.(Arguments))
		},
	})
}

// Arguments are discovery.relabel's arguments.
type Arguments struct {
	Targets []map[string]string `river:"targets,attr"`
	Rules   []relabel.Rule      `river:"rule,block,optional"`
}

// Exports are discovery.relabel's exports.
type Exports struct {
	Output []map[string]string `river:"output,attr"`
	Rules  relabel.Rules       `river:"rules,attr"`
}

// Component is a running discovery.relabel.
type Component struct {
	opts component.Options
	mu   sync.Mutex
}

// New builds the component and publishes its first exports.
func New(opts component.Options, args Arguments) (*Component, error) {
	c := &Component{opts: opts}
	if err := c.Update(args); err != nil {
		return nil, err
	}
	return c, nil
}

// Run waits for cancellation: the work happens in Update.
func (c *Component) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Update relabels the targets with the new arguments and publishes them.
func (c *Component) Update(args component.Arguments) error {
	a := args.(Arguments)
	rules, err := relabel.Compile(a.Rules)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := relabel.ProcessTargets(a.Targets, rules)
	c.opts.OnStateChange(Exports{Output: out, Rules: rules})
	relabel.PublishTargets(c.opts.Live(), out)
	return nil
}
