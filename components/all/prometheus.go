package all

// The metrics components: scraping, relabelling, remote write.
import (
	_ "github.com/flow-telemetry/flow/components/discovery/relabel"
	_ "github.com/flow-telemetry/flow/components/prometheus/relabel"
	_ "github.com/flow-telemetry/flow/components/prometheus/remote_write"
	_ "github.com/flow-telemetry/flow/components/prometheus/scrape"
)
