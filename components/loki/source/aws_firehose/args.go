package awsfirehose

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/flow-telemetry/flow/components/common/aws"
	"github.com/flow-telemetry/flow/components/common/loki"
	"github.com/flow-telemetry/flow/components/common/relabel"
	"github.com/flow-telemetry/flow/syntax/value"
)

// Arguments configures loki.source.aws_firehose.
type Arguments struct {
	HTTP ServerArgs `river:"http,block,optional"`
	// AccessKey, when set, must equal the X-Amz-Firehose-Access-Key header
	// (the "access key" configured on the Firehose stream's HTTP endpoint).
	AccessKey            value.Secret `river:"access_key,attr,optional"`
	UseIncomingTimestamp bool         `river:"use_incoming_timestamp,attr,optional"`
	// Labels are added to every entry (the seed's `labels { job = "…" }`).
	Labels       map[string]string   `river:"labels,block,optional"`
	RelabelRules relabel.Rules       `river:"relabel_rules,attr,optional"`
	ForwardTo    []loki.LogsReceiver `river:"forward_to,attr"`

	// DeliveryStreamName, with Region and Credentials, turns on a check that
	// the Firehose stream exists and is ACTIVE, at start and every
	// CheckInterval, shown in the component's health.
	DeliveryStreamName string                 `river:"delivery_stream_name,attr,optional"`
	Region             string                 `river:"region,attr,optional"`
	Credentials        *aws.StaticCredentials `river:"credentials,block,optional"`
	// Endpoint overrides the Firehose API endpoint (VPC endpoints, tests).
	Endpoint      string        `river:"endpoint,attr,optional"`
	CheckInterval time.Duration `river:"check_interval,attr,optional"`
}

// ServerArgs is the `http { }` block.
type ServerArgs struct {
	ListenAddress string `river:"listen_address,attr,optional"`
	ListenPort    int    `river:"listen_port,attr,optional"`
	// ServerTimeout bounds reading a request and answering it, including
	// the wait for forward_to to accept the entries.
	ServerTimeout time.Duration `river:"server_timeout,attr,optional"`
	// ConnLimit caps open connections (Alloy's conn_limit).
	ConnLimit int `river:"conn_limit,attr,optional"`
	// MaxRequestBodySize bounds a request body, as read and after
	// Content-Encoding gzip; MaxRequestDecodedSize bounds its records after
	// base64 and gunzip; MaxInflightSize bounds the memory all requests in
	// flight hold together. docs/security.md explains each.
	MaxRequestBodySize    loki.ByteSize `river:"max_request_body_size,attr,optional"`
	MaxRequestDecodedSize loki.ByteSize `river:"max_request_decoded_size,attr,optional"`
	MaxInflightSize       loki.ByteSize `river:"max_inflight_size,attr,optional"`
}

// SetToDefault sets Alloy's defaults (port 8080 on every interface).
func (a *Arguments) SetToDefault() {
	*a = Arguments{CheckInterval: 5 * time.Minute}
	a.HTTP.SetToDefault()
}

// Server defaults. The body limit is the largest buffer a Firehose stream
// may use for an HTTP endpoint (64 MiB); the in-flight budget holds one
// request of that size with its decoded records, and keeps the whole
// agent well under 512 MiB under any load (BENCHMARKS.md).
const (
	DefaultConnLimit             = 100
	DefaultMaxRequestBodySize    = 64 << 20
	DefaultMaxRequestDecodedSize = 64 << 20
	DefaultMaxInflightSize       = 128 << 20
)

// SetToDefault sets the server defaults.
func (s *ServerArgs) SetToDefault() {
	*s = ServerArgs{ListenPort: 8080, ServerTimeout: 30 * time.Second, ConnLimit: DefaultConnLimit,
		MaxRequestBodySize: DefaultMaxRequestBodySize, MaxRequestDecodedSize: DefaultMaxRequestDecodedSize,
		MaxInflightSize: DefaultMaxInflightSize}
}

// Validate checks the arguments.
func (a *Arguments) Validate() error {
	if a.HTTP.ListenPort < 0 || a.HTTP.ListenPort > 65535 {
		return fmt.Errorf("http > listen_port %d is not a port", a.HTTP.ListenPort)
	}
	if a.HTTP.ServerTimeout <= 0 {
		return errors.New("http > server_timeout must be positive")
	}
	if a.HTTP.ConnLimit <= 0 {
		return errors.New("http > conn_limit must be positive")
	}
	if a.HTTP.MaxRequestBodySize <= 0 || a.HTTP.MaxRequestDecodedSize <= 0 {
		return errors.New("http > max_request_body_size and max_request_decoded_size must be positive")
	}
	if a.HTTP.MaxInflightSize < a.HTTP.MaxRequestBodySize*7/4 {
		return fmt.Errorf("http > max_inflight_size (%d bytes) must be at least 1.75 × max_request_body_size (%d bytes): a body is held with its decoded records (3/4 of its size) while it is decoded",
			a.HTTP.MaxInflightSize, a.HTTP.MaxRequestBodySize)
	}
	for n := range a.Labels {
		if loki.SanitizeLabelName(n) != n {
			return fmt.Errorf("labels: %q is not a valid label name (letters, digits and _, not starting with a digit)", n)
		}
	}
	if a.DeliveryStreamName == "" && (a.Region != "" || a.Credentials != nil) {
		return errors.New("region and credentials are used to check the delivery stream: set delivery_stream_name too, or remove them")
	}
	if a.DeliveryStreamName != "" {
		if a.Region == "" {
			return errors.New("delivery_stream_name needs region (the Firehose stream's region, such as us-east-1)")
		}
		if a.CheckInterval < 10*time.Second {
			return errors.New("check_interval must be at least 10s")
		}
	}
	if a.Endpoint != "" {
		if u, err := url.Parse(a.Endpoint); err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("endpoint %q must be a URL such as https://firehose.us-east-1.amazonaws.com", a.Endpoint)
		}
	}
	return nil
}

// listenerArgs is what needs a new listener and server when it changes;
// the size limits apply to the next request without one.
func (s ServerArgs) listenerArgs() ServerArgs {
	s.MaxRequestBodySize, s.MaxRequestDecodedSize, s.MaxInflightSize = 0, 0, 0
	return s
}

func (s ServerArgs) addr() string {
	return net.JoinHostPort(s.ListenAddress, strconv.Itoa(s.ListenPort))
}
