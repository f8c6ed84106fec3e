package loki

import "github.com/flow-telemetry/flow/components/common/bytesize"

// ByteSize is the project's one byte-size type (see package bytesize): "1MB"
// and "1MiB" are both 1,048,576 bytes, as in Alloy.
type ByteSize = bytesize.Size
