package prometheus

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	promcommon "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"go.yaml.in/yaml/v3"

	"github.com/flow-telemetry/flow/internal/converter/common"
	"github.com/flow-telemetry/flow/internal/converter/diag"
	"github.com/flow-telemetry/flow/internal/converter/river"
)

// ScrapeOptions say where a scrape job's components go and what they feed.
type ScrapeOptions struct {
	// Prefix starts every label (static mode: "metrics_<instance>").
	Prefix string
	// ForwardTo is the receiver expression scraped samples go to.
	ForwardTo string
	// EC2Auth gives extra AWS settings for ec2_sd_configs[i] (the seed
	// article's aws_sigv4 under http_client_config), if any.
	EC2Auth func(i int) (common.AWSAuth, bool)
	// Comment is written above the job's first component.
	Comment string
}

// scrapeKeys are the scrape-config keys Scrape converts (or reports itself).
var scrapeKeys = common.Keys(common.HTTPClientKeys, []string{
	"job_name", "honor_labels", "honor_timestamps", "track_timestamps_staleness", "params",
	"scrape_interval", "scrape_timeout", "scrape_protocols", "fallback_scrape_protocol",
	"scrape_native_histograms", "metrics_path", "scheme", "enable_compression",
	"body_size_limit", "sample_limit", "target_limit", "label_limit",
	"label_name_length_limit", "label_value_length_limit", "extra_scrape_metrics",
	"relabel_configs", "metric_relabel_configs", "static_configs", "ec2_sd_configs",
})

// Scrape converts one scrape config into discovery, relabel and scrape
// components. node is the scrape config's YAML mapping.
func Scrape(ctx *common.Context, sc *promconfig.ScrapeConfig, node *yaml.Node, o ScrapeOptions) {
	name := sc.JobName
	if o.Prefix != "" {
		name = o.Prefix + "_" + name
	}
	base := river.Label(name)
	if o.Comment != "" {
		ctx.Body.Comment(o.Comment)
	}
	handled := maps.Clone(scrapeKeys)

	ctx.Unhandled(node, fmt.Sprintf("scrape config %q", sc.JobName), handled, "")

	// Discovery: one discovery.aws.ec2 per ec2_sd_configs entry, and the
	// static targets inline, concatenated in the YAML's order.
	var sources []river.Expr
	var static []river.Expr
	ec2i := 0
	ec2Nodes := common.Value(node, "ec2_sd_configs")
	for _, d := range sc.ServiceDiscoveryConfigs {
		switch d := d.(type) {
		case discovery.StaticConfig:
			for _, g := range d {
				if g == nil {
					continue
				}
				static = append(static, staticTargets(g.Targets, g.Labels)...)
			}
		case *EC2SDConfig:
			var extra common.AWSAuth
			var hasExtra bool
			if o.EC2Auth != nil {
				extra, hasExtra = o.EC2Auth(ec2i)
			}
			label := ec2Discovery(ctx, d, common.Item(ec2Nodes, ec2i), base, extra, hasExtra)
			sources = append(sources, river.Raw("discovery.aws.ec2."+label+".targets"))
			ec2i++
		default:
			ctx.Reportf(node, diag.Error, "", "scrape config %q: a %T discovery is not converted", sc.JobName, d)
		}
	}
	if len(static) > 0 {
		sources = append(sources, river.List(static...))
	}
	var targets river.Expr
	switch len(sources) {
	case 0:
		targets = river.List()
		ctx.Reportf(common.Value(node, "job_name"), diag.Warning, "add static_configs or ec2_sd_configs",
			"scrape config %q has no targets", sc.JobName)
	case 1:
		targets = sources[0]
	default:
		targets = river.Call("array.concat", sources...)
	}

	targets = ctx.DiscoveryRelabel(base, targets, sc.RelabelConfigs)

	forward := o.ForwardTo
	var metricRelabel *river.Block
	if len(sc.MetricRelabelConfigs) > 0 {
		label := ctx.Label("prometheus.relabel", base)
		metricRelabel = &river.Block{Name: "prometheus.relabel", Label: label}
		metricRelabel.Attr("forward_to", river.List(river.Raw(o.ForwardTo)))
		common.RelabelRules(&metricRelabel.Body, "rule", sc.MetricRelabelConfigs)
		forward = "prometheus.relabel." + label + ".receiver"
	}

	b := ctx.Body.Block("prometheus.scrape", ctx.Label("prometheus.scrape", base))
	b.Attr("targets", targets)
	b.Attr("forward_to", river.List(river.Raw(forward)))
	b.Attr("job_name", river.String(sc.JobName))
	scrapeAttrs(ctx, &b.Body, sc, node)
	if metricRelabel != nil {
		blk := ctx.Body.Block(metricRelabel.Name, metricRelabel.Label)
		*blk = *metricRelabel
	}
}

// staticTargets turns a static_configs group into target objects.
func staticTargets(targets []model.LabelSet, common model.LabelSet) []river.Expr {
	var out []river.Expr
	for _, t := range targets {
		m := map[string]string{}
		for k, v := range common {
			m[string(k)] = string(v)
		}
		for k, v := range t {
			m[string(k)] = string(v)
		}
		out = append(out, river.StringMap(m, "__address__"))
	}
	return out
}

// scrapeAttrs writes the scrape settings that differ from flow's defaults
// (which are Prometheus' and Alloy's).
func scrapeAttrs(ctx *common.Context, b *river.Body, sc *promconfig.ScrapeConfig, node *yaml.Node) {
	if sc.HonorLabels {
		b.Attr("honor_labels", river.Bool(true))
	}
	if !sc.HonorTimestamps {
		b.Attr("honor_timestamps", river.Bool(false))
	}
	if sc.TrackTimestampsStaleness {
		b.Attr("track_timestamps_staleness", river.Bool(true))
	}
	if len(sc.Params) > 0 {
		b.Attr("params", params(sc.Params))
	}
	if d := time.Duration(sc.ScrapeInterval); d != time.Minute {
		b.Attr("scrape_interval", river.Duration(d))
	}
	if d := time.Duration(sc.ScrapeTimeout); d != 10*time.Second {
		b.Attr("scrape_timeout", river.Duration(d))
	}
	if len(sc.ScrapeProtocols) > 0 && !slices.Equal(sc.ScrapeProtocols, promconfig.DefaultScrapeProtocols) &&
		!(sc.ScrapeNativeHistogramsEnabled() && slices.Equal(sc.ScrapeProtocols, promconfig.DefaultProtoFirstScrapeProtocols)) {
		ps := make([]string, len(sc.ScrapeProtocols))
		for i, p := range sc.ScrapeProtocols {
			ps[i] = string(p)
		}
		b.Attr("scrape_protocols", river.Strings(ps))
	}
	b.OptString("scrape_fallback_protocol", string(sc.ScrapeFallbackProtocol))
	if sc.ScrapeNativeHistogramsEnabled() {
		b.Attr("scrape_native_histograms", river.Bool(true))
	}
	if sc.MetricsPath != "/metrics" {
		b.Attr("metrics_path", river.String(sc.MetricsPath))
	}
	if sc.Scheme != "http" {
		b.Attr("scheme", river.String(sc.Scheme))
	}
	if !sc.EnableCompression {
		b.Attr("enable_compression", river.Bool(false))
	}
	if sc.BodySizeLimit != 0 {
		b.Attr("body_size_limit", river.String(sc.BodySizeLimit.String()))
	}
	for _, l := range []struct {
		name string
		v    uint
	}{
		{"sample_limit", sc.SampleLimit}, {"target_limit", sc.TargetLimit}, {"label_limit", sc.LabelLimit},
		{"label_name_length_limit", sc.LabelNameLengthLimit}, {"label_value_length_limit", sc.LabelValueLengthLimit},
	} {
		if l.v != 0 {
			b.Attr(l.name, river.Int(l.v))
		}
	}
	if sc.ExtraScrapeMetrics != nil && *sc.ExtraScrapeMetrics {
		b.Attr("extra_metrics", river.Bool(true))
	}
	ctx.HTTPClient(b, sc.HTTPClientConfig, node, true, true)
}

func params(p url.Values) river.Expr {
	keys := slices.Sorted(maps.Keys(p))
	fields := make([]river.Field, len(keys))
	for i, k := range keys {
		fields[i] = river.Field{Key: k, Value: river.Strings(p[k])}
	}
	return river.Object(fields...)
}

var ec2Keys = common.Keys([]string{
	"region", "endpoint", "access_key", "secret_key", "profile", "role_arn", "external_id",
	"refresh_interval", "port", "filters", "follow_redirects", "enable_http2",
})

// ec2Discovery writes a discovery.aws.ec2 block and returns its label.
func ec2Discovery(ctx *common.Context, d *EC2SDConfig, node *yaml.Node, base string, extra common.AWSAuth, hasExtra bool) string {
	label := ctx.Label("discovery.aws.ec2", base)
	b := ctx.Body.Block("discovery.aws.ec2", label)
	ctx.Unhandled(node, "ec2_sd_configs", ec2Keys, "discovery.aws.ec2 calls the EC2 API with the AWS SDK's own HTTP client")
	if d.HTTPClientConfig.FollowRedirects != promcommon.DefaultHTTPClientConfig.FollowRedirects ||
		d.HTTPClientConfig.EnableHTTP2 != promcommon.DefaultHTTPClientConfig.EnableHTTP2 {
		ctx.Report(node, diag.Warning, "ec2_sd_configs: follow_redirects and enable_http2 are not converted; the AWS SDK decides", "")
	}
	auth := common.AWSAuth{
		Region: d.Region, RoleARN: d.RoleARN, ExternalID: d.ExternalID, Profile: d.Profile,
		AccessKey: d.AccessKey, SecretKey: string(d.SecretKey),
	}
	if hasExtra {
		auth = mergeAuth(ctx, auth, extra, node)
	}
	if auth.Region != "" {
		b.Attr("region", river.String(auth.Region))
	} else {
		k, _ := common.Key(node, "region")
		if k == nil {
			k = node
		}
		ctx.Report(k, diag.Info, "ec2_sd_configs has no region: discovery.aws.ec2 takes it from AWS_REGION, the profile or the instance metadata service, as Prometheus does", "")
	}
	b.OptString("endpoint", d.Endpoint)
	if d.Port != 80 {
		b.Attr("port", river.Int(d.Port))
	}
	if r := time.Duration(d.RefreshInterval); r != time.Minute && r != 0 {
		b.Attr("refresh_interval", river.Duration(r))
	}
	for _, f := range d.Filters {
		fb := b.Block("filter", "")
		fb.Attr("name", river.String(f.Name))
		fb.Attr("values", river.Strings(f.Values))
	}
	if cl := ctx.AWSCredentials(auth, node); cl != "" {
		common.CredentialsBlock(&b.Body, cl)
	}
	return label
}

// mergeAuth fills a's empty fields from extra (the seed article's
// aws_sigv4 under the discovery's http_client_config); a conflict is an
// error, since one of the two would be ignored.
func mergeAuth(ctx *common.Context, a, extra common.AWSAuth, node *yaml.Node) common.AWSAuth {
	pick := func(name string, dst *string, v string) {
		switch {
		case v == "":
		case *dst == "":
			*dst = v
		case *dst != v:
			ctx.Reportf(node, diag.Error, "give it once, directly in the ec2_sd_configs entry",
				"ec2_sd_configs: %s is set both directly and under http_client_config.aws_sigv4, differently", name)
		}
	}
	pick("region", &a.Region, extra.Region)
	pick("role_arn", &a.RoleARN, extra.RoleARN)
	pick("external_id", &a.ExternalID, extra.ExternalID)
	pick("profile", &a.Profile, extra.Profile)
	pick("access_key", &a.AccessKey, extra.AccessKey)
	pick("secret_key", &a.SecretKey, extra.SecretKey)
	return a
}

// ExternalLabels converts global.external_labels from the YAML as written:
// Prometheus expands $VAR in them at load time, which flow does with
// sys.env.
func ExternalLabels(ctx *common.Context, n *yaml.Node) river.Expr {
	if n == nil || n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		return nil
	}
	var fields []river.Field
	common.Pairs(n, func(k, v *yaml.Node) {
		fields = append(fields, river.Field{Key: k.Value, Value: envString(ctx, v)})
	})
	sort.Slice(fields, func(i, j int) bool { return fields[i].Key < fields[j].Key })
	return river.Object(fields...)
}

// envString is v's string, as sys.env("X") when it is exactly $X or ${X}.
func envString(ctx *common.Context, v *yaml.Node) river.Expr {
	s := v.Value
	if !strings.Contains(s, "$") {
		return river.String(s)
	}
	name := strings.TrimPrefix(s, "$")
	name = strings.TrimSuffix(strings.TrimPrefix(name, "{"), "}")
	if river.IsIdentifier(name) && (s == "$"+name || s == "${"+name+"}") {
		ctx.Reportf(v, diag.Info, "", "%s is read from the environment with sys.env(%q)", s, name)
		return river.Call("sys.env", river.String(name))
	}
	ctx.Reportf(v, diag.Warning, `build the value with sys.env("NAME") and +`,
		"%q mixes text and environment variables; it is carried over literally, without expansion", s)
	return river.String(s)
}
