// Package awstest wires fakeaws into Go tests: it isolates the AWS SDK from
// the developer's machine and from real AWS (every AWS_* variable cleared,
// empty shared config and credentials files, IMDS disabled, a dead default
// endpoint), then points it at a fake AWS through the SDK's own endpoint
// variables. It uses t.Setenv, so tests using it cannot run in parallel.
package awstest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flow-telemetry/flow/internal/fakeaws"
)

// Files are the shared config and credentials files a test may write to.
type Files struct {
	Config      string
	Credentials string
}

// Isolate clears the AWS environment for the rest of the test. The SDK
// then finds no credentials and no region, cannot read ~/.aws, does not
// ask IMDS, and any client without an endpoint override goes to a dead
// loopback port instead of AWS.
func Isolate(t testing.TB) Files {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	dir := t.TempDir()
	f := Files{Config: filepath.Join(dir, "config"), Credentials: filepath.Join(dir, "credentials")}
	for _, p := range []string{f.Config, f.Credentials} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_CONFIG_FILE", f.Config)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", f.Credentials)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	return f
}

// Start starts a fake AWS for the test (closed at cleanup), isolates the
// environment and points the SDK's STS, EC2 and IMDS endpoints and region
// at the fake. IMDS is enabled (it is the fake's). No credentials are set.
func Start(t testing.TB, opts fakeaws.Options) (*fakeaws.AWS, Files) {
	t.Helper()
	files := Isolate(t)
	f := fakeaws.Start(opts)
	t.Cleanup(f.Close)
	for k, v := range f.Env() {
		t.Setenv(k, v)
	}
	os.Unsetenv("AWS_EC2_METADATA_DISABLED")
	return f, files
}

// StartWithRole is Start with the usual cast of a role test: a user named
// user whose keys are the environment's (SetKeys: the default chain's base
// credentials) and a role named role in the fake's account. With an
// externalID the role requires it and trusts only that user; without, it
// trusts any caller. It returns the fake, the user's key and the role's ARN.
func StartWithRole(t testing.TB, opts fakeaws.Options, user, role, externalID string) (*fakeaws.AWS, *fakeaws.Key, string) {
	t.Helper()
	f, _ := Start(t, opts)
	base := f.AddUser(user)
	SetKeys(t, base)
	r := fakeaws.Role{ARN: f.RoleARN(role)}
	if externalID != "" {
		r.ExternalID, r.TrustedPrincipals = externalID, []string{base.Principal}
	}
	f.AddRole(r)
	return f, base, r.ARN
}

// SetKeys exports k as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and
// AWS_SESSION_TOKEN) for the rest of the test.
func SetKeys(t testing.TB, k *fakeaws.Key) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", k.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", k.SecretAccessKey)
	if k.SessionToken != "" {
		t.Setenv("AWS_SESSION_TOKEN", k.SessionToken)
	}
}
