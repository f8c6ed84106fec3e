package write

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/syntax/value"
)

// ByteSize is a size such as "1MiB" (see loki.ByteSize).
type ByteSize = loki.ByteSize

// Arguments configures loki.write.
type Arguments struct {
	Endpoints      []EndpointArgs    `river:"endpoint,block,optional"`
	ExternalLabels map[string]string `river:"external_labels,attr,optional"`
	// MaxStreams caps the streams in one batch; a batch that would exceed it
	// is pushed first (flow never drops entries for it). 0 means no cap.
	MaxStreams int     `river:"max_streams,attr,optional"`
	WAL        WALArgs `river:"wal,block,optional"`
}

// WALArgs is the `wal { }` block.
type WALArgs struct {
	// Enabled keeps entries on disk until every endpoint has delivered them,
	// so they survive a crash and an outage of any length. On by default.
	Enabled bool `river:"enabled,attr,optional"`
	// MaxSegmentSize is when a WAL segment file is closed and a new one begun.
	MaxSegmentSize ByteSize `river:"max_segment_size,attr,optional"`
	// MaxSegmentAge also closes a segment once it has held entries this
	// long, so that a slow stream's delivered entries are deleted (a whole
	// segment at a time) within about this age. Alloy's name and default.
	MaxSegmentAge time.Duration `river:"max_segment_age,attr,optional"`
	// MinReadFrequency and MaxReadFrequency are the polling bounds of
	// Alloy's WAL watcher. flow's endpoints are woken the moment entries are
	// durable, so there is nothing to poll: accepted, and a warning says so.
	MinReadFrequency time.Duration `river:"min_read_frequency,attr,optional"`
	MaxReadFrequency time.Duration `river:"max_read_frequency,attr,optional"`
	// DrainTimeout is how long, at shutdown, each endpoint keeps delivering
	// what the WAL holds for it (Alloy's WAL drain); the rest stays in the
	// WAL for the next start.
	DrainTimeout time.Duration `river:"drain_timeout,attr,optional"`
	// MaxBacklogSize bounds what the WAL holds for an endpoint that has not
	// delivered it yet. Past it, Send refuses entries as full (loki.ErrFull)
	// rather than let the WAL grow without bound while senders are told all
	// is well: the Firehose source answers 503 with Retry-After, so Firehose
	// retries (and in the end backs up to S3), and loki.source.file stops
	// reading until there is room. A flow extension (Alloy's WAL is
	// unbounded). The default, 256 MiB, rides out minutes of a Loki outage
	// at typical rates and, under an overload, bounds the delivery lag to
	// what the endpoint delivers of 256 MiB.
	MaxBacklogSize ByteSize `river:"max_backlog_size,attr,optional"`
}

// Alloy's WAL defaults.
const (
	defaultMaxSegmentAge    = time.Hour
	defaultMinReadFrequency = 250 * time.Millisecond
	defaultMaxReadFrequency = time.Second
	defaultDrainTimeout     = 15 * time.Second
	defaultMaxBacklogSize   = 256 << 20
)

// QueueConfig is an endpoint's `queue_config { }` block, Alloy's: the
// memory queue each endpoint has when the WAL is off.
type QueueConfig struct {
	// Capacity bounds the entries queued for the endpoint; Send waits while
	// it is full, which pushes back on the source.
	Capacity ByteSize `river:"capacity,attr,optional"`
	// DrainTimeout is how long, at shutdown, the endpoint keeps pushing
	// queued entries before the rest are dropped (counted, reason shutdown).
	DrainTimeout time.Duration `river:"drain_timeout,attr,optional"`
	// MinShards is the number of pushes an endpoint has in flight at once
	// (Alloy's concurrent senders). Streams are spread over the shards by a
	// hash of tenant and labels, so each stream's entries arrive in order;
	// the WAL position committed is the low watermark over all shards (see
	// delivery). Loki's distributors take concurrent pushes; raise it when
	// one push at a time cannot keep up with the round-trip time.
	MinShards int `river:"min_shards,attr,optional"`
}

// maxShards bounds queue_config > min_shards: each shard is a goroutine
// with up to two batches (batch_size each) in hand.
const maxShards = 64

// SetToDefault sets Alloy's defaults: 10 MiB, 15 s, one shard.
func (q *QueueConfig) SetToDefault() {
	*q = QueueConfig{Capacity: 10 << 20, DrainTimeout: defaultDrainTimeout, MinShards: 1}
}

// EndpointArgs is one `endpoint { }` block.
type EndpointArgs struct {
	Name     string            `river:"name,attr,optional"`
	URL      value.URL         `river:"url,attr"`
	TenantID string            `river:"tenant_id,attr,optional"`
	Headers  map[string]string `river:"headers,attr,optional"`

	BatchWait         time.Duration `river:"batch_wait,attr,optional"`
	BatchSize         ByteSize      `river:"batch_size,attr,optional"`
	RemoteTimeout     time.Duration `river:"remote_timeout,attr,optional"`
	MinBackoff        time.Duration `river:"min_backoff_period,attr,optional"`
	MaxBackoff        time.Duration `river:"max_backoff_period,attr,optional"`
	MaxBackoffRetries int           `river:"max_backoff_retries,attr,optional"`
	// RetryOnHTTP429 retries a 429 (rate limited), waiting at least what its
	// Retry-After asks, up to max_backoff_period; false drops the batch.
	RetryOnHTTP429 bool `river:"retry_on_http_429,attr,optional"`
	// RetryOnHTTPAuthError retries a 401 or 403 with backoff instead of
	// dropping the batch. Behind SigV4 a 403 is usually transient (expired
	// credentials during an STS outage, clock skew, IAM propagation), and a
	// rotated token is fixed by the next reload: with the WAL the entries are
	// kept until the endpoint accepts them; without it they are retried up to
	// max_backoff_retries, like a 5xx. false drops the batch on a 401/403,
	// counted as loki_write_dropped_entries_total{reason="401"|"403"}.
	RetryOnHTTPAuthError bool `river:"retry_on_http_auth_error,attr,optional"`

	HTTPClient httpclient.Config `river:",squash"`

	QueueConfig QueueConfig `river:"queue_config,block,optional"`

	// AWSSigV4 signs every push (Loki behind API Gateway); SigV4 is Alloy's name.
	AWSSigV4 *aws.SigV4Config `river:"aws_sigv4,block,optional"`
	SigV4    *aws.SigV4Config `river:"sigv4,block,optional"`
}

// SetToDefault sets the defaults of Alloy's loki.write, with the WAL on.
func (a *Arguments) SetToDefault() {
	var w WALArgs
	w.SetToDefault()
	*a = Arguments{WAL: w}
}

// SetToDefault sets an endpoint's defaults (Alloy's).
func (e *EndpointArgs) SetToDefault() {
	*e = EndpointArgs{
		BatchWait:            time.Second,
		BatchSize:            1 << 20,
		RemoteTimeout:        10 * time.Second,
		MinBackoff:           500 * time.Millisecond,
		MaxBackoff:           5 * time.Minute,
		MaxBackoffRetries:    10,
		RetryOnHTTP429:       true,
		RetryOnHTTPAuthError: true,
		HTTPClient:           httpclient.Default(),
	}
	e.QueueConfig.SetToDefault()
}

// SetToDefault sets the WAL block's defaults: declaring `wal { }` keeps it on.
func (w *WALArgs) SetToDefault() {
	*w = WALArgs{
		Enabled:          true,
		MaxSegmentSize:   64 << 20,
		MaxSegmentAge:    defaultMaxSegmentAge,
		MinReadFrequency: defaultMinReadFrequency,
		MaxReadFrequency: defaultMaxReadFrequency,
		DrainTimeout:     defaultDrainTimeout,
		MaxBacklogSize:   defaultMaxBacklogSize,
	}
}

// storage is what the WAL files depend on: a change reopens the WAL.
func (w WALArgs) storage() WALArgs {
	return WALArgs{Enabled: w.Enabled, MaxSegmentSize: w.MaxSegmentSize, MaxSegmentAge: w.MaxSegmentAge}
}

// Validate checks every endpoint.
func (a *Arguments) Validate() error {
	if a.MaxStreams < 0 {
		return fmt.Errorf("max_streams must not be negative, got %d", a.MaxStreams)
	}
	if a.WAL.MaxSegmentSize < 0 {
		return errors.New("wal > max_segment_size must not be negative")
	}
	if a.WAL.Enabled && a.WAL.MaxBacklogSize <= 0 {
		return errors.New("wal > max_backlog_size must be positive, such as \"256MiB\"")
	}
	if a.WAL.MaxSegmentAge < 0 || a.WAL.DrainTimeout < 0 {
		return errors.New("wal > max_segment_age and drain_timeout must not be negative")
	}
	if a.WAL.MinReadFrequency >= a.WAL.MaxReadFrequency {
		// Alloy's check, kept so a config Alloy refuses is refused here too.
		return errors.New("wal > min_read_frequency must be lower than max_read_frequency")
	}
	if err := httpclient.ValidateEndpoints(a.Endpoints, (*EndpointArgs).validate, (*EndpointArgs).name); err != nil {
		return err
	}
	for n := range a.ExternalLabels {
		if !validLabelName(n) {
			return fmt.Errorf("external_labels: %q is not a valid label name", n)
		}
	}
	return nil
}

func (e *EndpointArgs) validate() error {
	u, err := url.Parse(e.URL.Raw())
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Never echo the URL: it may carry a password.
		return errors.New("url must be an http:// or https:// URL such as https://logs.example.com/loki/api/v1/push")
	}
	switch {
	case e.BatchWait <= 0:
		return errors.New("batch_wait must be positive")
	case e.BatchSize <= 0:
		return errors.New("batch_size must be positive")
	case e.RemoteTimeout <= 0:
		return errors.New("remote_timeout must be positive")
	case e.MinBackoff <= 0 || e.MaxBackoff < e.MinBackoff:
		return errors.New("min_backoff_period must be positive and at most max_backoff_period")
	case e.MaxBackoffRetries < 0:
		return errors.New("max_backoff_retries must not be negative")
	case e.QueueConfig.Capacity <= 0:
		return errors.New("queue_config > capacity must be positive")
	case e.QueueConfig.DrainTimeout < 0:
		return errors.New("queue_config > drain_timeout must not be negative")
	case e.QueueConfig.MinShards < 1:
		return errors.New("queue_config > min_shards must be at least 1")
	case e.QueueConfig.MinShards > maxShards:
		return fmt.Errorf("queue_config > min_shards must be at most %d, got %d", maxShards, e.QueueConfig.MinShards)
	}
	if err := httpclient.OneAuthorization(authSettings, e.authNames()); err != nil {
		return err
	}
	if err := e.HTTPClient.Validate(); err != nil {
		return err
	}
	return nil
}

// authSettings are the endpoint's authentication settings (sigv4 is
// Alloy's synonym of aws_sigv4), in the order authNames lists them.
var authSettings = append([]string{"aws_sigv4", "sigv4"}, httpclient.AuthSettings...)

// authNames lists the authentication settings that are set: at most one
// may be (httpclient.OneAuthorization), since each sets the Authorization
// header.
func (e *EndpointArgs) authNames() []string {
	var out []string
	if e.AWSSigV4 != nil {
		out = append(out, "aws_sigv4")
	}
	if e.SigV4 != nil {
		out = append(out, "sigv4")
	}
	return append(out, e.HTTPClient.AuthNames()...)
}

func (e *EndpointArgs) sigV4() *aws.SigV4Config {
	if e.AWSSigV4 != nil {
		return e.AWSSigV4
	}
	return e.SigV4
}

// name is the endpoint's name, or one derived from its URL (without any
// credentials in it) when not set: host and path, or for a URL given as a
// secret a short hash of it, since its host is part of the secret.
func (e *EndpointArgs) name() string {
	if e.Name != "" {
		return e.Name
	}
	if e.URL.IsSecret() {
		h := sha256.Sum256([]byte(e.URL.Raw()))
		return "endpoint-" + hex.EncodeToString(h[:3])
	}
	u, err := url.Parse(e.URL.Raw())
	if err != nil {
		return "endpoint"
	}
	return u.Host + u.Path
}

// redactedURL is the URL as shown in logs and debug info (see redact.go).
func (e *EndpointArgs) redactedURL() string { return e.URL.String() }

func validLabelName(n string) bool {
	if n == "" {
		return false
	}
	for i, c := range n {
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}
