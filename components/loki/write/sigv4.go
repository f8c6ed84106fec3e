package write

import (
	"log/slog"
	"net/http"

	"github.com/flow-telemetry/flow/components/common/aws"
)

// signer signs an endpoint's pushes with SigV4 (components/common/aws, the
// one signer in flow) and takes new credentials without the endpoint
// stopping: Update swaps them atomically, batching and queued entries are
// untouched, and the next push is signed with them.
type signer struct {
	rt *aws.RoundTripper
}

// newSigner wraps next in a signing round tripper.
func newSigner(cfg aws.SigV4Config, next http.RoundTripper, log *slog.Logger) (*signer, http.RoundTripper, error) {
	rt, err := aws.NewRoundTripper(cfg, next, aws.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	return &signer{rt: rt}, rt, nil
}

func (s *signer) update(cfg aws.SigV4Config) error { return s.rt.Update(cfg) }

// sigV4AuthHint names the usual causes of a 401/403 without an AWS code.
const sigV4AuthHint = aws.AuthErrorHint

// explain turns an AWS authentication failure (403 with
// SignatureDoesNotMatch, ExpiredToken, AccessDenied…) into an error naming
// the AWS code and its usual cause; other responses keep err.
func (s *signer) explain(resp *http.Response, body []byte, err error) error {
	if e := aws.ExplainResponse(resp, body); e != nil {
		return e
	}
	return err
}
