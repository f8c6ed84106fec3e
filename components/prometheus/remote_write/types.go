package remotewrite

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/components/common/relabel"
	"github.com/flow-telemetry/flow/components/prometheus/remote_write/internal/wal"
	"github.com/flow-telemetry/flow/syntax/value"
)

// Arguments are prometheus.remote_write's arguments.
type Arguments struct {
	ExternalLabels map[string]string `river:"external_labels,attr,optional"`
	Endpoints      []EndpointOptions `river:"endpoint,block,optional"`
	WAL            WALOptions        `river:"wal,block,optional"`
}

// SetToDefault implements component.Defaulter.
func (a *Arguments) SetToDefault() {
	*a = Arguments{}
	a.WAL.SetToDefault()
}

// Validate implements component.Validator.
func (a *Arguments) Validate() error {
	if err := httpclient.ValidateEndpoints(a.Endpoints, (*EndpointOptions).Validate, (*EndpointOptions).queueName); err != nil {
		return err
	}
	for k := range a.ExternalLabels {
		if !model.UTF8Validation.IsValidLabelName(k) {
			return fmt.Errorf("external_labels: %q is not a valid label name", k)
		}
	}
	return a.WAL.Validate()
}

// EndpointOptions is one `endpoint` block: a queue sending to one URL.
type EndpointOptions struct {
	Name                 string                  `river:"name,attr,optional"`
	URL                  value.URL               `river:"url,attr"`
	RemoteTimeout        time.Duration           `river:"remote_timeout,attr,optional"`
	Headers              map[string]value.Secret `river:"headers,attr,optional"`
	SendExemplars        bool                    `river:"send_exemplars,attr,optional"`
	SendNativeHistograms bool                    `river:"send_native_histograms,attr,optional"`
	// ProtobufMessage is "prometheus.WriteRequest" (Remote-Write 1.0) or
	// "io.prometheus.write.v2.Request" (Remote-Write 2.0).
	ProtobufMessage string `river:"protobuf_message,attr,optional"`

	HTTPClient          httpclient.Config `river:",squash"`
	WriteRelabelConfigs []relabel.Rule    `river:"write_relabel_config,block,optional"`
	QueueOptions        QueueOptions      `river:"queue_config,block,optional"`
	MetadataOptions     MetadataOptions   `river:"metadata_config,block,optional"`

	// SigV4 signs requests for endpoints behind AWS (Amazon Managed
	// Prometheus, API Gateway). `sigv4` is Alloy's name for the same block,
	// where service_name defaults to "aps" (auth.go).
	SigV4      *aws.SigV4Config `river:"aws_sigv4,block,optional"`
	SigV4Alloy *AlloySigV4      `river:"sigv4,block,optional"`
	// AzureAD and GoogleIAM authenticate to Azure Monitor and Google Cloud
	// (auth.go).
	AzureAD   *AzureAD   `river:"azuread,block,optional"`
	GoogleIAM *GoogleIAM `river:"google_iam,block,optional"`
	// RoundRobinDNS spreads new connections over the addresses the URL's
	// host resolves to.
	RoundRobinDNS bool `river:"round_robin_dns,attr,optional"`

	// RetryOnHTTPAuthError retries a request answered 401 or 403 with
	// backoff, as a 5xx, instead of dropping its samples: behind SigV4 a 403
	// is usually transient (credentials expired during an STS outage, clock
	// skew, IAM propagation), and a rotated token is fixed by the next
	// reload; meanwhile the samples wait in the WAL. false drops them, as
	// Prometheus does, counted in
	// prometheus_remote_write_dropped_samples_total{reason="401"|"403"}.
	RetryOnHTTPAuthError bool `river:"retry_on_http_auth_error,attr,optional"`
}

// SetToDefault gives an endpoint Prometheus' remote-write defaults.
func (e *EndpointOptions) SetToDefault() {
	*e = EndpointOptions{
		RemoteTimeout:   30 * time.Second,
		SendExemplars:   true,
		ProtobufMessage: string(remoteapi.WriteV1MessageType),
		HTTPClient:      httpclient.Default(),

		RetryOnHTTPAuthError: true,
	}
	// Prometheus disables HTTP/2 for remote write: one TCP connection per
	// shard spreads load better across receivers.
	e.HTTPClient.EnableHTTP2 = false
	e.QueueOptions.SetToDefault()
	e.MetadataOptions.SetToDefault()
}

// sigv4 returns the endpoint's SigV4 block under either name.
func (e *EndpointOptions) sigv4() *aws.SigV4Config {
	if e.SigV4 != nil {
		return e.SigV4
	}
	return e.SigV4Alloy.config()
}

// Validate checks the endpoint.
func (e *EndpointOptions) Validate() error {
	u, err := url.Parse(e.URL.Raw())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL may hold a password, so it is not repeated.
		return errors.New("url must be an absolute http:// or https:// URL")
	}
	if e.RemoteTimeout <= 0 {
		return fmt.Errorf("remote_timeout must be greater than 0, got %s", e.RemoteTimeout)
	}
	if err := remoteapi.WriteMessageType(e.ProtobufMessage).Validate(); err != nil {
		return fmt.Errorf("protobuf_message: %q is not %q (Remote-Write 1.0) or %q (2.0)", e.ProtobufMessage, remoteapi.WriteV1MessageType, remoteapi.WriteV2MessageType)
	}
	for h := range e.Headers {
		lh := strings.ToLower(h)
		if lh == "authorization" {
			return errors.New("headers: set Authorization through basic_auth, authorization, bearer_token or aws_sigv4")
		}
		if reservedHeaders[lh] {
			return fmt.Errorf("headers: %s is set by the remote-write protocol and must not be changed", h)
		}
	}
	if err := e.validateAuth(); err != nil {
		return err
	}
	if s := e.sigv4(); s != nil {
		if err := s.Validate(); err != nil {
			return err
		}
	}
	if _, err := e.HTTPClient.Convert(); err != nil {
		return err
	}
	if _, err := relabel.Compile(e.WriteRelabelConfigs); err != nil {
		return fmt.Errorf("write_relabel_config: %w", err)
	}
	if err := e.QueueOptions.Validate(); err != nil {
		return err
	}
	return nil
}

// reservedHeaders are the headers Prometheus refuses to let users set.
var reservedHeaders = map[string]bool{
	"host": true, "content-encoding": true, "content-length": true, "content-type": true,
	"user-agent": true, "connection": true, "keep-alive": true, "proxy-authenticate": true,
	"proxy-authorization": true, "www-authenticate": true, "accept-encoding": true,
	"x-prometheus-remote-write-version": true, "x-prometheus-remote-read-version": true,
	"x-amz-date": true, "x-amz-security-token": true, "x-amz-content-sha256": true,
}

// queueName names the endpoint in metrics (remote_name), logs and health:
// its name, or a short hash of its URL.
func (e *EndpointOptions) queueName() string {
	if e.Name != "" {
		return e.Name
	}
	h := sha256.Sum256([]byte(e.URL.Raw()))
	return hex.EncodeToString(h[:3])
}

// redactedURL is the URL with its password and query values masked (or
// "(secret)" for a URL given as a secret), for messages, debug info and
// Prometheus' `url` metric label: value.URL's shown form, the same as the
// API's arguments and the config view show.
func (e *EndpointOptions) redactedURL() string { return e.URL.String() }

// QueueOptions is the `queue_config` block.
type QueueOptions struct {
	Capacity          int           `river:"capacity,attr,optional"`
	MinShards         int           `river:"min_shards,attr,optional"`
	MaxShards         int           `river:"max_shards,attr,optional"`
	MaxSamplesPerSend int           `river:"max_samples_per_send,attr,optional"`
	BatchSendDeadline time.Duration `river:"batch_send_deadline,attr,optional"`
	MinBackoff        time.Duration `river:"min_backoff,attr,optional"`
	MaxBackoff        time.Duration `river:"max_backoff,attr,optional"`
	RetryOnHTTP429    bool          `river:"retry_on_http_429,attr,optional"`
	// SampleAgeLimit drops samples older than this instead of sending
	// them; 0 sends everything, however old.
	SampleAgeLimit time.Duration `river:"sample_age_limit,attr,optional"`
}

// SetToDefault gives Prometheus' queue defaults.
func (q *QueueOptions) SetToDefault() {
	d := config.DefaultQueueConfig
	*q = QueueOptions{
		Capacity:          d.Capacity,
		MinShards:         d.MinShards,
		MaxShards:         d.MaxShards,
		MaxSamplesPerSend: d.MaxSamplesPerSend,
		BatchSendDeadline: time.Duration(d.BatchSendDeadline),
		MinBackoff:        time.Duration(d.MinBackoff),
		MaxBackoff:        time.Duration(d.MaxBackoff),
		RetryOnHTTP429:    true,
	}
}

func (q *QueueOptions) toPrometheus() config.QueueConfig {
	return config.QueueConfig{
		Capacity:          q.Capacity,
		MinShards:         q.MinShards,
		MaxShards:         q.MaxShards,
		MaxSamplesPerSend: q.MaxSamplesPerSend,
		BatchSendDeadline: model.Duration(q.BatchSendDeadline),
		MinBackoff:        model.Duration(q.MinBackoff),
		MaxBackoff:        model.Duration(q.MaxBackoff),
		RetryOnRateLimit:  q.RetryOnHTTP429,
		SampleAgeLimit:    model.Duration(q.SampleAgeLimit),
	}
}

// Validate checks the queue settings with Prometheus' own rules.
func (q *QueueOptions) Validate() error {
	pq := q.toPrometheus()
	if err := pq.Validate(); err != nil {
		return fmt.Errorf("queue_config: %w", err)
	}
	if q.BatchSendDeadline <= 0 {
		return errors.New("queue_config: batch_send_deadline must be greater than 0")
	}
	return nil
}

// MetadataOptions is the `metadata_config` block.
type MetadataOptions struct {
	Send              bool          `river:"send,attr,optional"`
	SendInterval      time.Duration `river:"send_interval,attr,optional"`
	MaxSamplesPerSend int           `river:"max_samples_per_send,attr,optional"`
}

// SetToDefault gives Prometheus' metadata defaults.
func (m *MetadataOptions) SetToDefault() {
	d := config.DefaultMetadataConfig
	*m = MetadataOptions{Send: d.Send, SendInterval: time.Duration(d.SendInterval), MaxSamplesPerSend: d.MaxSamplesPerSend}
}

// WALOptions is the `wal` block: how long samples stay in the write-ahead
// log, as in Prometheus agent mode.
type WALOptions struct {
	TruncateFrequency time.Duration `river:"truncate_frequency,attr,optional"`
	MinKeepaliveTime  time.Duration `river:"min_keepalive_time,attr,optional"`
	MaxKeepaliveTime  time.Duration `river:"max_keepalive_time,attr,optional"`
}

// SetToDefault gives Alloy's WAL defaults.
func (w *WALOptions) SetToDefault() {
	*w = WALOptions{TruncateFrequency: 2 * time.Hour, MinKeepaliveTime: 5 * time.Minute, MaxKeepaliveTime: 8 * time.Hour}
}

// Validate checks the WAL settings.
func (w *WALOptions) Validate() error {
	if w.TruncateFrequency <= 0 {
		return errors.New("wal: truncate_frequency must be greater than 0")
	}
	if w.MinKeepaliveTime <= 0 || w.MaxKeepaliveTime <= 0 {
		return errors.New("wal: min_keepalive_time and max_keepalive_time must be greater than 0")
	}
	if w.MinKeepaliveTime > w.MaxKeepaliveTime {
		return fmt.Errorf("wal: min_keepalive_time (%s) must not be greater than max_keepalive_time (%s)", w.MinKeepaliveTime, w.MaxKeepaliveTime)
	}
	return nil
}

func (w *WALOptions) walOptions() wal.Options {
	return wal.Options{
		TruncateFrequency: w.TruncateFrequency,
		MinWALTime:        w.MinKeepaliveTime.Milliseconds(),
		MaxWALTime:        w.MaxKeepaliveTime.Milliseconds(),
		// Remote-Write 2.0 carries metadata read from the WAL.
		Metadata: true,
	}
}

// externalLabels converts the external_labels map.
func (a *Arguments) externalLabels() labels.Labels {
	return labels.FromMap(a.ExternalLabels)
}
