package testcomponents

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/runtime/component"
)

func init() {
	component.Register(component.Registration{
		Name:       "testcomponents.samples",
		NoDataPath: true,
		Args:       SamplesArgs{},
		Build: func(o component.Options, a component.Arguments) (component.Component, error) {
			return &Samples{args: a.(SamplesArgs)}, nil
		},
	})
}

// SamplesArgs configure testcomponents.samples.
type SamplesArgs struct {
	// Rate is how many samples a second it appends, in 100 transactions a
	// second.
	Rate int `river:"rate,attr"`
	// Series is how many distinct series the samples cycle through
	// (default 1000).
	Series    int                  `river:"series,attr,optional"`
	ForwardTo []storage.Appendable `river:"forward_to,attr"`
}

// Samples appends samples of gen_samples{series="N"} at a steady rate, a
// load generator for the metrics data path (the Live tab's 100k samples/s
// test).
type Samples struct{ args SamplesArgs }

func (s *Samples) Run(ctx context.Context) error {
	series := s.args.Series
	if series <= 0 {
		series = 1000
	}
	lsets := make([]labels.Labels, series)
	for i := range lsets {
		lsets[i] = labels.FromStrings("__name__", "gen_samples", "series", strconv.Itoa(i))
	}
	per := max(s.args.Rate/100, 1)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			ts := now.UnixMilli()
			for _, a := range s.args.ForwardTo {
				app := a.Appender(ctx)
				for i := range per {
					_, _ = app.Append(0, lsets[(n+i)%series], ts, float64(n+i))
				}
				_ = app.Commit()
			}
			n += per
		}
	}
}

// Update is not supported: the samples component keeps its first arguments.
func (s *Samples) Update(component.Arguments) error { return nil }
