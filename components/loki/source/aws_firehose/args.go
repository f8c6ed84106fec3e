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

// Arguments configures loki.source.aws_firehose. Every argument and block of
// Alloy's loki.source.awsfirehose is here with its behaviour
// (docs/alloy-compatibility.md); the others are flow's.
type Arguments struct {
	HTTP ServerArgs `river:"http,block,optional"`
	// GRPC, when present, serves the same endpoint over gRPC, as Alloy's
	// dskit server does (grpc.go).
	GRPC *GRPCArgs `river:"grpc,block,optional"`
	// GracefulShutdownTimeout is how long a server being stopped (at
	// shutdown, or replaced by an update) waits for requests in flight.
	GracefulShutdownTimeout time.Duration `river:"graceful_shutdown_timeout,attr,optional"`
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
	// ConnLimit caps open connections. Alloy's 0 ("no limit") means
	// DefaultConnLimit: flow always bounds them.
	ConnLimit int `river:"conn_limit,attr,optional"`
	// ServerReadTimeout bounds reading a request, headers and body (408
	// when the body runs out of it).
	ServerReadTimeout time.Duration `river:"server_read_timeout,attr,optional"`
	// ServerWriteTimeout bounds everything after the headers: the body, the
	// wait for forward_to (503 in time to answer) and the answer.
	ServerWriteTimeout time.Duration `river:"server_write_timeout,attr,optional"`
	// ServerIdleTimeout closes keep-alive connections idle that long.
	ServerIdleTimeout time.Duration `river:"server_idle_timeout,attr,optional"`
	// ServerTimeout is flow's earlier name: when set it is both
	// server_read_timeout and server_write_timeout.
	ServerTimeout time.Duration `river:"server_timeout,attr,optional"`
	// TLS serves HTTPS; TLSConfig is its name in Alloy before v1.10.
	TLS       *TLSArgs `river:"tls,block,optional"`
	TLSConfig *TLSArgs `river:"tls_config,block,optional"`
	// HTTP2 accepts unencrypted HTTP/2 (h2c), Alloy's http2 block.
	HTTP2 *HTTP2Args `river:"http2,block,optional"`

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
	*a = Arguments{CheckInterval: 5 * time.Minute, GracefulShutdownTimeout: DefaultGracefulShutdownTimeout}
	a.HTTP.SetToDefault()
}

// Server defaults. The body limit is the largest buffer a Firehose stream
// may use for an HTTP endpoint (64 MiB); the in-flight budget holds one
// request of that size with its decoded records, and keeps the whole
// agent well under 512 MiB under any load (BENCHMARKS.md).
const (
	DefaultConnLimit               = 100
	DefaultReadTimeout             = 30 * time.Second
	DefaultWriteTimeout            = 30 * time.Second
	DefaultIdleTimeout             = 120 * time.Second
	DefaultGracefulShutdownTimeout = 30 * time.Second
	DefaultMaxRequestBodySize      = 64 << 20
	DefaultMaxRequestDecodedSize   = 64 << 20
	DefaultMaxInflightSize         = 128 << 20
)

// SetToDefault sets the server defaults.
func (s *ServerArgs) SetToDefault() {
	*s = ServerArgs{ListenPort: 8080, ConnLimit: DefaultConnLimit,
		ServerReadTimeout: DefaultReadTimeout, ServerWriteTimeout: DefaultWriteTimeout, ServerIdleTimeout: DefaultIdleTimeout,
		MaxRequestBodySize: DefaultMaxRequestBodySize, MaxRequestDecodedSize: DefaultMaxRequestDecodedSize,
		MaxInflightSize: DefaultMaxInflightSize}
}

// Validate checks the arguments.
func (a *Arguments) Validate() error {
	if a.HTTP.ListenPort < 0 || a.HTTP.ListenPort > 65535 {
		return fmt.Errorf("http > listen_port %d is not a port", a.HTTP.ListenPort)
	}
	for name, d := range map[string]time.Duration{"server_read_timeout": a.HTTP.ServerReadTimeout,
		"server_write_timeout": a.HTTP.ServerWriteTimeout, "server_idle_timeout": a.HTTP.ServerIdleTimeout, "server_timeout": a.HTTP.ServerTimeout} {
		if d < 0 {
			return fmt.Errorf("http > %s must not be negative (0 means flow's default)", name)
		}
	}
	if a.GracefulShutdownTimeout < 0 {
		return errors.New("graceful_shutdown_timeout must not be negative (0 stops the server without waiting)")
	}
	if a.HTTP.ConnLimit < 0 {
		return errors.New("http > conn_limit must not be negative (0 means flow's default of 100)")
	}
	if a.HTTP.TLS != nil && a.HTTP.TLSConfig != nil {
		return errors.New("http: set tls or tls_config (its older name), not both")
	}
	if t := a.HTTP.tls(); t != nil {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("http > tls: %w", err)
		}
	}
	if err := a.HTTP.HTTP2.Validate(); err != nil {
		return fmt.Errorf("http > http2: %w", err)
	}
	if a.GRPC != nil {
		if err := a.GRPC.Validate(&a.HTTP); err != nil {
			return fmt.Errorf("grpc: %w", err)
		}
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

// tls is the TLS block under either of its names, or nil.
func (s *ServerArgs) tls() *TLSArgs {
	if s.TLS != nil {
		return s.TLS
	}
	return s.TLSConfig
}

// timeouts are the server's effective timeouts: server_timeout, when set,
// is both read and write timeout; 0 (Alloy's "none") is flow's default.
func (s *ServerArgs) timeouts() (read, write, idle time.Duration) {
	read, write, idle = s.ServerReadTimeout, s.ServerWriteTimeout, s.ServerIdleTimeout
	if s.ServerTimeout > 0 {
		read, write = s.ServerTimeout, s.ServerTimeout
	}
	if read == 0 {
		read = DefaultReadTimeout
	}
	if write == 0 {
		write = DefaultWriteTimeout
	}
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	return read, write, idle
}

// connLimit is conn_limit, with Alloy's 0 ("no limit") as flow's default.
func (s *ServerArgs) connLimit() int {
	if s.ConnLimit == 0 {
		return DefaultConnLimit
	}
	return s.ConnLimit
}

func (s ServerArgs) addr() string {
	return net.JoinHostPort(s.ListenAddress, strconv.Itoa(s.ListenPort))
}
