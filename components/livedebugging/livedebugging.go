// Package livedebugging is Grafana Alloy's `livedebugging` config block:
//
//	livedebugging {
//	  enabled = true
//	}
//
// switches live debugging on for the whole agent: the Live tab of each
// component's page (GET /api/v0/components/{id}/live) then streams what
// passes through the component. It is off by default, as in Alloy, and off
// again when the block is removed or says enabled = false; switching it off
// closes every open viewer. Like `logging`, it is a component with the ID
// "livedebugging", written without a label and at most once, so a reload
// can switch it. The bounds of a viewer are runtime/livedebug's.
package livedebugging

import (
	"context"
	"sync"

	"github.com/flow-telemetry/flow/runtime/component"
)

func init() {
	component.Register(component.Registration{
		Name:        "livedebugging",
		Args:        Arguments{},
		NoDataPath:  true,
		ConfigBlock: true,
		Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
			sw, _ := opts.LiveDebug.(component.LiveDebugSwitch)
			c := &Component{sw: sw}
			return c, c.Update(args)
		},
	})
}

// Arguments configure the block.
type Arguments struct {
	// Enabled switches live debugging on. Alloy's default: false.
	Enabled bool `river:"enabled,attr,optional"`
}

// Component applies Enabled while it runs.
type Component struct {
	sw component.LiveDebugSwitch // nil outside the runtime

	mu      sync.Mutex
	enabled bool
}

// Run keeps the setting until the block is removed, then switches live
// debugging off.
func (c *Component) Run(ctx context.Context) error {
	<-ctx.Done()
	if c.sw != nil {
		c.sw.SetLiveDebugging(false)
	}
	return nil
}

// Update applies new arguments.
func (c *Component) Update(args component.Arguments) error {
	a := args.(Arguments)
	c.mu.Lock()
	c.enabled = a.Enabled
	c.mu.Unlock()
	if c.sw != nil {
		c.sw.SetLiveDebugging(a.Enabled)
	}
	return nil
}

// DebugInfo says whether live debugging is on.
func (c *Component) DebugInfo() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return struct {
		Enabled bool `river:"enabled,attr"`
	}{c.enabled}
}
