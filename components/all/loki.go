package all

// Log components (issue 5).
import (
	_ "github.com/flow-telemetry/flow/components/loki/echo"
	_ "github.com/flow-telemetry/flow/components/loki/relabel"
	_ "github.com/flow-telemetry/flow/components/loki/source/aws_firehose"
	_ "github.com/flow-telemetry/flow/components/loki/write"
)
