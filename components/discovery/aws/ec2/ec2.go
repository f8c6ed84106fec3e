// Package ec2 is the discovery.aws.ec2 component (also registered under
// Alloy's name, discovery.ec2): it lists EC2 instances with
// DescribeInstances and exports one target per instance with the same
// __meta_ec2_* labels as Prometheus' EC2 service discovery.
//
// Credentials come from a credentials block (usually an aws.credentials
// component's exports), static keys, or the SDK default chain with an
// optional role. Every request signs with the newest credentials: Update
// swaps them under the running client.
//
// Alloy's HTTP client settings (components/common/httpclient) build the
// *http.Client the AWS SDK sends the EC2 API calls and the STS calls of
// role_arn with: tls_config, proxy_url / no_proxy / proxy_from_environment /
// proxy_connect_header, http_headers, follow_redirects and enable_http2 apply
// to them as in Prometheus' EC2 SD. Two exceptions, both decisions:
//
//   - Calls to this machine's own credential sources (the instance metadata
//     service, ECS and EKS container credential endpoints) use the SDK's
//     default client: they are link-local or loopback services that no proxy
//     can reach on this machine's behalf, and a proxy that answered would
//     hand over its own instance's credentials.
//   - basic_auth, authorization, oauth2 and bearer_token(_file) are accepted
//     and validated, and a warning names them once: every EC2 API request is
//     authenticated by its SigV4 signature, which is the Authorization
//     header, so there is no header left for them. (In Prometheus and Alloy
//     the first three are silently skipped on signed requests and oauth2
//     overwrites the signature, which makes every call fail.)
package ec2

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/prometheus/prometheus/util/strutil"

	commonaws "github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/components/common/relabel"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/syntax/value"
)

func init() {
	for _, name := range []string{"discovery.aws.ec2", "discovery.ec2"} {
		component.Register(component.Registration{
			Name:    name,
			Args:    Arguments{},
			Exports: Exports{},
			Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
				return New(opts, args.(Arguments))
			},
		})
	}
}

// Filter selects instances (DescribeInstances filters, such as
// name = "tag:Name", values = ["web-*"]).
type Filter struct {
	Name   string   `river:"name,attr"`
	Values []string `river:"values,attr"`
}

// Arguments configure the discovery.
type Arguments struct {
	// Region; if empty, taken from AWS_REGION or the profile, else asked of
	// the EC2 instance metadata service.
	Region          string        `river:"region,attr,optional"`
	Endpoint        string        `river:"endpoint,attr,optional"`
	Port            int           `river:"port,attr,optional"`
	RefreshInterval time.Duration `river:"refresh_interval,attr,optional"`
	// Filters is the seed's attribute form; FilterBlocks is Alloy's
	// repeated filter block. Both may be used; they add up.
	Filters      []Filter `river:"filters,attr,optional"`
	FilterBlocks []Filter `river:"filter,block,optional"`

	RoleARN    string `river:"role_arn,attr,optional"`
	ExternalID string `river:"external_id,attr,optional"`
	Profile    string `river:"profile,attr,optional"`

	AccessKeyID     string       `river:"access_key_id,attr,optional"`
	SecretAccessKey value.Secret `river:"secret_access_key,attr,optional"`
	// Alloy's spellings.
	AccessKey string       `river:"access_key,attr,optional"`
	SecretKey value.Secret `river:"secret_key,attr,optional"`

	Credentials *commonaws.StaticCredentials `river:"credentials,block,optional"`

	// HTTPClient is Alloy's HTTP client surface (see the package comment for
	// what applies to AWS API calls).
	HTTPClient httpclient.Config `river:",squash"`
}

// SetToDefault sets port 80, refresh_interval 60s, follow_redirects and
// enable_http2, as Prometheus and Alloy.
func (a *Arguments) SetToDefault() {
	*a = Arguments{Port: 80, RefreshInterval: 60 * time.Second, HTTPClient: httpclient.Default()}
}

// Validate checks the arguments without calling AWS.
func (a *Arguments) Validate() error {
	if a.Port < 1 || a.Port > 65535 {
		return fmt.Errorf("port %d is not a TCP port (1-65535)", a.Port)
	}
	if a.RefreshInterval <= 0 {
		return errors.New("refresh_interval must be positive")
	}
	for _, f := range a.allFilters() {
		if strings.TrimSpace(f.Name) == "" {
			return errors.New("a filter has no name (for example \"tag:Name\" or \"instance-state-name\")")
		}
		if len(f.Values) == 0 {
			return fmt.Errorf("filter %q has no values: EC2 SD filter values cannot be empty", f.Name)
		}
	}
	if err := commonaws.CheckAlloyKeys(a.AccessKeyID, a.AccessKey, a.SecretAccessKey, a.SecretKey); err != nil {
		return err
	}
	if a.Endpoint != "" {
		u, err := url.Parse(a.Endpoint)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("endpoint %q must be a URL such as https://ec2.eu-west-1.amazonaws.com", a.Endpoint)
		}
	}
	if err := a.HTTPClient.Validate(); err != nil {
		return err
	}
	ca := a.credentialsArgs()
	return ca.Validate()
}

func (a *Arguments) allFilters() []Filter {
	return append(append([]Filter(nil), a.Filters...), a.FilterBlocks...)
}

func (a *Arguments) credentialsArgs() commonaws.CredentialsArgs {
	ca := commonaws.CredentialsArgs{
		Region:          a.Region,
		Profile:         a.Profile,
		RoleARN:         a.RoleARN,
		ExternalID:      a.ExternalID,
		AccessKeyID:     a.AccessKeyID,
		SecretAccessKey: a.SecretAccessKey,
		Static:          a.Credentials,
	}
	ca.MergeAlloyKeys(a.AccessKey, a.SecretKey)
	return ca
}

// Exports are the discovered targets.
type Exports struct {
	Targets []map[string]string `river:"targets,attr"`
}

// DebugInfo is shown in the API and UI.
type DebugInfo struct {
	Region       string `river:"region,attr"`
	InstanceSeen int    `river:"instances_seen,attr"`
	Targets      int    `river:"targets,attr"`
	Pages        int    `river:"pages,attr"`
	LastRefresh  string `river:"last_refresh,attr"`
	RefreshCount int    `river:"refresh_count,attr"`
	LastError    string `river:"last_error,attr"`
}

// Component is a running discovery.aws.ec2.
type Component struct {
	opts component.Options
	kick chan struct{}
	// provider is what every request's signer asks for credentials; Update
	// replaces it, so the next request (even the next page of a running
	// refresh) uses the new credentials.
	provider atomic.Pointer[providerBox]

	mu      sync.Mutex
	args    Arguments
	region  string
	client  *ec2API
	azToID  map[string]string
	targets []map[string]string
	health  component.Health
	debug   DebugInfo

	httpClient *http.Client
	warned     map[string]bool // arguments already warned about
}

type providerBox struct{ p awssdk.CredentialsProvider }

var (
	_ component.HealthComponent = (*Component)(nil)
	_ component.DebugComponent  = (*Component)(nil)
)

// New builds the component. It resolves the region (asking IMDS if none is
// configured) and fails if that is impossible; it calls no other AWS API.
func New(opts component.Options, args Arguments) (*Component, error) {
	c := &Component{opts: opts, kick: make(chan struct{}, 1)}
	if err := c.configure(args); err != nil {
		return nil, err
	}
	c.targets = []map[string]string{}
	if opts.OnStateChange != nil {
		opts.OnStateChange(Exports{Targets: c.targets})
	}
	return c, nil
}

// configure loads credentials and builds the client for args.
func (c *Component) configure(args Arguments) error {
	c.warnUnused(args)
	hc, err := newAWSHTTPClient(args.HTTPClient)
	if err != nil {
		return fmt.Errorf("discovery.aws.ec2: %w", err)
	}
	ca := args.credentialsArgs()
	ca.Logger = c.opts.Logger
	ca.HTTPClient = hc
	cfg, err := commonaws.LoadConfig(context.Background(), ca)
	if err != nil {
		return fmt.Errorf("discovery.aws.ec2: %w", err)
	}

	c.mu.Lock()
	prevRegion, prevArg := c.region, c.args.Region
	c.mu.Unlock()
	region := cfg.Region
	if region == "" && prevRegion != "" && prevArg == "" {
		region = prevRegion // asked of IMDS before; the instance has not moved
	}
	if region == "" {
		region, err = commonaws.ResolveRegion(context.Background(), cfg, 5*time.Second)
		if err != nil {
			return fmt.Errorf("discovery.aws.ec2: %w; set region", err)
		}
	}
	cfg.Region = region

	box := &providerBox{p: cfg.Credentials}
	if box.p == nil {
		box.p = awssdk.AnonymousCredentials{}
	}
	cfg.Credentials = awssdk.CredentialsProviderFunc(c.retrieve)
	client := newEC2API(ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if args.Endpoint != "" {
			o.BaseEndpoint = awssdk.String(args.Endpoint)
		}
		o.HTTPClient = hc
	}))

	c.mu.Lock()
	refreshNow := c.client == nil || settingsChanged(c.args, args) || region != c.region
	if region != c.region {
		c.azToID = nil
	}
	c.args, c.region, c.client = args, region, client
	oldHC := c.httpClient
	c.httpClient = hc
	c.debug.Region = region
	c.mu.Unlock()
	if oldHC != nil {
		oldHC.CloseIdleConnections()
	}
	c.provider.Store(box)
	if refreshNow {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// retrieve hands the signer the current credentials provider's answer.
func (c *Component) retrieve(ctx context.Context) (awssdk.Credentials, error) {
	return c.provider.Load().p.Retrieve(ctx)
}

// settingsChanged reports whether anything but credentials changed, which
// calls for a refresh at once (new credentials alone wait for the next tick).
func settingsChanged(a, b Arguments) bool {
	a.Credentials, b.Credentials = nil, nil
	a.AccessKeyID, b.AccessKeyID, a.SecretAccessKey, b.SecretAccessKey = "", "", "", ""
	a.AccessKey, b.AccessKey, a.SecretKey, b.SecretKey = "", "", "", ""
	return !reflect.DeepEqual(a, b)
}

// Update applies new arguments; new credentials are used from the next request on.
func (c *Component) Update(args component.Arguments) error {
	return c.configure(args.(Arguments))
}

// Run refreshes at once (New queued the first refresh) and then every
// refresh_interval until ctx ends.
func (c *Component) Run(ctx context.Context) error {
	c.mu.Lock()
	timer := time.NewTimer(c.args.RefreshInterval)
	c.mu.Unlock()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
		case <-timer.C:
		}
		c.refresh(ctx)
		c.mu.Lock()
		interval := c.args.RefreshInterval
		c.mu.Unlock()
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(interval)
	}
}

// ec2API holds the two EC2 operations the component calls, as method values
// of the SDK's client, and never the *ec2.Client itself. This keeps the flow
// binary about 19 MB smaller: once reflection can call methods by name
// (text/template is linked, through golang.org/x/net/trace, which
// Prometheus' HTTP client imports), Go's linker keeps every exported method
// of any type reachable from an interface value, a struct field of a boxed
// struct included. *ec2.Client has some 700 operations, each with its
// serializers; a client kept in the Component's fields, or passed to the
// SDK's paginator (an interface), kept them all. A method value hides the
// client in a closure, which reflection cannot reach. Prometheus' own EC2
// discovery does the same (ec2ClientAdapter).
type ec2API struct {
	describeInstances         func(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	describeAvailabilityZones func(context.Context, *ec2.DescribeAvailabilityZonesInput, ...func(*ec2.Options)) (*ec2.DescribeAvailabilityZonesOutput, error)
}

func newEC2API(c *ec2.Client) *ec2API {
	return &ec2API{describeInstances: c.DescribeInstances, describeAvailabilityZones: c.DescribeAvailabilityZones}
}

// refresh lists the instances and publishes their targets. On error the
// component turns unhealthy and keeps its last good targets.
func (c *Component) refresh(ctx context.Context) {
	c.mu.Lock()
	client, region, args, azToID := c.client, c.region, c.args, c.azToID
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, max(args.RefreshInterval, 30*time.Second))
	defer cancel()

	if azToID == nil {
		// Zone IDs label the targets; a failure here only leaves them empty,
		// as in Prometheus, and is retried next time.
		if m, err := describeZones(ctx, client); err == nil {
			azToID = m
		} else if c.opts.Logger != nil {
			c.opts.Logger.Debug("unable to describe availability zones", "err", commonaws.ExplainError("DescribeAvailabilityZones", err))
		}
	}

	var filters []ec2types.Filter
	for _, f := range args.allFilters() {
		filters = append(filters, ec2types.Filter{Name: awssdk.String(f.Name), Values: f.Values})
	}
	targets := []map[string]string{}
	instances, pages := 0, 0
	in := &ec2.DescribeInstancesInput{Filters: filters}
	for {
		out, err := client.describeInstances(ctx, in)
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				return // shutting down
			}
			c.failed(region, err)
			return
		}
		pages++
		for _, r := range out.Reservations {
			for i := range r.Instances {
				instances++
				if t := targetFor(&r.Instances[i], r.OwnerId, region, args.Port, azToID); t != nil {
					targets = append(targets, t)
				}
			}
		}
		// The SDK's paginator stops on an empty or repeated token; so does this loop.
		next := awssdk.ToString(out.NextToken)
		if next == "" || next == awssdk.ToString(in.NextToken) {
			break
		}
		in = &ec2.DescribeInstancesInput{Filters: filters, NextToken: out.NextToken}
	}

	now := time.Now()
	c.mu.Lock()
	if azToID != nil && c.region == region {
		c.azToID = azToID
	}
	c.targets = targets
	c.health = component.Health{Health: component.HealthHealthy, UpdateTime: now,
		Message: fmt.Sprintf("%d targets from %d instances in %s", len(targets), instances, region)}
	c.debug.InstanceSeen, c.debug.Targets, c.debug.Pages = instances, len(targets), pages
	c.debug.LastRefresh = now.UTC().Format(time.RFC3339Nano)
	c.debug.RefreshCount++
	c.debug.LastError = ""
	c.mu.Unlock()
	if c.opts.OnStateChange != nil {
		c.opts.OnStateChange(Exports{Targets: targets})
	}
	relabel.PublishTargets(c.opts.Live(), targets)
}

func (c *Component) failed(region string, err error) {
	c.mu.Lock()
	secrets := []string{string(c.args.SecretAccessKey), string(c.args.SecretKey)}
	if cr := c.args.Credentials; cr != nil {
		secrets = append(secrets, string(cr.SecretAccessKey), string(cr.Token))
	}
	c.mu.Unlock()
	e := commonaws.ExplainError("discovery.aws.ec2: DescribeInstances in "+region, err, secrets...)
	c.mu.Lock()
	c.debug.LastError = e.Error()
	c.health = component.Health{Health: component.HealthUnhealthy, UpdateTime: time.Now(),
		Message: e.Error() + fmt.Sprintf("; keeping the last %d targets", len(c.targets))}
	c.mu.Unlock()
	if c.opts.Logger != nil {
		c.opts.Logger.Warn("EC2 discovery failed", "err", e.Error())
	}
}

func describeZones(ctx context.Context, client *ec2API) (map[string]string, error) {
	out, err := client.describeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(out.AvailabilityZones))
	for _, az := range out.AvailabilityZones {
		if az.ZoneName != nil && az.ZoneId != nil {
			m[*az.ZoneName] = *az.ZoneId
		}
	}
	return m, nil
}

// CurrentHealth reports the last refresh's outcome.
func (c *Component) CurrentHealth() component.Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health
}

// DebugInfo reports the last refresh.
func (c *Component) DebugInfo() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.debug
}

// Label names, as in prometheus/discovery/aws/ec2.go.
const (
	ec2Label                     = "__meta_ec2_"
	ec2LabelAMI                  = ec2Label + "ami"
	ec2LabelAZ                   = ec2Label + "availability_zone"
	ec2LabelAZID                 = ec2Label + "availability_zone_id"
	ec2LabelArch                 = ec2Label + "architecture"
	ec2LabelIPv6Addresses        = ec2Label + "ipv6_addresses"
	ec2LabelInstanceID           = ec2Label + "instance_id"
	ec2LabelInstanceLifecycle    = ec2Label + "instance_lifecycle"
	ec2LabelInstanceState        = ec2Label + "instance_state"
	ec2LabelInstanceType         = ec2Label + "instance_type"
	ec2LabelOwnerID              = ec2Label + "owner_id"
	ec2LabelPlatform             = ec2Label + "platform"
	ec2LabelDefaultIPv6Address   = ec2Label + "default_ipv6_address"
	ec2LabelPrimaryIPv6Addresses = ec2Label + "primary_ipv6_addresses"
	ec2LabelPrimarySubnetID      = ec2Label + "primary_subnet_id"
	ec2LabelPrivateDNS           = ec2Label + "private_dns_name"
	ec2LabelPrivateIP            = ec2Label + "private_ip"
	ec2LabelPublicDNS            = ec2Label + "public_dns_name"
	ec2LabelPublicIP             = ec2Label + "public_ip"
	ec2LabelRegion               = ec2Label + "region"
	ec2LabelSubnetID             = ec2Label + "subnet_id"
	ec2LabelTag                  = ec2Label + "tag_"
	ec2LabelVPCID                = ec2Label + "vpc_id"
	ec2LabelSeparator            = ","
)

// targetFor builds one instance's target exactly as Prometheus' EC2 SD
// (prometheus/discovery/aws/ec2.go, refresh) does, or nil for an instance
// with neither a private IPv4 nor an IPv6 address. Prometheus' refresh is a
// method on unexported state, so the label logic is ported here; a test
// runs Prometheus' own discovery against the same fake and compares.
func targetFor(inst *ec2types.Instance, ownerID *string, region string, port int, azToID map[string]string) map[string]string {
	defaultIPv6, primaryIPv6, ipv6 := instanceIPv6Addresses(inst)
	if inst.PrivateIpAddress == nil && defaultIPv6 == nil {
		return nil
	}
	labels := map[string]string{ec2LabelRegion: region}
	if inst.InstanceId != nil {
		labels[ec2LabelInstanceID] = *inst.InstanceId
	}
	if ownerID != nil {
		labels[ec2LabelOwnerID] = *ownerID
	}
	if defaultIPv6 != nil {
		labels[ec2LabelDefaultIPv6Address] = *defaultIPv6
	}
	if inst.PrivateIpAddress != nil {
		labels[ec2LabelPrivateIP] = *inst.PrivateIpAddress
		labels["__address__"] = net.JoinHostPort(*inst.PrivateIpAddress, strconv.Itoa(port))
	} else {
		labels["__address__"] = net.JoinHostPort(*defaultIPv6, strconv.Itoa(port))
	}
	if inst.PrivateDnsName != nil {
		labels[ec2LabelPrivateDNS] = *inst.PrivateDnsName
	}
	if inst.Platform != "" {
		labels[ec2LabelPlatform] = string(inst.Platform)
	}
	if inst.PublicIpAddress != nil {
		labels[ec2LabelPublicIP] = *inst.PublicIpAddress
		if inst.PublicDnsName != nil {
			labels[ec2LabelPublicDNS] = *inst.PublicDnsName
		}
	}
	if primaryIPv6 != nil {
		labels[ec2LabelPrimaryIPv6Addresses] = ec2LabelSeparator + strings.Join(primaryIPv6, ec2LabelSeparator) + ec2LabelSeparator
	}
	if ipv6 != nil {
		labels[ec2LabelIPv6Addresses] = ec2LabelSeparator + strings.Join(ipv6, ec2LabelSeparator) + ec2LabelSeparator
	}
	if inst.ImageId != nil {
		labels[ec2LabelAMI] = *inst.ImageId
	}
	if inst.Placement != nil && inst.Placement.AvailabilityZone != nil {
		az := *inst.Placement.AvailabilityZone
		labels[ec2LabelAZ] = az
		labels[ec2LabelAZID] = azToID[az]
	}
	if inst.State != nil {
		labels[ec2LabelInstanceState] = string(inst.State.Name)
	}
	labels[ec2LabelInstanceType] = string(inst.InstanceType)
	if inst.InstanceLifecycle != "" {
		labels[ec2LabelInstanceLifecycle] = string(inst.InstanceLifecycle)
	}
	if inst.Architecture != "" {
		labels[ec2LabelArch] = string(inst.Architecture)
	}
	if inst.VpcId != nil {
		labels[ec2LabelVPCID] = *inst.VpcId
		if inst.SubnetId != nil {
			labels[ec2LabelPrimarySubnetID] = *inst.SubnetId
		}
		// Subnets of every interface, deduplicated in EC2's order.
		var subnets []string
		seen := map[string]bool{}
		for _, eni := range inst.NetworkInterfaces {
			if eni.SubnetId == nil || seen[*eni.SubnetId] {
				continue
			}
			seen[*eni.SubnetId] = true
			subnets = append(subnets, *eni.SubnetId)
		}
		labels[ec2LabelSubnetID] = ec2LabelSeparator + strings.Join(subnets, ec2LabelSeparator) + ec2LabelSeparator
	}
	for _, t := range inst.Tags {
		if t.Key == nil || t.Value == nil {
			continue
		}
		labels[ec2LabelTag+strutil.SanitizeLabelName(*t.Key)] = *t.Value
	}
	return labels
}

// instanceIPv6Addresses mirrors Prometheus' getInstanceIPv6Addresses: the
// default address (first primary, else first of all), the primary addresses
// by device index (gaps kept as empty strings), and all addresses.
func instanceIPv6Addresses(inst *ec2types.Instance) (*string, []string, []string) {
	var primary, all []string
	if inst.VpcId != nil {
		for _, eni := range inst.NetworkInterfaces {
			if eni.SubnetId == nil {
				continue
			}
			for _, a := range eni.Ipv6Addresses {
				if a.Ipv6Address == nil {
					continue
				}
				all = append(all, *a.Ipv6Address)
				if !awssdk.ToBool(a.IsPrimaryIpv6) {
					continue
				}
				if eni.Attachment == nil || eni.Attachment.DeviceIndex == nil || *eni.Attachment.DeviceIndex < 0 {
					continue
				}
				for int32(len(primary)) <= *eni.Attachment.DeviceIndex {
					primary = append(primary, "")
				}
				primary[*eni.Attachment.DeviceIndex] = *a.Ipv6Address
			}
		}
		for _, a := range append(append([]string(nil), primary...), all...) {
			if a != "" {
				return &a, primary, all
			}
		}
	}
	return nil, primary, all
}
