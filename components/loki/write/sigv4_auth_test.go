package write

import (
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/components/common/httpclient/httpclienttest"
	"github.com/flow-telemetry/flow/syntax/value"
)

// TestSigV4RefusesEveryHTTPAuth: aws_sigv4 (or its synonym sigv4) is the
// Authorization header, so every HTTP authentication setting is refused
// with it, and so is the synonym beside it.
func TestSigV4RefusesEveryHTTPAuth(t *testing.T) {
	sig := &aws.SigV4Config{Region: "us-east-1", ServiceName: "execute-api"}
	validate := func(aws, synonym *aws.SigV4Config, set func(*httpclient.Config)) error {
		var e EndpointArgs
		e.SetToDefault()
		e.URL = value.NewURL("https://logs.example/loki/api/v1/push")
		e.AWSSigV4, e.SigV4 = aws, synonym
		set(&e.HTTPClient)
		return e.validate()
	}
	httpclienttest.RefusesSecondAuth(t, map[string]func(func(*httpclient.Config)) error{
		"aws_sigv4": func(set func(*httpclient.Config)) error { return validate(sig, nil, set) },
		"sigv4":     func(set func(*httpclient.Config)) error { return validate(nil, sig, set) },
	})
	if err := validate(sig, sig, func(*httpclient.Config) {}); err == nil || !strings.Contains(err.Error(), "keep aws_sigv4 and remove sigv4") {
		t.Errorf("aws_sigv4 with sigv4: %v", err)
	}
}
