package all

// AWS components (issue 3): credentials and EC2 discovery.
import (
	_ "github.com/flow-telemetry/flow/components/aws/credentials"
	_ "github.com/flow-telemetry/flow/components/discovery/aws/ec2"
)
