package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	common "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/storage/remote/azuread"
	"github.com/prometheus/prometheus/storage/remote/googleiam"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/syntax/value"
)

// This file holds the endpoint settings Alloy documents beyond the shared
// HTTP client: Alloy's `sigv4` block (service_name defaults to "aps"),
// `azuread`, `google_iam` and `round_robin_dns`. Each maps onto the
// Prometheus implementation Prometheus' own remote-write client uses
// (storage/remote: azuread.NewAzureADRoundTripper, googleiam.NewRoundTripper,
// its round-robin dialer), installed in flow's client at the place
// Prometheus installs it.

// DefaultSigV4Service is the service_name of Alloy's `sigv4` block when it
// is not set: Amazon Managed Service for Prometheus.
const DefaultSigV4Service = "aps"

// AlloySigV4 is Alloy's `sigv4` block: aws_sigv4's settings, with
// service_name optional and "aps" by default, as in Alloy. flow's extras
// (access_key_id, secret_access_key, a credentials block fed by
// aws.credentials) work here too.
type AlloySigV4 struct {
	Region             string                 `river:"region,attr,optional"`
	ServiceName        string                 `river:"service_name,attr,optional"`
	RoleARN            string                 `river:"role_arn,attr,optional"`
	ExternalID         string                 `river:"external_id,attr,optional"`
	Profile            string                 `river:"profile,attr,optional"`
	AccessKeyID        string                 `river:"access_key_id,attr,optional"`
	SecretAccessKey    value.Secret           `river:"secret_access_key,attr,optional"`
	AccessKey          string                 `river:"access_key,attr,optional"`
	SecretKey          value.Secret           `river:"secret_key,attr,optional"`
	UseFIPSSTSEndpoint bool                   `river:"use_fips_sts_endpoint,attr,optional"`
	Credentials        *aws.StaticCredentials `river:"credentials,block,optional"`
}

// SetToDefault implements syntax's Defaulter.
func (s *AlloySigV4) SetToDefault() { *s = AlloySigV4{ServiceName: DefaultSigV4Service} }

// config is the block as flow's SigV4 signer takes it.
func (s *AlloySigV4) config() *aws.SigV4Config {
	if s == nil {
		return nil
	}
	svc := s.ServiceName
	if strings.TrimSpace(svc) == "" {
		svc = DefaultSigV4Service
	}
	return &aws.SigV4Config{
		Region: s.Region, ServiceName: svc, RoleARN: s.RoleARN, ExternalID: s.ExternalID, Profile: s.Profile,
		AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, AccessKey: s.AccessKey, SecretKey: s.SecretKey,
		UseFIPSSTSEndpoint: s.UseFIPSSTSEndpoint, Credentials: s.Credentials,
	}
}

// AzureAD is the `azuread` block: requests carry an Azure AD (Entra ID)
// access token for Azure Monitor's managed Prometheus, from exactly one of
// managed_identity, oauth or sdk. Tokens are fetched on the first request
// and renewed at half their lifetime (Prometheus' azuread package).
type AzureAD struct {
	ManagedIdentity *AzureManagedIdentity `river:"managed_identity,block,optional"`
	OAuth           *AzureOAuth           `river:"oauth,block,optional"`
	SDK             *AzureSDK             `river:"sdk,block,optional"`
	// Cloud is "AzurePublic" (default), "AzureChina" or "AzureGovernment".
	Cloud string `river:"cloud,attr,optional"`
}

// SetToDefault implements syntax's Defaulter.
func (a *AzureAD) SetToDefault() { *a = AzureAD{Cloud: azuread.AzurePublic} }

// AzureManagedIdentity is `azuread > managed_identity`: a user-assigned
// managed identity, through the machine's identity endpoint.
type AzureManagedIdentity struct {
	ClientID string `river:"client_id,attr"`
}

// AzureOAuth is `azuread > oauth`: an application's client secret.
type AzureOAuth struct {
	ClientID     string       `river:"client_id,attr"`
	ClientSecret value.Secret `river:"client_secret,attr"`
	TenantID     string       `river:"tenant_id,attr"`
}

// AzureSDK is `azuread > sdk`: the Azure SDK's default credential chain
// (environment, workload identity, managed identity, Azure CLI).
type AzureSDK struct {
	TenantID string `river:"tenant_id,attr"`
}

// prometheus converts the block, validated by Prometheus' own rules plus
// Alloy's (client_id of a managed identity is required).
func (a *AzureAD) prometheus() (*azuread.AzureADConfig, error) {
	c := &azuread.AzureADConfig{Cloud: a.Cloud}
	if m := a.ManagedIdentity; m != nil {
		if m.ClientID == "" {
			return nil, errors.New("azuread: managed_identity needs client_id")
		}
		c.ManagedIdentity = &azuread.ManagedIdentityConfig{ClientID: m.ClientID}
	}
	if o := a.OAuth; o != nil {
		c.OAuth = &azuread.OAuthConfig{ClientID: o.ClientID, ClientSecret: common.Secret(o.ClientSecret), TenantID: o.TenantID}
	}
	if s := a.SDK; s != nil {
		c.SDK = &azuread.SDKConfig{TenantID: s.TenantID}
	}
	if err := c.Validate(); err != nil {
		// Prometheus' messages name fields, never values.
		return nil, fmt.Errorf("azuread: %w", err)
	}
	return c, nil
}

// GoogleIAM is the `google_iam` block: requests carry a Google Cloud access
// token (scope monitoring.write) from a service account's credentials file,
// or from Google's default credentials when the file is not set.
type GoogleIAM struct {
	CredentialsFile string `river:"credentials_file,attr,optional"`
}

// authRoundTripper wraps next with the endpoint's token or signing
// round tripper other than SigV4 (azuread, google_iam), nil if none.
func (e *EndpointOptions) authRoundTripper(next http.RoundTripper) (http.RoundTripper, error) {
	switch {
	case e.AzureAD != nil:
		cfg, err := e.AzureAD.prometheus()
		if err != nil {
			return nil, err
		}
		rt, err := azuread.NewAzureADRoundTripper(cfg, next)
		if err != nil {
			return nil, fmt.Errorf("azuread: %w", err)
		}
		return rt, nil
	case e.GoogleIAM != nil:
		rt, err := googleiam.NewRoundTripper(&googleiam.Config{CredentialsFile: e.GoogleIAM.CredentialsFile}, next)
		if err != nil {
			// The file is named by the config; its content is not quoted.
			return nil, fmt.Errorf("google_iam: %w", err)
		}
		return rt, nil
	}
	return nil, nil
}

// authMethods lists the endpoint's authentication settings by name.
func (e *EndpointOptions) authMethods() []string {
	var out []string
	if e.SigV4 != nil {
		out = append(out, "aws_sigv4")
	}
	if e.SigV4Alloy != nil {
		out = append(out, "sigv4")
	}
	if e.AzureAD != nil {
		out = append(out, "azuread")
	}
	if e.GoogleIAM != nil {
		out = append(out, "google_iam")
	}
	return append(out, e.HTTPClient.AuthNames()...)
}

// authSettings are the endpoint's authentication settings, in the order
// authMethods lists them.
var authSettings = append([]string{"aws_sigv4", "sigv4", "azuread", "google_iam"}, httpclient.AuthSettings...)

// validateAuth enforces Alloy's rule (httpclient.OneAuthorization): at
// most one authentication setting, since each sets the Authorization header.
func (e *EndpointOptions) validateAuth() error {
	if err := httpclient.OneAuthorization(authSettings, e.authMethods()); err != nil {
		return err
	}
	if e.AzureAD != nil {
		if _, err := e.AzureAD.prometheus(); err != nil {
			return err
		}
	}
	return nil
}

// lookupHost resolves round_robin_dns names; a variable for tests, which
// point a name at several real loopback servers.
var lookupHost = net.DefaultResolver.LookupHost

// roundRobinDial is Prometheus' round_robin_dns dialer: each new
// connection resolves the host and dials one of its addresses at random,
// so an endpoint behind several A records has its connections spread
// across them (Go's dialer otherwise always tries them in the same
// order). If resolution fails, it dials the name as usual.
func roundRobinDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) common.DialContextFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return dial(ctx, network, addr)
		}
		addrs, err := lookupHost(ctx, host)
		if err != nil || len(addrs) == 0 {
			return dial(ctx, network, addr)
		}
		return dial(ctx, network, net.JoinHostPort(addrs[rand.IntN(len(addrs))], port))
	}
}

// httpClientOptions are the options flow's endpoint client is built with.
func (e *EndpointOptions) httpClientOptions() []common.HTTPClientOption {
	if !e.RoundRobinDNS {
		return nil
	}
	// The dialer of Go's (and Prometheus') default transport.
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return []common.HTTPClientOption{common.WithDialContextFunc(roundRobinDial(d.DialContext))}
}
