package httpfixture

import (
	"fmt"
	"io"
	"net/http"

	"github.com/golang/snappy"
)

// maxProtoBody bounds the body ReadSnappyProto reads.
const maxProtoBody = 64 << 20

// ReadSnappyProto reads a request body that is a snappy block-compressed
// protobuf message, as Loki's push API and Prometheus remote write 1.0
// send them, into msg (a *push.PushRequest, a *prompb.WriteRequest, …). It
// reads at most 64 MiB.
func ReadSnappyProto(r *http.Request, msg interface{ Unmarshal([]byte) error }) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxProtoBody))
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return fmt.Errorf("body is not snappy block-compressed: %w", err)
	}
	if err := msg.Unmarshal(raw); err != nil {
		return fmt.Errorf("body is not a %T: %w", msg, err)
	}
	return nil
}
