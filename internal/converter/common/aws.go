package common

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/flow-telemetry/flow/internal/converter/diag"
	"github.com/flow-telemetry/flow/internal/converter/river"
)

// AWSAuth is where a YAML signing or discovery block gets AWS credentials.
type AWSAuth struct {
	Region     string
	RoleARN    string
	ExternalID string
	Profile    string
	AccessKey  string
	SecretKey  string
}

// Named reports whether a names a credential source (a role, a profile or
// keys) rather than leaving it to the SDK's default chain.
func (a AWSAuth) Named() bool {
	return a.RoleARN != "" || a.Profile != "" || a.AccessKey != "" || a.SecretKey != ""
}

type awsCreds struct {
	key   AWSAuth // without Region
	label string
	block *river.Block
}

// AWSCredentials returns the label of the aws.credentials component that
// serves a, adding it on first use, or "" when a names no credential source.
// Every block naming the same role, profile or keys shares one component:
// credentials are fetched once, refreshed ahead of expiry, and every signer
// picks the new ones up (the point of flow's aws.credentials).
func (c *Context) AWSCredentials(a AWSAuth, n *yaml.Node) string {
	if !a.Named() {
		return ""
	}
	key := a
	key.Region = ""
	for _, cr := range c.creds {
		if cr.key == key {
			return cr.label
		}
	}
	name := "default"
	if len(c.creds) > 0 {
		switch {
		case a.RoleARN != "":
			name = a.RoleARN[strings.LastIndex(a.RoleARN, "/")+1:]
		case a.Profile != "":
			name = a.Profile
		default:
			name = "static_keys"
		}
	}
	label := c.Label("aws.credentials", name)
	blk := c.head.Block("aws.credentials", label)
	if len(c.creds) == 0 {
		blk.Comment("Credentials named in the YAML, fetched once and refreshed before they expire;\n" +
			"every block below that signs or calls AWS with them references this component.")
	}
	blk.OptString("region", a.Region)
	blk.OptString("role_arn", a.RoleARN)
	blk.OptString("external_id", a.ExternalID)
	blk.OptString("profile", a.Profile)
	blk.OptString("access_key_id", a.AccessKey)
	blk.OptString("secret_access_key", a.SecretKey)
	if (a.AccessKey == "") != (a.SecretKey == "") {
		c.Report(n, diag.Error, "an access key and a secret key go together; only one is set",
			"set both access_key and secret_key, or neither to use the default credential chain")
	}
	c.creds = append(c.creds, &awsCreds{key: key, label: label, block: blk})
	return label
}

// CredentialsBlock writes `credentials { … }` taking aws.credentials.<label>'s exports.
func CredentialsBlock(b *river.Body, label string) {
	cb := b.Block("credentials", "")
	ref := "aws.credentials." + label + "."
	cb.Attr("access_key_id", river.Raw(ref+"access_key_id"))
	cb.Attr("secret_access_key", river.Raw(ref+"secret_access_key"))
	cb.Attr("token", river.Raw(ref+"token"))
}

// SigV4 is a signing block read from YAML: Prometheus' `sigv4`, Promtail's
// or the seed article's `aws_sigv4`.
type SigV4 struct {
	AWSAuth
	ServiceName string
	SessionName string
	UseFIPS     bool
	// Node is the YAML block, for diagnostics.
	Node *yaml.Node
}

// SigV4Block writes an `aws_sigv4 { … }` block into b. Named credentials go
// to a shared aws.credentials component; without any, the signer uses the
// SDK's default chain (environment, profile, IRSA, ECS, instance profile).
// defaultService fills an empty service_name (Prometheus' "aps"), which flow
// requires to be written out.
func (c *Context) SigV4Block(b *river.Body, s SigV4, defaultService string) {
	sb := b.Block("aws_sigv4", "")
	if s.Region != "" {
		sb.Attr("region", river.String(s.Region))
	} else {
		sb.Comment("No region in the YAML: requests are signed for AWS_REGION's (or the profile's) region.")
		k, _ := Key(s.Node, "region")
		if k == nil {
			k = s.Node
		}
		c.Report(k, diag.Warning, "aws_sigv4 has no region: requests are signed for the region of AWS_REGION or the AWS profile",
			"set region to the endpoint's region (us-east-1 for https://…us-east-1.amazonaws.com), or the signature will not match")
	}
	svc := s.ServiceName
	if svc == "" {
		svc = defaultService
		if svc != "" {
			sb.Comment("service_name is not in the YAML: " + svc + " is the upstream default.")
			k, _ := Key(s.Node, "service_name")
			if k == nil {
				k = s.Node
			}
			c.Reportf(k, diag.Info, "", "sigv4 has no service_name; wrote %q, the upstream default, because flow requires it", svc)
		} else {
			c.Report(s.Node, diag.Error, "aws_sigv4 has no service_name", `set service_name to the service the endpoint belongs to: "aps", "execute-api", "firehose", "logs", "s3"`)
		}
	}
	sb.Attr("service_name", river.String(svc))
	label := c.AWSCredentials(s.AWSAuth, s.Node)
	if label == "" {
		if s.UseFIPS {
			sb.Attr("use_fips_sts_endpoint", river.Bool(true))
		}
		if s.SessionName != "" {
			k, _ := Key(s.Node, "session_name")
			c.Report(k, diag.Warning, "session_name is ignored: no role_arn is set, so no session is assumed", "")
		}
		return
	}
	if s.SessionName != "" {
		for _, cr := range c.creds {
			if cr.label == label {
				cr.block.Attr("session_name", river.String(s.SessionName))
			}
		}
	}
	if s.UseFIPS {
		k, _ := Key(s.Node, "use_fips_sts_endpoint")
		c.Reportf(k, diag.Warning, "set sts_endpoint in aws.credentials."+label+" to your region's FIPS STS endpoint (https://sts-fips.<region>.amazonaws.com)",
			"use_fips_sts_endpoint is not carried over to aws.credentials.%s, which calls STS for this signer", label)
	}
	CredentialsBlock(&sb.Body, label)
}
