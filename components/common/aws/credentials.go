package aws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"

	"github.com/flow-telemetry/flow/internal/build"
	"github.com/flow-telemetry/flow/syntax/value"
)

// DefaultSessionDuration is how long AssumeRole sessions last unless asked otherwise.
const DefaultSessionDuration = time.Hour

// stsDefaultRegion is used for STS when nothing names a region: the global
// STS endpoint lives there.
const stsDefaultRegion = "us-east-1"

// CredentialsArgs says where credentials come from; every AWS-facing piece
// of flow (aws.credentials, aws_sigv4, discovery.aws.ec2) reduces its
// arguments to one and calls LoadConfig.
//
// Precedence: a credentials block (Static) > static keys > the SDK default
// chain (a block and keys together is allowed: the block wins, so a config
// can keep fallback keys while an aws.credentials component feeds it) (environment, shared files with Profile, web identity, container
// endpoint, IMDSv2). With RoleARN the result is the base for sts:AssumeRole,
// or, with WebIdentityTokenFile, sts:AssumeRoleWithWebIdentity is used.
type CredentialsArgs struct {
	Region      string
	Profile     string
	RoleARN     string
	ExternalID  string
	SessionName string
	// SessionDuration of assumed-role sessions (default DefaultSessionDuration).
	SessionDuration      time.Duration
	WebIdentityTokenFile string

	AccessKeyID     string
	SecretAccessKey value.Secret
	SessionToken    value.Secret
	// Static is a credentials block (usually an aws.credentials component's
	// exports). A block whose access key is empty means "not available
	// yet": requests fail with a clear error instead of falling back.
	Static *StaticCredentials

	// STSEndpoint overrides the STS endpoint (URL) for AssumeRole and web
	// identity calls. AWS_ENDPOINT_URL_STS does the same for every client.
	STSEndpoint string
	// UseFIPSSTSEndpoint sends STS calls to the FIPS endpoint (the setting
	// applies to every client made from the returned config).
	UseFIPSSTSEndpoint bool

	// HTTPClient is used for STS, IMDS and container-endpoint calls (nil:
	// the SDK's default).
	HTTPClient *http.Client
	// Logger receives the SDK's own log lines at debug level (nil: dropped).
	Logger *slog.Logger
	// NoCredentialsCacheWindow makes the SDK's credentials cache keep
	// credentials until they really expire (aws.credentials schedules its
	// own refreshes and must export the true expiration).
	NoCredentialsCacheWindow bool
	// NoRefreshGuard leaves the credentials provider without a
	// RefreshGuard: the caller paces its own fetches and checks lifetimes
	// (aws.credentials). Everyone else gets the guard.
	NoRefreshGuard bool
	// Clock, if set, records the Date header of every AWS response made
	// through the returned config (nil: LoadConfig uses its own, for the
	// guard's messages).
	Clock *ServerClock
}

var sessionNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[\w+=,.@-]{2,64}$`) })

// Validate checks combinations that can never work.
func (a *CredentialsArgs) Validate() error {
	if (a.AccessKeyID == "") != (a.SecretAccessKey == "") {
		return errors.New("access_key_id and secret_access_key must be given together")
	}
	if a.SessionToken != "" && a.AccessKeyID == "" {
		return errors.New("a session token needs access_key_id and secret_access_key")
	}
	if a.ExternalID != "" && a.RoleARN == "" {
		return errors.New("external_id is only used with role_arn")
	}
	if a.WebIdentityTokenFile != "" && a.RoleARN == "" {
		return errors.New("web_identity_token_file needs role_arn (the role to assume with the token)")
	}
	if a.WebIdentityTokenFile != "" && a.ExternalID != "" {
		return errors.New("external_id does not apply to web identity (AssumeRoleWithWebIdentity)")
	}
	if a.RoleARN != "" && !strings.HasPrefix(a.RoleARN, "arn:") {
		return fmt.Errorf("role_arn %q is not an ARN (arn:aws:iam::<account>:role/<name>)", a.RoleARN)
	}
	if a.SessionName != "" && !sessionNameRE().MatchString(a.SessionName) {
		return fmt.Errorf("session_name %q must be 2 to 64 characters of letters, digits and +=,.@_-", a.SessionName)
	}
	if a.SessionDuration < 0 {
		return errors.New("session_duration must be positive")
	}
	if a.STSEndpoint != "" {
		u, err := url.Parse(a.STSEndpoint)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("sts_endpoint %q must be a URL such as https://sts.eu-west-1.amazonaws.com", a.STSEndpoint)
		}
	}
	return nil
}

// LoadConfig builds an aws.Config from a: region, the credentials provider
// (wrapped in an aws.CredentialsCache, and that in a RefreshGuard unless
// a.NoRefreshGuard) and the SDK's other settings from the environment and
// shared files. Every SDK client made from it records AWS's Date header in
// a.Clock (or a clock of its own). It does not call AWS: credentials are
// fetched on first use.
func LoadConfig(ctx context.Context, a CredentialsArgs) (awssdk.Config, error) {
	if err := a.Validate(); err != nil {
		return awssdk.Config{}, err
	}
	clock := a.Clock
	if clock == nil {
		clock = &ServerClock{}
	}
	opts := []func(*config.LoadOptions) error{
		config.WithLogger(sdkLogger(a.Logger)),
		// Every AWS request (STS, EC2, IMDS) keeps the SDK's User-Agent,
		// which AWS reads, with "flow/<version>" added to it.
		config.WithAPIOptions([]func(*middleware.Stack) error{clock.apiOption(), awsmiddleware.AddUserAgentKeyValue("flow", build.Version())}),
	}
	if a.Region != "" {
		opts = append(opts, config.WithRegion(a.Region))
	}
	if a.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(a.Profile))
	}
	if a.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(a.HTTPClient))
	}
	if a.UseFIPSSTSEndpoint {
		opts = append(opts, config.WithUseFIPSEndpoint(awssdk.FIPSEndpointStateEnabled))
	}
	if a.NoCredentialsCacheWindow {
		opts = append(opts, config.WithCredentialsCacheOptions(func(o *awssdk.CredentialsCacheOptions) {
			o.ExpiryWindow = 0
			o.ExpiryWindowJitterFrac = 0
		}))
	}
	switch {
	case a.Static != nil:
		opts = append(opts, config.WithCredentialsProvider(staticBlockProvider(*a.Static)))
	case a.AccessKeyID != "":
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(
			a.AccessKeyID, string(a.SecretAccessKey), string(a.SessionToken))))
	}
	if a.STSEndpoint != "" {
		// The default chain builds its own STS clients (IRSA from the
		// environment, role profiles); point them at sts_endpoint too. The
		// SDK applies these options twice, first without a client (to
		// check the settings): only a real client is wrapped.
		ep := a.STSEndpoint
		opts = append(opts,
			config.WithWebIdentityRoleCredentialOptions(func(o *stscreds.WebIdentityRoleOptions) {
				if _, wrapped := o.Client.(webIdentityEndpoint); o.Client != nil && !wrapped {
					o.Client = webIdentityEndpoint{o.Client, ep}
				}
			}),
			config.WithAssumeRoleCredentialOptions(func(o *stscreds.AssumeRoleOptions) {
				if _, wrapped := o.Client.(assumeRoleEndpoint); o.Client != nil && !wrapped {
					o.Client = assumeRoleEndpoint{o.Client, ep}
				}
			}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		where := "the shared config and credentials files"
		if a.Profile != "" {
			where += fmt.Sprintf(" (profile %q)", a.Profile)
		}
		return awssdk.Config{}, fmt.Errorf("loading AWS settings from the environment and %s: %w", where, err)
	}
	if a.RoleARN == "" {
		return guard(cfg, a, clock), nil
	}

	stsClient := NewSTSClient(cfg, a.STSEndpoint)
	session := a.SessionName
	if session == "" {
		session = "flow"
	}
	duration := a.SessionDuration
	if duration == 0 {
		duration = DefaultSessionDuration
	}
	var provider awssdk.CredentialsProvider
	if a.WebIdentityTokenFile != "" {
		provider = stscreds.NewWebIdentityRoleProvider(stsClient, a.RoleARN,
			stscreds.IdentityTokenFile(a.WebIdentityTokenFile), func(o *stscreds.WebIdentityRoleOptions) {
				o.RoleSessionName = session
				o.Duration = duration
			})
	} else {
		provider = stscreds.NewAssumeRoleProvider(stsClient, a.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = session
			o.Duration = duration
			if a.ExternalID != "" {
				o.ExternalID = awssdk.String(a.ExternalID)
			}
		})
	}
	cfg.Credentials = awssdk.NewCredentialsCache(provider)
	return guard(cfg, a, clock), nil
}

// guard puts a RefreshGuard in front of cfg's credentials unless a says
// the caller paces its own fetches.
func guard(cfg awssdk.Config, a CredentialsArgs, clock *ServerClock) awssdk.Config {
	if !a.NoRefreshGuard && cfg.Credentials != nil {
		cfg.Credentials = NewRefreshGuard(cfg.Credentials, clock)
	}
	return cfg
}

// NewSTSClient returns an STS client from cfg, at endpoint if given, and in
// us-east-1 (the global endpoint's region) when cfg names no region.
func NewSTSClient(cfg awssdk.Config, endpoint string) *sts.Client {
	return sts.NewFromConfig(cfg, func(o *sts.Options) {
		if endpoint != "" {
			o.BaseEndpoint = awssdk.String(endpoint)
		}
		if o.Region == "" {
			o.Region = stsDefaultRegion
		}
	})
}

type webIdentityEndpoint struct {
	next     stscreds.AssumeRoleWithWebIdentityAPIClient
	endpoint string
}

func (c webIdentityEndpoint) AssumeRoleWithWebIdentity(ctx context.Context, in *sts.AssumeRoleWithWebIdentityInput, fns ...func(*sts.Options)) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	return c.next.AssumeRoleWithWebIdentity(ctx, in, append(fns, func(o *sts.Options) { o.BaseEndpoint = awssdk.String(c.endpoint) })...)
}

type assumeRoleEndpoint struct {
	next     stscreds.AssumeRoleAPIClient
	endpoint string
}

func (c assumeRoleEndpoint) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, fns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	return c.next.AssumeRole(ctx, in, append(fns, func(o *sts.Options) { o.BaseEndpoint = awssdk.String(c.endpoint) })...)
}

// ErrCredentialsNotReady is returned when a credentials block is present
// but empty: its source (an aws.credentials component) has none yet.
var ErrCredentialsNotReady = errors.New("the credentials block is empty: the aws.credentials component " +
	"feeding it has no credentials (yet); see that component's health")

// staticBlockProvider serves a credentials block.
func staticBlockProvider(s StaticCredentials) awssdk.CredentialsProvider {
	if s.AccessKeyID == "" || s.SecretAccessKey == "" {
		return awssdk.CredentialsProviderFunc(func(context.Context) (awssdk.Credentials, error) {
			return awssdk.Credentials{}, ErrCredentialsNotReady
		})
	}
	creds := awssdk.Credentials{
		AccessKeyID:     s.AccessKeyID,
		SecretAccessKey: string(s.SecretAccessKey),
		SessionToken:    string(s.Token),
		Source:          "CredentialsBlock",
	}
	return awssdk.CredentialsProviderFunc(func(context.Context) (awssdk.Credentials, error) { return creds, nil })
}

// ResolveRegion returns cfg's region (from arguments, the environment or
// the profile), else asks the EC2 instance metadata service (IMDSv2),
// giving up after timeout.
func ResolveRegion(ctx context.Context, cfg awssdk.Config, timeout time.Duration) (string, error) {
	if cfg.Region != "" {
		return cfg.Region, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := imds.NewFromConfig(cfg).GetRegion(ctx, &imds.GetRegionInput{})
	if err != nil {
		return "", fmt.Errorf("no region is set (argument, AWS_REGION or the profile) and the EC2 instance "+
			"metadata service could not tell it (not on EC2, IMDS disabled, or its hop limit too low?): %w", err)
	}
	if out.Region == "" {
		return "", errors.New("no region is set and the EC2 instance metadata service returned an empty region")
	}
	return out.Region, nil
}

// sdkLogger forwards the SDK's log lines to slog at debug (warnings at
// warn). Signing logs are never enabled, so no secrets pass through.
func sdkLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		if l == nil {
			return
		}
		level := slog.LevelDebug
		if c == logging.Warn {
			level = slog.LevelWarn
		}
		l.Log(context.Background(), level, "aws sdk: "+fmt.Sprintf(format, v...))
	})
}
