// Package prometheus converts a Prometheus configuration (prometheus.yml)
// to River, and provides the scrape and remote-write translations that the
// Grafana Agent static-mode converter reuses.
//
// The YAML is parsed by Prometheus' own config package (config.Load), so
// what Prometheus rejects is rejected here with Prometheus' message, at the
// line and column of the user's file. The mapping:
//
//	scrape_configs[]          prometheus.scrape "<job_name>"
//	  static_configs          inline targets
//	  ec2_sd_configs          discovery.aws.ec2 "<job_name>"
//	  relabel_configs         discovery.relabel "<job_name>" between discovery and scrape
//	  metric_relabel_configs  prometheus.relabel "<job_name>" between scrape and remote write
//	remote_write[]            endpoint blocks of prometheus.remote_write "default"
//	  sigv4                   aws_sigv4 (named credentials: one shared aws.credentials)
//	global.external_labels    prometheus.remote_write's external_labels
//	global scrape settings    carried into every prometheus.scrape (Prometheus' own defaulting)
//
// Everything else (rule files, alerting, remote read, discovery mechanisms
// flow lacks) is reported at its line, never dropped silently.
package prometheus

import (
	"io"
	"log/slog"
	"regexp"
	"strings"

	promconfig "github.com/prometheus/prometheus/config"
	"go.yaml.in/yaml/v3"

	"github.com/flow-telemetry/flow/internal/converter/common"
	"github.com/flow-telemetry/flow/internal/converter/diag"
)

func init() {
	common.RegisterFields(promconfig.Config{}, promconfig.ScrapeConfig{}, promconfig.RemoteWriteConfig{}, EC2SDConfig{})
}

// Convert converts a prometheus.yml. The output is nil when a Critical
// diagnostic stopped the conversion.
func Convert(file string, src []byte) ([]byte, diag.Diagnostics) {
	return common.Convert(file, src, convert)
}

func convert(ctx *common.Context) []byte {
	root := ctx.Src.Root
	topLevel(ctx, root)
	for _, sc := range common.Items(common.Value(root, "scrape_configs")) {
		StripUnsupportedDiscovery(ctx, sc)
	}
	cfg, err := promconfig.Load(string(ctx.Src.Text()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		ctx.Diags = append(ctx.Diags, LoadErrorDiags(ctx, err, "Prometheus rejects the config")...)
		return nil
	}
	globalKeys(ctx, common.Value(root, "global"))

	rwLabel := "default"
	forward := "prometheus.remote_write." + rwLabel + ".receiver"
	scrapeNodes := common.Value(root, "scrape_configs")
	for i, sc := range cfg.ScrapeConfigs {
		Scrape(ctx, sc, common.Item(scrapeNodes, i), ScrapeOptions{ForwardTo: forward})
	}
	rw := ctx.Tail.Block("prometheus.remote_write", rwLabel)
	if el := ExternalLabels(ctx, common.Value(common.Value(root, "global"), "external_labels")); el != nil {
		rw.Attr("external_labels", el)
	}
	rwNodes := common.Value(root, "remote_write")
	for i, r := range cfg.RemoteWriteConfigs {
		Endpoint(ctx, &rw.Body, r, common.Item(rwNodes, i), EndpointExtras{})
	}
	if len(cfg.RemoteWriteConfigs) == 0 && len(cfg.ScrapeConfigs) > 0 {
		ctx.Report(nil, diag.Warning, "the config has no remote_write: the scraped samples go nowhere",
			"add an endpoint block to prometheus.remote_write.default; flow keeps no local TSDB")
	}
	out, err := ctx.Bytes()
	if err != nil {
		ctx.Report(nil, diag.Critical, err.Error(), "")
		return nil
	}
	return out
}

// topLevel reports the sections of prometheus.yml that flow has no place for.
func topLevel(ctx *common.Context, root *yaml.Node) {
	common.Pairs(root, func(k, v *yaml.Node) {
		switch k.Value {
		case "global", "scrape_configs", "remote_write":
		case "rule_files":
			if len(common.Items(v)) > 0 {
				ctx.Report(k, diag.Error, "rule_files is not converted: flow evaluates no recording or alerting rules",
					"evaluate the rules where the samples land (Mimir's or Amazon Managed Prometheus' ruler)")
			}
		case "alerting":
			ctx.Report(k, diag.Error, "alerting is not converted: flow sends no alerts",
				"configure alerting on the receiving side (Mimir, Amazon Managed Prometheus)")
		case "remote_read":
			ctx.Report(k, diag.Error, "remote_read is not converted: flow answers no queries", "")
		case "storage":
			ctx.Report(k, diag.Warning, "storage is not converted: flow keeps samples only in remote_write's write-ahead log",
				"size the WAL with prometheus.remote_write's wal block and --storage.path")
		case "scrape_config_files":
			ctx.Report(k, diag.Error, "scrape_config_files is not converted",
				"paste the scrape configs of those files into scrape_configs and convert again")
		default:
			ctx.Reportf(k, diag.Error, "", "%s is not converted: flow has no equivalent", k.Value)
		}
	})
}

// globalKeys reports the global settings that are neither scrape defaults
// (carried into every scrape by Prometheus' own defaulting) nor external
// labels.
func globalKeys(ctx *common.Context, g *yaml.Node) {
	common.Pairs(g, func(k, _ *yaml.Node) {
		switch k.Value {
		case "scrape_interval", "scrape_timeout", "scrape_protocols", "external_labels",
			"body_size_limit", "sample_limit", "target_limit", "label_limit",
			"label_name_length_limit", "label_value_length_limit", "scrape_native_histograms",
			"extra_scrape_metrics":
		case "evaluation_interval", "rule_query_offset":
			ctx.Reportf(k, diag.Warning, "", "global.%s is not converted: flow evaluates no rules", k.Value)
		default:
			ctx.Reportf(k, diag.Error, "", "global.%s is not converted: flow's prometheus.scrape has no such setting", k.Value)
		}
	})
}

// supportedDiscovery are the *_sd_configs flow converts.
var supportedDiscovery = map[string]string{"static_configs": "", "ec2_sd_configs": "discovery.aws.ec2"}

// StripUnsupportedDiscovery reports and removes every discovery mechanism
// in a scrape config that flow lacks, so Prometheus' parser (which knows
// only the mechanisms compiled in) does not reject the whole file for it.
func StripUnsupportedDiscovery(ctx *common.Context, sc *yaml.Node) {
	common.Pairs(sc, func(k, v *yaml.Node) {
		if !strings.HasSuffix(k.Value, "_sd_configs") {
			return
		}
		if _, ok := supportedDiscovery[k.Value]; ok {
			return
		}
		kind := strings.TrimSuffix(k.Value, "_sd_configs")
		ctx.Reportf(k, diag.Error, "list the targets in static_configs, or discover them with ec2_sd_configs",
			"%s is not converted: flow has no discovery.%s component", k.Value, kind)
		if !ctx.Src.Strip(k, v) {
			ctx.Report(k, diag.Critical, "cannot leave out "+k.Value+" written in flow style", "write it in block style (one key per line)")
		}
	})
}

var jobNameRE = regexp.MustCompile(`job name "([^"]*)"`)

// LoadErrorDiags turns a Prometheus config error into Critical diagnostics.
// Errors with a line are placed there; validation errors naming a job are
// placed at that job's job_name.
func LoadErrorDiags(ctx *common.Context, err error, context string) diag.Diagnostics {
	ds := common.ErrorDiags(ctx.Src.File, ctx.Src.Root, err, context)
	for i := range ds {
		ds[i].Summary = ctx.Src.Restore(ds[i].Summary)
		if ds[i].Line != 0 {
			continue
		}
		if m := jobNameRE.FindStringSubmatch(err.Error()); m != nil {
			if k := findJob(ctx.Src.Root, m[1]); k != nil {
				ds[i].Line, ds[i].Column = k.Line, k.Column
			}
		}
	}
	return ds
}

// findJob finds the job_name key whose value is job, anywhere.
func findJob(n *yaml.Node, job string) *yaml.Node {
	if n == nil {
		return nil
	}
	if k, v := common.Key(n, "job_name"); k != nil && v.Value == job {
		return k
	}
	for _, c := range n.Content {
		if k := findJob(c, job); k != nil {
			return k
		}
	}
	return nil
}
