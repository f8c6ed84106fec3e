package aws

import (
	"context"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/rivertest"
)

// TestDecodeBlocks: the seed's aws_sigv4 block (with a credentials block)
// and Alloy's sigv4 block decode into SigV4Config and validate.
func TestDecodeBlocks(t *testing.T) {
	var seed SigV4Config
	rivertest.Decode(t, `
region = "eu-west-1"
service_name = "execute-api"
credentials {
  access_key_id = "ASIAEXAMPLE"
  secret_access_key = "secret"
  token = "token"
}
`, &seed)
	if err := seed.Validate(); err != nil {
		t.Fatal(err)
	}
	if ca := seed.CredentialsArgs(); ca.Static == nil || ca.Static.Token != "token" || ca.Region != "eu-west-1" {
		t.Fatalf("seed block %+v", ca)
	}

	var alloy SigV4Config
	rivertest.Decode(t, `
region = "us-west-2"
access_key = "AKIAEXAMPLE"
secret_key = "secret"
profile = "p"
role_arn = "arn:aws:iam::123456789012:role/r"
external_id = "x"
service_name = "aps"
use_fips_sts_endpoint = true
`, &alloy)
	if err := alloy.Validate(); err != nil {
		t.Fatal(err)
	}
	ca := alloy.CredentialsArgs()
	if ca.AccessKeyID != "AKIAEXAMPLE" || ca.SecretAccessKey != "secret" || ca.RoleARN == "" || ca.ExternalID != "x" || !ca.UseFIPSSTSEndpoint {
		t.Fatalf("Alloy block %+v", ca)
	}

	var missing SigV4Config
	if diags := rivertest.DecodeErr(`region = "us-east-1"`, &missing); !diags.HasErrors() || !strings.Contains(diags.Error(), "service_name") {
		t.Fatalf("a block without service_name decoded: %v", diags)
	}
}

// TestLoadConfigFIPS: use_fips_sts_endpoint reaches the STS client.
func TestLoadConfigFIPS(t *testing.T) {
	awstest.Isolate(t)
	cfg, err := LoadConfig(context.Background(), CredentialsArgs{Region: "us-east-1", UseFIPSSTSEndpoint: true,
		AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if got := NewSTSClient(cfg, "").Options().EndpointOptions.UseFIPSEndpoint; got != awssdk.FIPSEndpointStateEnabled {
		t.Fatalf("FIPS state %v", got)
	}
	// Without a region STS still gets one: the global endpoint's.
	cfg.Region = ""
	if got := NewSTSClient(cfg, "").Options().Region; got != "us-east-1" {
		t.Fatalf("STS region %q", got)
	}
}
