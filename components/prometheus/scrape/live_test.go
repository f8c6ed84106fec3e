package scrape

import (
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/runtime/livedebug"
)

// The Live tab of prometheus.scrape shows the samples it scrapes, with
// their labels, value and timestamp.
func TestLiveShowsScrapedSamples(t *testing.T) {
	svc := livedebug.New()
	svc.SetEnabled(true)
	tg := newTarget(t, "live_gauge", 42)
	rec := promtest.NewRecorder()
	opts, _, _ := promtest.Options(t, "prometheus.scrape.live")
	opts.LiveDebug = svc.Publisher(opts.ID)
	v, err := svc.Watch(opts.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	c, err := New(opts, fastArgs(rec, map[string]string{"__address__": tg.addr()}))
	if err != nil {
		t.Fatal(err)
	}
	promtest.Run(t, c)
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e := <-v.Events():
			if e.Kind == "sample" && strings.HasPrefix(e.Text, `{__name__="live_gauge", instance="`+tg.addr()+`", job="prometheus.scrape.live"} 42 `) {
				return
			}
		case <-deadline:
			t.Fatal("no live_gauge sample on the live stream within 20s")
		}
	}
}
