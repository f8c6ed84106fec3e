package ec2

import (
	"net/http"
	"sort"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/prometheus/common/config"

	"github.com/flow-telemetry/flow/components/common/httpclient"
)

// authUnusedReason is why the HTTP authentication settings have no effect.
const authUnusedReason = "every EC2 API request is authenticated by its SigV4 signature, which is the Authorization header; " +
	"the setting is accepted (Alloy accepts it) but not sent"

// newAWSHTTPClient builds the client the AWS SDK sends requests with: the
// shared HTTP client surface without its authentication settings for AWS
// API calls (EC2, STS for role_arn), and the SDK's default client for this
// machine's own credential sources (see the package comment).
func newAWSHTTPClient(cfg httpclient.Config) (*http.Client, error) {
	noAuth := cfg.WithoutAuth()
	// The SDK's User-Agent stays (AWS reads the SDK and API versions in
	// it); commonaws.LoadConfig adds "flow/<version>" to it.
	rt, err := noAuth.RoundTripper("discovery.ec2", config.WithUserAgent(""))
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &awsTransport{api: rt, local: awshttp.NewBuildableClient().GetTransport()}}
	if !cfg.FollowRedirects {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return client, nil
}

// awsTransport sends the requests of AWS API clients through the
// configured round tripper and everything else (IMDS, whose client sets
// the service ID "ec2imds", and the container credentials endpoint, whose
// client sets none) through the SDK's default client.
type awsTransport struct {
	api   http.RoundTripper
	local *http.Transport // the SDK's default transport
}

func (t *awsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch awsmiddleware.GetServiceID(req.Context()) {
	case ec2.ServiceID, sts.ServiceID:
		return t.api.RoundTrip(req)
	}
	return t.local.RoundTrip(req)
}

// CloseIdleConnections closes both clients' idle connections.
func (t *awsTransport) CloseIdleConnections() {
	if ci, ok := t.api.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
	t.local.CloseIdleConnections()
}

// warnUnused logs, once per argument for the component's lifetime, each
// accepted argument that has no effect here and why.
func (c *Component) warnUnused(args Arguments) {
	names := args.HTTPClient.AuthNames()
	sort.Strings(names)
	c.mu.Lock()
	var fresh []string
	for _, n := range names {
		if !c.warned[n] {
			if c.warned == nil {
				c.warned = map[string]bool{}
			}
			c.warned[n] = true
			fresh = append(fresh, n)
		}
	}
	c.mu.Unlock()
	if c.opts.Logger == nil {
		return
	}
	for _, n := range fresh {
		c.opts.Logger.Warn("argument has no effect in discovery.ec2", "argument", n, "reason", authUnusedReason)
	}
}
