// Package aws is flow's one implementation of AWS request signing and
// credential resolution. It wraps aws-sdk-go-v2: the SDK's default
// credential chain, stscreds for AssumeRole and web identity,
// aws.CredentialsCache, and aws/signer/v4.
//
//   - RoundTripper signs the requests of every plain HTTP client with an
//     aws_sigv4 (or Alloy's sigv4) block: prometheus.remote_write,
//     loki.write. Update swaps credentials under a running client.
//   - LoadConfig turns CredentialsArgs into an aws.Config for components
//     that use SDK service clients (aws.credentials, discovery.aws.ec2),
//     which then sign with the same SDK signer.
//   - ExplainError and ExplainResponse turn AWS authentication failures
//     into errors naming the code and its usual cause, with secrets scrubbed.
//
// The SDK signer does not normalize paths and always derives the canonical
// path itself; signRequest adds AWS's path rules on top, and
// TestSigV4Suite checks the result against every case of AWS's own suite
// (testdata/aws-sigv4-suite).
package aws

import (
	"errors"
	"fmt"
	"strings"

	"github.com/flow-telemetry/flow/syntax/value"
)

// SigV4Config is the `aws_sigv4 { … }` block, also accepted under Alloy's
// name `sigv4 { region, access_key, secret_key, profile, role_arn,
// external_id, service_name }` (Alloy has no session token; flow does, through
// the nested credentials block).
type SigV4Config struct {
	Region      string `river:"region,attr,optional"`
	ServiceName string `river:"service_name,attr"`
	RoleARN     string `river:"role_arn,attr,optional"`
	ExternalID  string `river:"external_id,attr,optional"`
	Profile     string `river:"profile,attr,optional"`

	AccessKeyID     string       `river:"access_key_id,attr,optional"`
	SecretAccessKey value.Secret `river:"secret_access_key,attr,optional"`
	// Alloy's spellings of the static keys.
	AccessKey string       `river:"access_key,attr,optional"`
	SecretKey value.Secret `river:"secret_key,attr,optional"`

	// UseFIPSSTSEndpoint is Alloy's use_fips_sts_endpoint: STS calls (for
	// role_arn and web identity) go to the FIPS endpoint.
	UseFIPSSTSEndpoint bool `river:"use_fips_sts_endpoint,attr,optional"`

	// Credentials takes an aws.credentials component's exports.
	Credentials *StaticCredentials `river:"credentials,block,optional"`
}

// StaticCredentials is the `credentials { access_key_id, secret_access_key, token }`
// block, usually fed from an aws.credentials component.
type StaticCredentials struct {
	AccessKeyID     string       `river:"access_key_id,attr"`
	SecretAccessKey value.Secret `river:"secret_access_key,attr"`
	Token           value.Secret `river:"token,attr,optional"`
}

// Validate checks the block: service_name is required (flow has no silent
// default: the credential scope must name the service the endpoint
// belongs to), and the credentials fields must make sense together.
func (c *SigV4Config) Validate() error {
	if strings.TrimSpace(c.ServiceName) == "" {
		return errors.New(`aws_sigv4: service_name is required: the service the endpoint belongs to, ` +
			`such as "aps" (Amazon Managed Service for Prometheus), "execute-api" (API Gateway) or "es" (OpenSearch)`)
	}
	if err := CheckAlloyKeys(c.AccessKeyID, c.AccessKey, c.SecretAccessKey, c.SecretKey); err != nil {
		return fmt.Errorf("aws_sigv4: %w", err)
	}
	a := c.CredentialsArgs()
	if err := a.Validate(); err != nil {
		return fmt.Errorf("aws_sigv4: %w", err)
	}
	return nil
}

// CredentialsArgs reduces the block to where its credentials come from,
// merging Alloy's spellings of the keys.
func (c *SigV4Config) CredentialsArgs() CredentialsArgs {
	a := CredentialsArgs{
		Region:             c.Region,
		Profile:            c.Profile,
		RoleARN:            c.RoleARN,
		ExternalID:         c.ExternalID,
		AccessKeyID:        c.AccessKeyID,
		SecretAccessKey:    c.SecretAccessKey,
		Static:             c.Credentials,
		UseFIPSSTSEndpoint: c.UseFIPSSTSEndpoint,
	}
	a.MergeAlloyKeys(c.AccessKey, c.SecretKey)
	return a
}

// CheckAlloyKeys refuses a static key given in both of its spellings:
// access_key_id and Alloy's access_key, secret_access_key and Alloy's
// secret_key (aws_sigv4 blocks and discovery.aws.ec2 accept either).
func CheckAlloyKeys(accessKeyID, accessKey string, secretAccessKey, secretKey value.Secret) error {
	if accessKeyID != "" && accessKey != "" {
		return errors.New("give access_key_id or Alloy's access_key, not both")
	}
	if secretAccessKey != "" && secretKey != "" {
		return errors.New("give secret_access_key or Alloy's secret_key, not both")
	}
	return nil
}

// MergeAlloyKeys takes each static key that a leaves unset from its
// Alloy spelling (access_key, secret_key); CheckAlloyKeys has refused a key
// given both ways.
func (a *CredentialsArgs) MergeAlloyKeys(accessKey string, secretKey value.Secret) {
	if a.AccessKeyID == "" {
		a.AccessKeyID = accessKey
	}
	if a.SecretAccessKey == "" {
		a.SecretAccessKey = secretKey
	}
}
