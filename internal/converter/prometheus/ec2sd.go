package prometheus

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promcommon "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
)

// EC2SDConfig is ec2_sd_configs as Prometheus reads it (discovery/aws's
// EC2SDConfig: the same YAML fields, defaults and checks), registered with
// Prometheus' discovery registry so that config.Load parses it.
//
// The converter does not import Prometheus' discovery/aws, which would
// register it: that package links five more AWS SDK service clients
// (Lightsail, ECS, MSK, RDS, ElastiCache) whose package initialisation
// builds their schemas in every flow process, `flow run` included: 15
// package inits, ~6 ms of start-up and ~2.2 MB of heap kept for good. The
// converter needs only the fields. Keep them in step with Prometheus'
// (TestEC2SDConfigMatchesPrometheus compares them).
type EC2SDConfig struct {
	Endpoint        string            `yaml:"endpoint"`
	Region          string            `yaml:"region"`
	AccessKey       string            `yaml:"access_key,omitempty"`
	SecretKey       promcommon.Secret `yaml:"secret_key,omitempty"`
	Profile         string            `yaml:"profile,omitempty"`
	RoleARN         string            `yaml:"role_arn,omitempty"`
	ExternalID      string            `yaml:"external_id,omitempty"`
	RefreshInterval model.Duration    `yaml:"refresh_interval,omitempty"`
	Port            int               `yaml:"port"`
	Filters         []*EC2Filter      `yaml:"filters"`

	HTTPClientConfig promcommon.HTTPClientConfig `yaml:",inline"`
}

// EC2Filter is one entry of ec2_sd_configs' filters.
type EC2Filter struct {
	Name   string   `yaml:"name"`
	Values []string `yaml:"values"`
}

func init() {
	discovery.RegisterConfig(&EC2SDConfig{})
}

// Name is the mechanism's name: the YAML key is ec2_sd_configs.
func (*EC2SDConfig) Name() string { return "ec2" }

// errNoDiscovery: the converter parses discovery configs, it runs none.
var errNoDiscovery = errors.New("ec2_sd_configs is only converted (to discovery.aws.ec2); flow runs no Prometheus discovery")

// NewDiscoverer implements discovery.Config; the converter never runs one.
func (*EC2SDConfig) NewDiscoverer(discovery.DiscovererOptions) (discovery.Discoverer, error) {
	return nil, errNoDiscovery
}

// NewDiscovererMetrics implements discovery.Config.
func (*EC2SDConfig) NewDiscovererMetrics(prometheus.Registerer, discovery.RefreshMetricsInstantiator) discovery.DiscovererMetrics {
	return noMetrics{}
}

type noMetrics struct{}

func (noMetrics) Register() error { return nil }
func (noMetrics) Unregister()     {}

// SetDirectory joins relative file paths with dir, as Prometheus' does.
func (c *EC2SDConfig) SetDirectory(dir string) { c.HTTPClientConfig.SetDirectory(dir) }

// UnmarshalYAML applies Prometheus' defaults (port 80, refresh every
// minute, its HTTP client defaults) and checks.
func (c *EC2SDConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*c = EC2SDConfig{Port: 80, RefreshInterval: model.Duration(60 * time.Second), HTTPClientConfig: promcommon.DefaultHTTPClientConfig}
	type plain EC2SDConfig
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	for _, f := range c.Filters {
		if len(f.Values) == 0 {
			return errors.New("EC2 SD configuration filter values cannot be empty")
		}
	}
	return c.HTTPClientConfig.Validate()
}
