package scrape

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/scrape"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/components/prometheus/internal/scrapeloop"
	"github.com/flow-telemetry/flow/internal/testwait"
)

func engineOf(c *Component) engine {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mgr.engine
}

// The component scrapes with flow's loop, and with Prometheus' scrape
// manager only while a setting only that has is set; switching either way
// in an update keeps scraping.
func TestEngineChoice(t *testing.T) {
	tg := newTarget(t, "engine_gauge", 1)
	rec := promtest.NewRecorder()
	a := fastArgs(rec, map[string]string{"__address__": tg.addr()})
	c := startScrape(t, "prometheus.scrape.engine", a)
	if _, ok := engineOf(c).(*scrapeloop.Pool); !ok {
		t.Fatalf("default arguments scrape with %T, want flow's *scrapeloop.Pool", engineOf(c))
	}
	testwait.Eventually(t, 10*time.Second, func() bool { return hasSeries(rec, "engine_gauge") }, "scraped by flow's loop")

	for _, set := range []struct {
		name string
		f    func(*Arguments)
	}{
		{"honor_metadata", func(a *Arguments) { a.HonorMetadata = true }},
		{"start_timestamp_zero_ingestion", func(a *Arguments) { a.StartTimestampZeroIngestion = true }},
		{"scrape_failure_log_file", func(a *Arguments) { a.ScrapeFailureLogFile = filepath.Join(t.TempDir(), "f.log") }},
	} {
		b := a
		set.f(&b)
		if err := c.Update(b); err != nil {
			t.Fatal(err)
		}
		if _, ok := engineOf(c).(*scrape.Manager); !ok {
			t.Fatalf("with %s: scraping with %T, want Prometheus' *scrape.Manager", set.name, engineOf(c))
		}
		n := len(rec.Samples())
		testwait.Eventually(t, 10*time.Second, func() bool { return len(rec.Samples()) > n+2 }, "with %s: still scraping", set.name)
		if err := c.Update(a); err != nil {
			t.Fatal(err)
		}
		if _, ok := engineOf(c).(*scrapeloop.Pool); !ok {
			t.Fatalf("after unsetting %s: scraping with %T, want *scrapeloop.Pool", set.name, engineOf(c))
		}
		n = len(rec.Samples())
		testwait.Eventually(t, 10*time.Second, func() bool { return len(rec.Samples()) > n+2 }, "after unsetting %s: still scraping", set.name)
	}
}
