package prometheus

import (
	"time"

	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"go.yaml.in/yaml/v3"

	"github.com/flow-telemetry/flow/internal/converter/common"
	"github.com/flow-telemetry/flow/internal/converter/diag"
	"github.com/flow-telemetry/flow/internal/converter/river"
)

// EndpointExtras are settings a remote_write entry carries outside
// Prometheus' schema (the seed article's variants, which the static-mode
// converter strips before Prometheus' parser sees them).
type EndpointExtras struct {
	// SigV4 is aws_sigv4 given under http_client_config.
	SigV4 *common.SigV4
	// Comments are written at the top of the endpoint block.
	Comments []string
}

var remoteWriteKeys = common.Keys(common.HTTPClientKeys, []string{
	"url", "name", "remote_timeout", "headers", "write_relabel_configs", "send_exemplars",
	"send_native_histograms", "protobuf_message", "queue_config", "metadata_config", "sigv4",
})

// Endpoint writes one `endpoint { … }` block of prometheus.remote_write.
func Endpoint(ctx *common.Context, b *river.Body, r *promconfig.RemoteWriteConfig, node *yaml.Node, x EndpointExtras) {
	ctx.Unhandled(node, "remote_write", remoteWriteKeys, "")
	e := b.Block("endpoint", "")
	for _, c := range x.Comments {
		e.Comment(c)
	}
	e.OptString("name", r.Name)
	e.Attr("url", river.String(r.URL.String()))
	if d := time.Duration(r.RemoteTimeout); d != 30*time.Second {
		e.Attr("remote_timeout", river.Duration(d))
	}
	if len(r.Headers) > 0 {
		e.Attr("headers", river.StringMap(r.Headers))
	}
	if r.SendNativeHistograms {
		e.Attr("send_native_histograms", river.Bool(true))
	}
	if r.ProtobufMessage != "" && r.ProtobufMessage != promconfig.DefaultRemoteWriteConfig.ProtobufMessage {
		e.Attr("protobuf_message", river.String(string(r.ProtobufMessage)))
	}
	ctx.HTTPClient(&e.Body, r.HTTPClientConfig, node, true, false)
	queueConfig(&e.Body, r.QueueConfig, common.Value(node, "queue_config"))
	metadataConfig(&e.Body, r.MetadataConfig)
	common.RelabelRules(&e.Body, "write_relabel_config", r.WriteRelabelConfigs)

	sig := x.SigV4
	if r.SigV4Config != nil {
		if sig != nil {
			ctx.Report(common.Value(node, "sigv4"), diag.Error, "remote_write has both sigv4 and http_client_config.aws_sigv4", "keep one of them")
		}
		s := r.SigV4Config
		sig = &common.SigV4{
			AWSAuth: common.AWSAuth{Region: s.Region, RoleARN: s.RoleARN, ExternalID: s.ExternalID,
				Profile: s.Profile, AccessKey: s.AccessKey, SecretKey: string(s.SecretKey)},
			ServiceName: s.ServiceName, SessionName: s.SessionName, UseFIPS: s.UseFIPSSTSEndpoint,
			Node: common.Value(node, "sigv4"),
		}
		if len(s.Tags) > 0 {
			k, _ := common.Key(sig.Node, "tags")
			ctx.Report(k, diag.Error, "sigv4.tags (session tags) are not converted: aws.credentials does not tag sessions", "")
		}
	}
	if sig != nil {
		if r.HTTPClientConfig.BasicAuth != nil || r.HTTPClientConfig.Authorization != nil || r.HTTPClientConfig.BearerToken != "" || r.HTTPClientConfig.BearerTokenFile != "" {
			ctx.Report(sig.Node, diag.Error, "remote_write: sigv4 and another authentication method are set together", "keep only one: a SigV4-signed request carries its own Authorization header")
		}
		ctx.SigV4Block(&e.Body, *sig, "aps")
	}
}

func queueConfig(b *river.Body, q promconfig.QueueConfig, node *yaml.Node) {
	d := promconfig.DefaultQueueConfig
	var qb *river.Block
	attr := func(name string, v river.Expr) {
		if qb == nil {
			qb = b.Block("queue_config", "")
		}
		qb.Attr(name, v)
	}
	ints := []struct {
		name   string
		v, def int
	}{
		{"capacity", q.Capacity, d.Capacity}, {"max_shards", q.MaxShards, d.MaxShards},
		{"min_shards", q.MinShards, d.MinShards}, {"max_samples_per_send", q.MaxSamplesPerSend, d.MaxSamplesPerSend},
	}
	for _, i := range ints {
		if i.v != i.def {
			attr(i.name, river.Int(i.v))
		}
	}
	durs := []struct {
		name   string
		v, def model.Duration
	}{
		{"batch_send_deadline", q.BatchSendDeadline, d.BatchSendDeadline},
		{"min_backoff", q.MinBackoff, d.MinBackoff}, {"max_backoff", q.MaxBackoff, d.MaxBackoff},
		{"sample_age_limit", q.SampleAgeLimit, 0},
	}
	for _, x := range durs {
		if x.v != x.def {
			attr(x.name, river.Duration(time.Duration(x.v)))
		}
	}
	// flow (like Alloy) retries 429s by default; carry the setting over only
	// when the YAML turns it off.
	if k, _ := common.Key(node, "retry_on_http_429"); k != nil && !q.RetryOnRateLimit {
		attr("retry_on_http_429", river.Bool(false))
	}
}

func metadataConfig(b *river.Body, m promconfig.MetadataConfig) {
	d := promconfig.DefaultMetadataConfig
	if m == d {
		return
	}
	mb := b.Block("metadata_config", "")
	if m.Send != d.Send {
		mb.Attr("send", river.Bool(m.Send))
	}
	if m.SendInterval != d.SendInterval {
		mb.Attr("send_interval", river.Duration(time.Duration(m.SendInterval)))
	}
	if m.MaxSamplesPerSend != d.MaxSamplesPerSend {
		mb.Attr("max_samples_per_send", river.Int(m.MaxSamplesPerSend))
	}
}
