package promtail

import (
	"time"

	promcommon "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v3"
)

// The Promtail YAML schema, for the part flow converts. Promtail's own
// config package lives in Grafana Loki's repository under the AGPL, which
// flow does not import; these types follow its field names and defaults
// (Promtail's documentation, "Configure Promtail"). Prometheus' own types
// (relabel rules, static targets, HTTP client settings) are used where
// Promtail uses them. Sections flow has no equivalent for are kept as YAML
// nodes, so each can be reported at its line.

// Config is a Promtail config file.
type Config struct {
	Server        map[string]yaml.Node `yaml:"server"`
	Clients       []*Client            `yaml:"clients"`
	Client        *Client              `yaml:"client"`
	Positions     *Positions           `yaml:"positions"`
	ScrapeConfigs []*ScrapeConfig      `yaml:"scrape_configs"`
	TargetConfig  *TargetConfig        `yaml:"target_config"`
	LimitsConfig  *LimitsConfig        `yaml:"limits_config"`
	Global        *Global              `yaml:"global"`
	Options       yaml.Node            `yaml:"options"`
	Tracing       yaml.Node            `yaml:"tracing"`
	WAL           yaml.Node            `yaml:"wal"`
}

// Client is one entry of `clients`.
type Client struct {
	URL                    *promcommon.URL   `yaml:"url"`
	TenantID               string            `yaml:"tenant_id"`
	BatchWait              model.Duration    `yaml:"batchwait"`
	BatchSize              int               `yaml:"batchsize"`
	Timeout                model.Duration    `yaml:"timeout"`
	Headers                map[string]string `yaml:"headers"`
	ExternalLabels         map[string]string `yaml:"external_labels"`
	BackoffConfig          *Backoff          `yaml:"backoff_config"`
	DropRateLimitedBatches bool              `yaml:"drop_rate_limited_batches"`
	StreamLagLabels        yaml.Node         `yaml:"stream_lag_labels"`

	HTTPClientConfig promcommon.HTTPClientConfig `yaml:",inline"`
}

// applyDefaults fills what n (the client's YAML) leaves out with Promtail's
// defaults. (A custom UnmarshalYAML would decode without the strictness
// that catches misspelt fields, so defaults are applied after decoding.)
func (c *Client) applyDefaults(n *yaml.Node) {
	has := func(k string) bool {
		for i := 0; n != nil && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				return true
			}
		}
		return false
	}
	if !has("batchwait") {
		c.BatchWait = model.Duration(time.Second)
	}
	if !has("batchsize") {
		c.BatchSize = 1 << 20
	}
	if !has("timeout") {
		c.Timeout = model.Duration(10 * time.Second)
	}
	if !has("follow_redirects") {
		c.HTTPClientConfig.FollowRedirects = true
	}
	if !has("enable_http2") {
		c.HTTPClientConfig.EnableHTTP2 = true
	}
}

// Backoff is a client's backoff_config.
type Backoff struct {
	MinPeriod  model.Duration `yaml:"min_period"`
	MaxPeriod  model.Duration `yaml:"max_period"`
	MaxRetries int            `yaml:"max_retries"`
}

// Positions is the positions section.
type Positions struct {
	Filename          string         `yaml:"filename"`
	SyncPeriod        model.Duration `yaml:"sync_period"`
	IgnoreInvalidYAML bool           `yaml:"ignore_invalid_yaml"`
}

// ScrapeConfig is one entry of `scrape_configs`.
type ScrapeConfig struct {
	JobName        string               `yaml:"job_name"`
	PipelineStages yaml.Node            `yaml:"pipeline_stages"`
	StaticConfigs  []*targetgroup.Group `yaml:"static_configs"`
	RelabelConfigs []*relabel.Config    `yaml:"relabel_configs"`
	Encoding       string               `yaml:"encoding"`
	Decompression  *Decompression       `yaml:"decompression"`
	// Other holds every other target kind (journal, syslog, docker,
	// kubernetes_sd_configs, …): reported, not converted.
	Other map[string]yaml.Node `yaml:",inline"`
}

// Decompression is a scrape config's decompression section.
type Decompression struct {
	Enabled      bool           `yaml:"enabled"`
	InitialDelay model.Duration `yaml:"initial_delay"`
	Format       string         `yaml:"format"`
}

// TargetConfig is the target_config section.
type TargetConfig struct {
	SyncPeriod model.Duration `yaml:"sync_period"`
	Stdin      bool           `yaml:"stdin"`
}

// LimitsConfig is the limits_config section.
type LimitsConfig struct {
	ReadlineRate        float64   `yaml:"readline_rate"`
	ReadlineBurst       int       `yaml:"readline_burst"`
	ReadlineRateEnabled bool      `yaml:"readline_rate_enabled"`
	ReadlineRateDrop    yaml.Node `yaml:"readline_rate_drop"`
	MaxStreams          int       `yaml:"max_streams"`
	MaxLineSize         string    `yaml:"max_line_size"`
	MaxLineSizeTruncate bool      `yaml:"max_line_size_truncate"`
}

// Global is the global section.
type Global struct {
	FileWatchConfig *FileWatch `yaml:"file_watch_config"`
}

// FileWatch is global.file_watch_config.
type FileWatch struct {
	MinPollFrequency model.Duration `yaml:"min_poll_frequency"`
	MaxPollFrequency model.Duration `yaml:"max_poll_frequency"`
}
