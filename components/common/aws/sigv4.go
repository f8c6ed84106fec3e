// Package aws is flow's one implementation of AWS request signing and
// credential resolution, used by every HTTP client in flow (remote_write,
// loki.write, discovery, firehose checks). It wraps aws-sdk-go-v2: the SDK's
// default credential chain, stscreds for AssumeRole, and aws/signer/v4.
package aws

import (
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
