package credentials

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

// harness runs one aws.credentials component and records what it publishes
// and logs.
type harness struct {
	t    *testing.T
	f    *fakeaws.AWS
	c    *Component
	logs *flowproc.LockedBuffer

	mu        sync.Mutex
	published []published
}

type published struct {
	at time.Time
	e  Exports
}

func defaults() Arguments {
	var a Arguments
	a.SetToDefault()
	return a
}

// setIRSA sets the environment EKS gives a pod with IRSA: AWS_ROLE_ARN
// names a new role called name, and AWS_WEB_IDENTITY_TOKEN_FILE a projected
// token file holding token (a line, as the kubelet writes it), which the
// fake accepts for that role. It returns the role's ARN and the file.
func setIRSA(t *testing.T, f *fakeaws.AWS, name, token string) (role, tokenFile string) {
	t.Helper()
	role = f.RoleARN(name)
	f.AddRole(fakeaws.Role{ARN: role})
	tokenFile = filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, token+"\n")
	f.AddWebIdentityToken(token, role)
	t.Setenv("AWS_ROLE_ARN", role)
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile)
	return role, tokenFile
}

// withRole is the default arguments assuming role.
func withRole(role string) Arguments {
	a := defaults()
	a.RoleARN = role
	return a
}

func build(t *testing.T, f *fakeaws.AWS, args Arguments) (*harness, error) {
	t.Helper()
	h := &harness{t: t, f: f, logs: &flowproc.LockedBuffer{}}
	if err := args.Validate(); err != nil {
		return nil, err
	}
	c, err := New(component.Options{
		ID:     "aws.credentials.test",
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnStateChange: func(e component.Exports) {
			h.mu.Lock()
			h.published = append(h.published, published{time.Now(), e.(Exports)})
			h.mu.Unlock()
		},
	}, args)
	if err != nil {
		return nil, err
	}
	h.c = c
	return h, nil
}

func mustBuild(t *testing.T, f *fakeaws.AWS, args Arguments) *harness {
	t.Helper()
	h, err := build(t, f, args)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.c.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("Run: %v", err)
		}
	})
}

func (h *harness) last() Exports {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.published) == 0 {
		h.t.Fatal("nothing published")
	}
	return h.published[len(h.published)-1].e
}

func (h *harness) history() []published {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]published(nil), h.published...)
}

// callerARN checks exported credentials against the fake: they must sign a
// GetCallerIdentity the fake accepts, and it names the principal.
func callerARN(t *testing.T, f *fakeaws.AWS, e Exports) string {
	t.Helper()
	client := sts.New(sts.Options{
		Region:       f.Region(),
		BaseEndpoint: awssdk.String(f.STS.URL),
		Credentials:  awscreds.NewStaticCredentialsProvider(e.AccessKeyID, string(e.SecretAccessKey), string(e.Token)),
	})
	out, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("exported credentials rejected: %v", err)
	}
	return awssdk.ToString(out.Arn)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func healthy(t *testing.T, h *harness) {
	t.Helper()
	if hl := h.c.CurrentHealth(); hl.Health != component.HealthHealthy {
		t.Fatalf("health %s: %s", hl.Health, hl.Message)
	}
}

// TestChainOrder: environment keys win over the shared credentials file,
// which wins over the instance profile (IMDSv2).
func TestChainOrder(t *testing.T) {
	f, files := awstest.Start(t, fakeaws.Options{})
	f.AddRole(fakeaws.Role{ARN: f.RoleARN("instance-role")})
	f.SetInstanceProfile("instance-role")
	fileUser := f.AddUser("from-file")
	envUser := f.AddUser("from-env")

	// Only IMDS.
	h := mustBuild(t, f, defaults())
	healthy(t, h)
	e := h.last()
	if e.Source != "EC2RoleProvider" || e.Token == "" || e.Expiration == "" || e.Region != f.Region() {
		t.Fatalf("IMDS: %+v", e)
	}
	if arn := callerARN(t, f, e); !strings.Contains(arn, "assumed-role/instance-role/") {
		t.Fatalf("IMDS credentials act as %s", arn)
	}

	// The shared credentials file beats IMDS.
	writeFile(t, files.Credentials, fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		fileUser.AccessKeyID, fileUser.SecretAccessKey))
	h = mustBuild(t, f, defaults())
	e = h.last()
	if !strings.HasPrefix(e.Source, "SharedConfigCredentials") || e.AccessKeyID != fileUser.AccessKeyID || e.Expiration != "" {
		t.Fatalf("shared file: %+v", e)
	}
	if arn := callerARN(t, f, e); arn != fileUser.Principal {
		t.Fatalf("file credentials act as %s", arn)
	}

	// Environment variables beat both.
	awstest.SetKeys(t, envUser)
	h = mustBuild(t, f, defaults())
	e = h.last()
	if e.Source != "EnvConfigCredentials" || e.AccessKeyID != envUser.AccessKeyID {
		t.Fatalf("env: %+v", e)
	}
	if arn := callerARN(t, f, e); arn != envUser.Principal {
		t.Fatalf("env credentials act as %s", arn)
	}
	// Static keys in the arguments are used as given.
	args := defaults()
	args.AccessKeyID, args.SecretAccessKey = fileUser.AccessKeyID, value.Secret(fileUser.SecretAccessKey)
	h = mustBuild(t, f, args)
	if e := h.last(); e.AccessKeyID != fileUser.AccessKeyID || e.Source != "StaticCredentials" {
		t.Fatalf("static: %+v", e)
	}
}

// TestProfileSelection: profile picks a section of the shared files,
// including a role profile (role_arn + source_profile) the SDK assumes.
func TestProfileSelection(t *testing.T) {
	f, files := awstest.Start(t, fakeaws.Options{})
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	a, b := f.AddUser("alice"), f.AddUser("bob")
	role := f.RoleARN("via-profile")
	f.AddRole(fakeaws.Role{ARN: role, TrustedPrincipals: []string{b.Principal}})
	writeFile(t, files.Credentials, fmt.Sprintf("[alice]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n"+
		"[bob]\naws_access_key_id = %s\naws_secret_access_key = %s\n", a.AccessKeyID, a.SecretAccessKey, b.AccessKeyID, b.SecretAccessKey))
	writeFile(t, files.Config, fmt.Sprintf("[profile roled]\nrole_arn = %s\nsource_profile = bob\nregion = %s\n", role, f.Region()))

	for profile, want := range map[string]string{"alice": a.Principal, "bob": b.Principal} {
		args := defaults()
		args.Profile = profile
		h := mustBuild(t, f, args)
		healthy(t, h)
		if arn := callerARN(t, f, h.last()); arn != want {
			t.Fatalf("profile %s acts as %s", profile, arn)
		}
	}
	args := defaults()
	args.Profile = "roled"
	h := mustBuild(t, f, args)
	healthy(t, h)
	if arn := callerARN(t, f, h.last()); !strings.Contains(arn, "assumed-role/via-profile/") {
		t.Fatalf("role profile acts as %s", arn)
	}

	args.Profile = "nope"
	if _, err := build(t, f, args); err == nil || !strings.Contains(err.Error(), `profile "nope"`) {
		t.Fatalf("missing profile: %v", err)
	}
}

// TestWebIdentity: IRSA from the environment, and the same through the
// component's own web_identity_token_file + role_arn.
func TestWebIdentity(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	role, tokenFile := setIRSA(t, f, "irsa", "eyJhbGciOiJSUzI1NiJ9.fake-service-account-token")
	h := mustBuild(t, f, defaults())
	healthy(t, h)
	e := h.last()
	if e.Source != "WebIdentityCredentials" || e.Token == "" {
		t.Fatalf("IRSA: %+v", e)
	}
	if arn := callerARN(t, f, e); !strings.Contains(arn, "assumed-role/irsa/") {
		t.Fatalf("IRSA acts as %s", arn)
	}
	os.Unsetenv("AWS_ROLE_ARN")
	os.Unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE")

	args := defaults()
	args.RoleARN, args.WebIdentityTokenFile = role, tokenFile
	h = mustBuild(t, f, args)
	healthy(t, h)
	if arn := callerARN(t, f, h.last()); arn != "arn:aws:sts::123456789012:assumed-role/irsa/flow-aws.credentials.test" {
		t.Fatalf("web_identity_token_file acts as %s", arn)
	}

	// A token STS does not accept.
	writeFile(t, tokenFile, "not-a-valid-token")
	h = mustBuild(t, f, args)
	hl := h.c.CurrentHealth()
	if hl.Health != component.HealthUnhealthy || !strings.Contains(hl.Message, "InvalidIdentityToken") || !strings.Contains(hl.Message, "OIDC provider") {
		t.Fatalf("bad token: %s %s", hl.Health, hl.Message)
	}
}

// TestContainerCredentials: the ECS/EKS-pod-identity container endpoint.
func TestContainerCredentials(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	f.AddRole(fakeaws.Role{ARN: f.RoleARN("task-role")})
	f.SetContainerRole("task-role")
	for k, v := range f.ContainerEnv() {
		t.Setenv(k, v)
	}
	h := mustBuild(t, f, defaults())
	healthy(t, h)
	e := h.last()
	if e.Source != "CredentialsEndpointProvider" || e.Expiration == "" {
		t.Fatalf("container: %+v", e)
	}
	if arn := callerARN(t, f, e); !strings.Contains(arn, "assumed-role/task-role/") {
		t.Fatalf("container credentials act as %s", arn)
	}
}

// TestAssumeRoleExternalID: role_arn with external_id over base keys from
// the environment; a wrong external ID is refused with a trust-policy hint.
func TestAssumeRoleExternalID(t *testing.T) {
	f, _, role := awstest.StartWithRole(t, fakeaws.Options{}, "base", "cross-account", "s3cr3t-ext")

	args := defaults()
	args.RoleARN, args.ExternalID, args.SessionName = role, "s3cr3t-ext", "discovery"
	h := mustBuild(t, f, args)
	healthy(t, h)
	e := h.last()
	if e.Source != "AssumeRoleProvider" || e.Region != f.Region() {
		t.Fatalf("assume role: %+v", e)
	}
	if arn := callerARN(t, f, e); arn != "arn:aws:sts::123456789012:assumed-role/cross-account/discovery" {
		t.Fatalf("acts as %s", arn)
	}
	exp, err := time.Parse(time.RFC3339, e.Expiration)
	if err != nil || time.Until(exp) < 50*time.Minute {
		t.Fatalf("expiration %q (%v)", e.Expiration, err)
	}

	args.ExternalID = "wrong"
	h = mustBuild(t, f, args)
	hl := h.c.CurrentHealth()
	if hl.Health != component.HealthUnhealthy || !strings.Contains(hl.Message, "AccessDenied") ||
		!strings.Contains(hl.Message, "trust policy") || !strings.Contains(hl.Message, role) {
		t.Fatalf("wrong external_id: %s %s", hl.Health, hl.Message)
	}
	if e := h.last(); e.AccessKeyID != "" || e.SecretAccessKey != "" {
		t.Fatalf("failed build exported credentials: %+v", e)
	}
}

// TestRefreshBeforeExpiry: 3-second credentials rotate before they expire,
// each new set published, none used after a newer one exists.
func TestRefreshBeforeExpiry(t *testing.T) {
	f, _, role := awstest.StartWithRole(t, fakeaws.Options{CredentialLifetime: 3 * time.Second}, "base", "short", "")
	h := mustBuild(t, f, withRole(role))
	h.run()

	testwait.Eventually(t, 15*time.Second, func() bool { return len(h.history()) >= 5 }, "4 rotations")
	hist := h.history()
	seen := map[string]bool{}
	for i, p := range hist {
		if seen[p.e.AccessKeyID] {
			t.Fatalf("credentials %d repeat an earlier set", i)
		}
		seen[p.e.AccessKeyID] = true
		if i == 0 {
			continue
		}
		prevExp, err := time.Parse(time.RFC3339, hist[i-1].e.Expiration)
		if err != nil {
			t.Fatal(err)
		}
		// Published ahead of the previous set's expiry (RFC 3339 drops the
		// fraction, so allow the second it truncates).
		if !p.at.Before(prevExp.Add(time.Second)) {
			t.Fatalf("rotation %d published at %s, after the previous set expired at %s", i, p.at, prevExp)
		}
	}
	callerARN(t, f, h.last())
	if s := f.Stats(); s.Rejected != 0 || s.Stale != 0 || s.ByAction["sts:AssumeRole"] < 5 {
		t.Fatalf("fake stats %+v", s)
	}
	d := h.c.DebugInfo().(DebugInfo)
	if d.RefreshCount < 5 || d.Source != "AssumeRoleProvider" || d.LastRefresh == "" || d.NextRefresh == "" || d.LastError != "" {
		t.Fatalf("debug info %+v", d)
	}
	healthy(t, h)

	if got := refreshBefore(5*time.Minute, time.Hour); got != 5*time.Minute {
		t.Fatalf("refreshBefore(5m, 1h) = %s", got)
	}
	if got := refreshBefore(5*time.Minute, 3*time.Second); got != 1500*time.Millisecond {
		t.Fatalf("refreshBefore(5m, 3s) = %s", got)
	}
}

// TestFailuresKeepLastCredentials: a failing refresh makes the component
// unhealthy with the AWS code and hint, keeps exporting the last
// credentials until they expire, then stops, retries with backoff and
// recovers.
func TestFailuresKeepLastCredentials(t *testing.T) {
	f, base, role := awstest.StartWithRole(t, fakeaws.Options{CredentialLifetime: 3 * time.Second}, "base", "flaky", "")
	h := mustBuild(t, f, withRole(role))
	first := h.last()
	f.FailNext("sts:AssumeRole", 1000, fakeaws.Error{Status: 403, Code: "AccessDenied",
		Message: "User: " + base.Principal + " is not authorized to perform: sts:AssumeRole on resource: " + role})
	h.c.maxBackoff = time.Second // keep the test short; backoffFor is checked below
	h.run()

	testwait.Eventually(t, 20*time.Second, func() bool {
		return h.c.CurrentHealth().Health == component.HealthUnhealthy
	}, "unhealthy after the first failed refresh")
	hl := h.c.CurrentHealth()
	if !strings.Contains(hl.Message, "AccessDenied") || !strings.Contains(hl.Message, "trust policy") ||
		!strings.Contains(hl.Message, "serving the previous credentials") {
		t.Fatalf("health while failing: %s", hl.Message)
	}
	if e := h.last(); e.AccessKeyID != first.AccessKeyID {
		t.Fatalf("credentials dropped before they expired")
	}
	exp, _ := time.Parse(time.RFC3339Nano, h.c.DebugInfo().(DebugInfo).Expiration)
	testwait.Eventually(t, 10*time.Second, func() bool { return h.last().AccessKeyID == "" }, "credentials withdrawn after expiry")
	if time.Now().Before(exp) {
		t.Fatalf("credentials withdrawn before %s", exp)
	}
	if d := h.c.DebugInfo().(DebugInfo); d.ConsecutiveFailures < 2 || !strings.Contains(d.LastError, "AccessDenied") {
		t.Fatalf("debug while failing %+v", d)
	}

	f.ClearFailures()
	testwait.Eventually(t, 15*time.Second, func() bool {
		return h.c.CurrentHealth().Health == component.HealthHealthy && h.last().AccessKeyID != ""
	}, "recovery")
	callerARN(t, f, h.last())

	prevMax := time.Duration(0)
	for n := 1; n <= 20; n++ {
		d := backoffFor(n, time.Minute)
		hi := min(time.Second<<min(n-1, 16), time.Minute)
		lo := max(hi*4/5, time.Second)
		if d < lo || d > hi || hi < prevMax {
			t.Fatalf("backoff %d = %s outside [%s, %s]", n, d, lo, hi)
		}
		prevMax = hi
	}
	if backoffFor(1, time.Minute) != time.Second {
		t.Fatal("the first retry is not 1s later")
	}
	if backoffFor(30, time.Minute) > time.Minute {
		t.Fatal("backoff above its cap")
	}
}

// TestErrorCodes: each usual failure names its AWS code and a hint.
func TestErrorCodes(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	role := f.RoleARN("r")
	f.AddRole(fakeaws.Role{ARN: role})

	t.Run("NoCredentialProviders", func(t *testing.T) {
		f.SetInstanceProfile("") // an instance without a role
		h := mustBuild(t, f, defaults())
		hl := h.c.CurrentHealth()
		if hl.Health != component.HealthUnhealthy || !strings.Contains(hl.Message, "NoCredentialProviders") ||
			!strings.Contains(hl.Message, "attach an IAM role") {
			t.Fatalf("%s: %s", hl.Health, hl.Message)
		}
	})
	t.Run("InvalidClientTokenId", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIDONOTEXIST00000")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "does-not-matter-does-not-matter-00000000")
		h := mustBuild(t, f, withRole(role))
		if hl := h.c.CurrentHealth(); !strings.Contains(hl.Message, "InvalidClientTokenId") || !strings.Contains(hl.Message, "rotated") {
			t.Fatalf("%s", hl.Message)
		}
	})
	t.Run("ExpiredToken", func(t *testing.T) {
		k := f.Issue("arn:aws:sts::123456789012:assumed-role/base/x", 10*time.Millisecond)
		time.Sleep(50 * time.Millisecond)
		awstest.SetKeys(t, k)
		h := mustBuild(t, f, withRole(role))
		if hl := h.c.CurrentHealth(); !strings.Contains(hl.Message, "ExpiredToken") || !strings.Contains(hl.Message, "NTP") {
			t.Fatalf("%s", hl.Message)
		}
	})
	t.Run("AccessDenied", func(t *testing.T) {
		awstest.SetKeys(t, f.AddUser("nobody"))
		args := defaults()
		args.RoleARN = f.RoleARN("not-there")
		h := mustBuild(t, f, args)
		if hl := h.c.CurrentHealth(); !strings.Contains(hl.Message, "AccessDenied") || !strings.Contains(hl.Message, "trust policy") {
			t.Fatalf("%s", hl.Message)
		}
	})
	t.Run("invalid arguments", func(t *testing.T) {
		for _, c := range []struct {
			mut  func(*Arguments)
			want string
		}{
			{func(a *Arguments) { a.AccessKeyID = "AKIA" }, "together"},
			{func(a *Arguments) { a.ExternalID = "x" }, "role_arn"},
			{func(a *Arguments) { a.WebIdentityTokenFile = "/t" }, "needs role_arn"},
			{func(a *Arguments) { a.RoleARN = role; a.SessionDuration = time.Minute }, "15m to 12h"},
			{func(a *Arguments) { a.RefreshBefore = 0 }, "refresh_before"},
			{func(a *Arguments) { a.STSEndpoint = "sts.local" }, "must be a URL"},
			{func(a *Arguments) { a.RoleARN = role; a.SessionName = "has space" }, "session_name"},
		} {
			args := defaults()
			c.mut(&args)
			if err := args.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%+v: %v, want %q", args, err, c.want)
			}
		}
	})
}

// TestSTSEndpointArgument: sts_endpoint reaches the fake without the
// AWS_ENDPOINT_URL_STS variable.
func TestSTSEndpointArgument(t *testing.T) {
	f, files := awstest.Start(t, fakeaws.Options{})
	os.Unsetenv("AWS_ENDPOINT_URL_STS")
	base := f.AddUser("base")
	role := f.RoleARN("r")
	f.AddRole(fakeaws.Role{ARN: role})
	args := defaults()
	args.AccessKeyID, args.SecretAccessKey = base.AccessKeyID, value.Secret(base.SecretAccessKey)
	args.RoleARN, args.STSEndpoint = role, f.STS.URL
	h := mustBuild(t, f, args)
	healthy(t, h)
	if n := f.Stats().ByAction["sts:AssumeRole"]; n != 1 {
		t.Fatalf("AssumeRole calls %d", n)
	}

	// IRSA from the environment goes to sts_endpoint too.
	setIRSA(t, f, "irsa", "projected-token")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	args = defaults()
	args.STSEndpoint = f.STS.URL
	h = mustBuild(t, f, args)
	healthy(t, h)
	if e := h.last(); e.Source != "WebIdentityCredentials" {
		t.Fatalf("IRSA via sts_endpoint: %+v", e)
	}

	// So does a role profile (role_arn + source_profile in the shared config).
	os.Unsetenv("AWS_ROLE_ARN")
	os.Unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE")
	writeFile(t, files.Credentials, fmt.Sprintf("[src]\naws_access_key_id = %s\naws_secret_access_key = %s\n", base.AccessKeyID, base.SecretAccessKey))
	writeFile(t, files.Config, fmt.Sprintf("[profile roled]\nrole_arn = %s\nsource_profile = src\n", role))
	args.Profile = "roled"
	h = mustBuild(t, f, args)
	healthy(t, h)
	if n := f.Stats().ByAction["sts:AssumeRole"]; n != 2 {
		t.Fatalf("AssumeRole calls %d after the role profile", n)
	}
}

// TestUpdate: new arguments take effect at once.
func TestUpdate(t *testing.T) {
	f, _ := awstest.Start(t, fakeaws.Options{})
	awstest.SetKeys(t, f.AddUser("base"))
	r1, r2 := f.RoleARN("one"), f.RoleARN("two")
	f.AddRole(fakeaws.Role{ARN: r1})
	f.AddRole(fakeaws.Role{ARN: r2})
	args := withRole(r1)
	h := mustBuild(t, f, args)
	h.run()
	args.RoleARN = r2
	if err := h.c.Update(args); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, func() bool {
		return strings.Contains(callerARN(t, f, h.last()), "assumed-role/two/")
	}, "credentials of the new role")
	args.Profile = "missing"
	if err := h.c.Update(args); err == nil {
		t.Fatal("Update with a missing profile succeeded")
	}
}

// TestSecretsNeverShown: secrets and tokens appear in no log line, health
// message, debug info, error or printed exports, through success and
// every failure path.
func TestSecretsNeverShown(t *testing.T) {
	f, base, role := awstest.StartWithRole(t, fakeaws.Options{CredentialLifetime: 2 * time.Second}, "base", "r", "")
	h := mustBuild(t, f, withRole(role))
	h.run()
	testwait.Eventually(t, 10*time.Second, func() bool { return len(h.history()) >= 2 }, "a rotation")
	f.FailNext("sts:AssumeRole", 3, fakeaws.Error{Status: 403, Code: "SignatureDoesNotMatch",
		Message: "echoing the secret " + base.SecretAccessKey + " like a careless server"})
	testwait.Eventually(t, 10*time.Second, func() bool { return h.c.DebugInfo().(DebugInfo).LastError != "" }, "a failure")
	d := h.c.DebugInfo().(DebugInfo)
	hl := h.c.CurrentHealth()
	shown := h.logs.String() + hl.Message + fmt.Sprintf("%v %+v %#v", d, d, d)
	for _, p := range h.history() {
		shown += fmt.Sprintf("%v %+v %#v", p.e, p.e, p.e)
	}
	secrets := []string{base.SecretAccessKey}
	for _, p := range h.history() {
		if p.e.SecretAccessKey != "" {
			secrets = append(secrets, string(p.e.SecretAccessKey), string(p.e.Token))
		}
	}
	for _, s := range secrets {
		if strings.Contains(shown, s) {
			t.Fatalf("a secret is shown:\n%s", shown)
		}
	}
	if !strings.Contains(shown, "(secret)") || !strings.Contains(d.LastError, "SignatureDoesNotMatch") {
		t.Fatalf("expected redacted output and the error code:\n%s", shown)
	}
}
