package remotewrite

import (
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/components/common/httpclient/httpclienttest"
)

// TestSigV4RefusesEveryHTTPAuth: aws_sigv4, Alloy's sigv4 and azuread each
// set the Authorization header, so every HTTP authentication setting is
// refused with them (Alloy's rule), and so are two of them together.
func TestSigV4RefusesEveryHTTPAuth(t *testing.T) {
	const url = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
	with := func(auth func(*EndpointOptions)) func(set func(*httpclient.Config)) error {
		return func(set func(*httpclient.Config)) error {
			args := testArgs(url, func(e *EndpointOptions) { auth(e); set(&e.HTTPClient) })
			return args.Validate()
		}
	}
	sigv4 := func(e *EndpointOptions) { e.SigV4 = &aws.SigV4Config{Region: "us-east-1", ServiceName: "aps"} }
	alloy := func(e *EndpointOptions) { e.SigV4Alloy = &AlloySigV4{Region: "us-east-1", ServiceName: "aps"} }
	azure := func(e *EndpointOptions) { e.AzureAD = &AzureAD{Cloud: "AzurePublic", SDK: &AzureSDK{TenantID: "t"}} }
	httpclienttest.RefusesSecondAuth(t, map[string]func(func(*httpclient.Config)) error{
		"aws_sigv4": with(sigv4), "sigv4": with(alloy), "azuread": with(azure),
	})
	err := with(func(e *EndpointOptions) { sigv4(e); alloy(e) })(func(*httpclient.Config) {})
	if err == nil || !strings.Contains(err.Error(), "keep aws_sigv4 and remove sigv4") {
		t.Errorf("aws_sigv4 with sigv4: %v", err)
	}
}
