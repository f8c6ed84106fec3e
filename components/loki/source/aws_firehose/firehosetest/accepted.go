package firehosetest

import (
	"net/http"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/testwait"
)

// SendUntilAccepted sends records, each time in a new request, until the
// endpoint answers 200: for tests whose endpoint may still be starting. It
// fails the test with the last answer if none is 200 within timeout.
func (s *Sender) SendUntilAccepted(t testing.TB, timeout time.Duration, records [][]byte) Response {
	t.Helper()
	var resp Response
	var err error
	if _, ok := testwait.Poll(timeout, func() bool {
		resp, err = s.Send(records)
		return err == nil && resp.Status == http.StatusOK
	}); !ok {
		t.Fatalf("the Firehose endpoint did not accept the records in %v: %+v %v", timeout, resp, err)
	}
	return resp
}
