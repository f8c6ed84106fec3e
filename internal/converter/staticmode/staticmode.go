// Package staticmode converts a Grafana Agent static-mode config to River.
// Static mode embeds Prometheus' scrape and remote-write configs (converted
// by package prometheus) and Promtail's (package promtail); its own top
// level has small types here, decoded strictly:
//
//	metrics.configs[] "N"      prometheus.remote_write "metrics_N", jobs labelled "metrics_N_<job>"
//	  remote_write (or metrics.global.remote_write when the instance has none)
//	metrics.global             scrape defaults and external labels
//	logs.configs[] "N"         loki.write "logs_N", jobs labelled "logs_N_<job>"
//	  positions (or logs.positions_directory/N.yml)  legacy_positions_file
//	server                     logging block, flow run flags
//
// The seed article's variants convert too: aws_sigv4 nested under
// http_client_config in a remote_write entry and in an ec2_sd_configs entry,
// aws_sigv4 in a logs client, send_start_timestamp, an empty region, and
// <PLACEHOLDERS>. integrations, traces and agent_management have no
// equivalent and are reported.
package staticmode

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v3"

	"github.com/flow-telemetry/flow/internal/converter/common"
	"github.com/flow-telemetry/flow/internal/converter/diag"
	"github.com/flow-telemetry/flow/internal/converter/prometheus"
	"github.com/flow-telemetry/flow/internal/converter/promtail"
	"github.com/flow-telemetry/flow/internal/converter/river"
)

// Config is a Grafana Agent static-mode config.
type Config struct {
	Server          map[string]yaml.Node `yaml:"server"`
	Metrics         *Metrics             `yaml:"metrics"`
	Logs            *Logs                `yaml:"logs"`
	Traces          yaml.Node            `yaml:"traces"`
	Integrations    yaml.Node            `yaml:"integrations"`
	AgentManagement yaml.Node            `yaml:"agent_management"`
}

// Metrics is the metrics section.
type Metrics struct {
	WALDirectory           string      `yaml:"wal_directory"`
	WALCleanupAge          yaml.Node   `yaml:"wal_cleanup_age"`
	WALCleanupPeriod       yaml.Node   `yaml:"wal_cleanup_period"`
	Global                 *Global     `yaml:"global"`
	Configs                []*Instance `yaml:"configs"`
	ScrapingService        yaml.Node   `yaml:"scraping_service"`
	ScrapingServiceClient  yaml.Node   `yaml:"scraping_service_client"`
	InstanceRestartBackoff yaml.Node   `yaml:"instance_restart_backoff"`
	InstanceMode           yaml.Node   `yaml:"instance_mode"`
	DisableKeepalives      yaml.Node   `yaml:"disable_keepalives"`
	IdleConnTimeout        yaml.Node   `yaml:"idle_conn_timeout"`
}

// Global is metrics.global: Prometheus' global scrape settings (the ones
// Grafana Agent documents) plus remote_write.
type Global struct {
	ScrapeInterval        model.Duration                  `yaml:"scrape_interval"`
	ScrapeTimeout         model.Duration                  `yaml:"scrape_timeout"`
	EvaluationInterval    model.Duration                  `yaml:"evaluation_interval"`
	ExternalLabels        map[string]string               `yaml:"external_labels"`
	SampleLimit           uint                            `yaml:"sample_limit"`
	TargetLimit           uint                            `yaml:"target_limit"`
	LabelLimit            uint                            `yaml:"label_limit"`
	LabelNameLengthLimit  uint                            `yaml:"label_name_length_limit"`
	LabelValueLengthLimit uint                            `yaml:"label_value_length_limit"`
	BodySizeLimit         string                          `yaml:"body_size_limit"`
	ScrapeProtocols       []promconfig.ScrapeProtocol     `yaml:"scrape_protocols"`
	RemoteWrite           []*promconfig.RemoteWriteConfig `yaml:"remote_write"`
}

// prometheus returns the Prometheus global config scrape configs default from.
func (g *Global) prometheus() (promconfig.GlobalConfig, error) {
	pg := promconfig.DefaultGlobalConfig
	if g.ScrapeInterval != 0 {
		pg.ScrapeInterval = g.ScrapeInterval
	}
	if g.ScrapeTimeout != 0 {
		pg.ScrapeTimeout = g.ScrapeTimeout
	}
	pg.SampleLimit, pg.TargetLimit, pg.LabelLimit = g.SampleLimit, g.TargetLimit, g.LabelLimit
	pg.LabelNameLengthLimit, pg.LabelValueLengthLimit = g.LabelNameLengthLimit, g.LabelValueLengthLimit
	pg.ScrapeProtocols = g.ScrapeProtocols
	if g.BodySizeLimit != "" {
		n, err := units.ParseBase2Bytes(g.BodySizeLimit)
		if err != nil {
			return pg, fmt.Errorf("body_size_limit %q is not a size such as 10MB", g.BodySizeLimit)
		}
		pg.BodySizeLimit = n
	}
	return pg, nil
}

// Instance is one metrics.configs entry.
type Instance struct {
	Name                     string                          `yaml:"name"`
	ScrapeConfigs            []*promconfig.ScrapeConfig      `yaml:"scrape_configs"`
	RemoteWrite              []*promconfig.RemoteWriteConfig `yaml:"remote_write"`
	HostFilter               bool                            `yaml:"host_filter"`
	HostFilterRelabelConfigs yaml.Node                       `yaml:"host_filter_relabel_configs"`
	WALTruncateFrequency     model.Duration                  `yaml:"wal_truncate_frequency"`
	MinWALTime               model.Duration                  `yaml:"min_wal_time"`
	MaxWALTime               model.Duration                  `yaml:"max_wal_time"`
	RemoteFlushDeadline      model.Duration                  `yaml:"remote_flush_deadline"`
	WriteStaleOnShutdown     bool                            `yaml:"write_stale_on_shutdown"`
}

// Logs is the logs section.
type Logs struct {
	PositionsDirectory string          `yaml:"positions_directory"`
	Global             *LogsGlobal     `yaml:"global"`
	Configs            []*LogsInstance `yaml:"configs"`
}

// LogsGlobal is logs.global.
type LogsGlobal struct {
	Clients         []*promtail.Client  `yaml:"clients"`
	FileWatchConfig *promtail.FileWatch `yaml:"file_watch_config"`
}

// LogsInstance is one logs.configs entry: a Promtail config without server.
type LogsInstance struct {
	Name          string                   `yaml:"name"`
	Clients       []*promtail.Client       `yaml:"clients"`
	Positions     *promtail.Positions      `yaml:"positions"`
	ScrapeConfigs []*promtail.ScrapeConfig `yaml:"scrape_configs"`
	TargetConfig  *promtail.TargetConfig   `yaml:"target_config"`
	LimitsConfig  *promtail.LimitsConfig   `yaml:"limits_config"`
}

func init() {
	common.RegisterFields(Config{}, Metrics{}, Instance{}, Logs{}, LogsInstance{})
}

// Convert converts a static-mode config file.
func Convert(file string, src []byte) ([]byte, diag.Diagnostics) {
	return common.Convert(file, src, convert)
}

// variants holds what was stripped from the YAML before decoding.
type variants struct {
	rwSigV4  map[*yaml.Node]*common.SigV4 // remote_write entry -> its http_client_config.aws_sigv4
	rwNotes  map[*yaml.Node][]string      // remote_write entry -> comments for its endpoint
	ec2Auth  map[*yaml.Node]common.AWSAuth
	logsSigs map[*yaml.Node]*common.SigV4 // logs client -> aws_sigv4
}

func convert(ctx *common.Context) []byte {
	root := ctx.Src.Root
	v := stripVariants(ctx, root)
	cfg := Config{Metrics: &Metrics{Global: &Global{}}}
	if d := ctx.Src.DecodeStrict(&cfg, "not a Grafana Agent static-mode config"); d.Has(diag.Critical) {
		ctx.Diags = append(ctx.Diags, d...)
		return nil
	}
	promtail.Server(ctx, cfg.Server, common.Value(root, "server"))
	unsupportedTop(ctx, root)
	if cfg.Metrics != nil { // `metrics:` with nothing decodes to nil
		if cfg.Metrics.Global == nil {
			cfg.Metrics.Global = &Global{}
		}
		metrics(ctx, cfg.Metrics, common.Value(root, "metrics"), v)
	}
	if cfg.Logs != nil {
		logs(ctx, cfg.Logs, common.Value(root, "logs"), v)
	}
	out, err := ctx.Bytes()
	if err != nil {
		ctx.Report(nil, diag.Critical, err.Error(), "")
		return nil
	}
	return out
}

// stripVariants removes the seed article's variants (and discovery
// mechanisms flow lacks) from the working copy, remembering what they said.
func stripVariants(ctx *common.Context, root *yaml.Node) variants {
	v := variants{rwSigV4: map[*yaml.Node]*common.SigV4{}, rwNotes: map[*yaml.Node][]string{}, ec2Auth: map[*yaml.Node]common.AWSAuth{}, logsSigs: map[*yaml.Node]*common.SigV4{}}
	metricsNode := common.Value(root, "metrics")
	rwLists := []*yaml.Node{common.Value(common.Value(metricsNode, "global"), "remote_write")}
	for _, inst := range common.Items(common.Value(metricsNode, "configs")) {
		rwLists = append(rwLists, common.Value(inst, "remote_write"))
		for _, sc := range common.Items(common.Value(inst, "scrape_configs")) {
			prometheus.StripUnsupportedDiscovery(ctx, sc)
			for _, ec2 := range common.Items(common.Value(sc, "ec2_sd_configs")) {
				if s := stripHTTPClientSigV4(ctx, ec2, "ec2_sd_configs"); s != nil {
					if s.ServiceName != "" && s.ServiceName != "ec2" {
						ctx.Reportf(s.Node, diag.Warning, "", "ec2_sd_configs: aws_sigv4.service_name %q is ignored: discovery.aws.ec2 calls the EC2 API", s.ServiceName)
					}
					v.ec2Auth[ec2] = s.AWSAuth
				}
			}
		}
	}
	for _, list := range rwLists {
		for _, rw := range common.Items(list) {
			if s := stripHTTPClientSigV4(ctx, rw, "remote_write"); s != nil {
				v.rwSigV4[rw] = s
			}
			if k, val := common.Key(rw, "send_start_timestamp"); k != nil {
				ctx.Reportf(k, diag.Warning, "remove it; a counter's start shows in its first sample after a reset",
					"send_start_timestamp is not converted: flow's remote write sends no start (created) timestamps")
				ctx.Src.Strip(k, val)
				v.rwNotes[rw] = append(v.rwNotes[rw], "send_start_timestamp is not converted: flow sends no start (created) timestamps.")
			}
		}
	}
	logsNode := common.Value(root, "logs")
	clientLists := []*yaml.Node{common.Value(common.Value(logsNode, "global"), "clients")}
	for _, inst := range common.Items(common.Value(logsNode, "configs")) {
		clientLists = append(clientLists, common.Value(inst, "clients"))
	}
	for _, list := range clientLists {
		for _, c := range common.Items(list) {
			if s := promtail.StripSigV4(ctx, c); s != nil {
				v.logsSigs[c] = s
			}
		}
	}
	return v
}

// stripHTTPClientSigV4 handles `http_client_config: {aws_sigv4: …}` in a
// remote_write or ec2_sd_configs entry, the seed article's spelling (Grafana
// Agent and Prometheus take the HTTP client settings inline, and call the
// block sigv4).
func stripHTTPClientSigV4(ctx *common.Context, m *yaml.Node, where string) *common.SigV4 {
	k, hc := common.Key(m, "http_client_config")
	if k == nil {
		return nil
	}
	var sig *common.SigV4
	common.Pairs(hc, func(ik, iv *yaml.Node) {
		if ik.Value == "aws_sigv4" || ik.Value == "sigv4" {
			sig = promtail.ParseSigV4(ctx, iv)
			return
		}
		ctx.Reportf(ik, diag.Error, "move it up one level: "+where+" takes HTTP client settings directly",
			"%s: http_client_config.%s is not converted", where, ik.Value)
	})
	if sig != nil {
		ctx.Reportf(k, diag.Info, "", "%s: aws_sigv4 under http_client_config (the seed article's spelling) is converted as %s", where,
			map[bool]string{true: "remote_write's sigv4", false: "discovery.aws.ec2's credentials"}[where == "remote_write"])
	}
	if !ctx.Src.Strip(k, hc) {
		ctx.Report(k, diag.Critical, "cannot leave out http_client_config written in flow style", "write it in block style (one key per line)")
	}
	return sig
}

func unsupportedTop(ctx *common.Context, root *yaml.Node) {
	if k, v := common.Key(root, "integrations"); k != nil && !common.IsNull(v) {
		common.Pairs(v, func(ik, iv *yaml.Node) {
			switch ik.Value {
			case "metrics", "prometheus_remote_write", "scrape_integrations", "replace_instance_label", "use_hostname_label", "instance", "http_client_config":
				return
			}
			if en, ev := common.Key(iv, "enabled"); en != nil && ev.Value == "false" {
				ctx.Reportf(ik, diag.Info, "", "integrations.%s is disabled; nothing to convert", ik.Value)
				return
			}
			hint := "run the exporter itself and scrape it with a scrape_config"
			if ik.Value == "agent" {
				hint = "scrape flow's own /metrics (--server.http.listen-addr) with a scrape_config"
			}
			ctx.Reportf(ik, diag.Error, hint, "integrations.%s is not converted: flow embeds no exporters", ik.Value)
		})
	}
	if k, v := common.Key(root, "traces"); k != nil && !common.IsNull(v) {
		ctx.Report(k, diag.Error, "traces is not converted: flow has no trace pipeline", "")
	}
	if k, v := common.Key(root, "agent_management"); k != nil && !common.IsNull(v) {
		ctx.Report(k, diag.Error, "agent_management is not converted: flow loads its config from files", "")
	}
}

func metrics(ctx *common.Context, m *Metrics, node *yaml.Node, v variants) {
	for _, key := range []string{"wal_directory", "wal_cleanup_age", "wal_cleanup_period"} {
		if k, val := common.Key(node, key); k != nil && !common.IsNull(val) {
			ctx.Reportf(k, diag.Warning, "pass flow run --storage.path=DIR: each prometheus.remote_write keeps its WAL in a directory under it",
				"metrics.%s is not converted", key)
		}
	}
	for _, key := range []string{"scraping_service", "scraping_service_client", "instance_restart_backoff", "instance_mode", "disable_keepalives", "idle_conn_timeout"} {
		if k, val := common.Key(node, key); k != nil && !common.IsNull(val) {
			ctx.Reportf(k, diag.Error, "flow shares scrape work with --cluster.enabled instead", "metrics.%s is not converted", key)
		}
	}
	globalNode := common.Value(node, "global")
	global := m.Global
	pg, err := global.prometheus()
	if err != nil {
		ctx.Report(common.Value(globalNode, "body_size_limit"), diag.Error, "metrics.global: "+err.Error(), "")
	}
	common.Pairs(globalNode, func(k, _ *yaml.Node) {
		switch k.Value {
		case "scrape_interval", "scrape_timeout", "external_labels", "remote_write", "sample_limit", "target_limit",
			"label_limit", "label_name_length_limit", "label_value_length_limit", "body_size_limit", "scrape_protocols":
		case "evaluation_interval":
			ctx.Report(k, diag.Warning, "metrics.global.evaluation_interval is not converted: flow evaluates no rules", "")
		default:
			ctx.Reportf(k, diag.Error, "", "metrics.global.%s is not converted", k.Value)
		}
	})
	namedConfigs(ctx, node, "metrics", m.Configs, func(inst *Instance) *string { return &inst.Name }, func(inst *Instance, instNode *yaml.Node) {
		instance(ctx, inst, instNode, global, pg, globalNode, v)
	})
}

// namedConfigs calls each for every entry of section.configs (section is
// "metrics" or "logs"), with its node, after checking it: an empty entry is
// reported and skipped, one without a name is reported and named config_N
// (N counting from 1), and a name given twice is reported.
func namedConfigs[T any](ctx *common.Context, node *yaml.Node, section string, configs []*T, name func(*T) *string, each func(inst *T, instNode *yaml.Node)) {
	names := map[string]bool{}
	for i, inst := range configs {
		instNode := common.Item(common.Value(node, "configs"), i)
		if inst == nil {
			ctx.Report(instNode, diag.Error, "an empty entry in "+section+".configs", "remove it")
			continue
		}
		n := name(inst)
		if *n == "" {
			ctx.Report(instNode, diag.Error, "a "+section+" config has no name", "give each "+section+".configs entry a name: it labels the converted components")
			*n = fmt.Sprintf("config_%d", i+1)
		}
		if names[*n] {
			ctx.Reportf(common.Value(instNode, "name"), diag.Error, "", "two %s configs are named %q", section, *n)
		}
		names[*n] = true
		each(inst, instNode)
	}
}

func instance(ctx *common.Context, inst *Instance, node *yaml.Node, global *Global, pg promconfig.GlobalConfig, globalNode *yaml.Node, v variants) {
	prefix := "metrics_" + inst.Name
	rwLabel := ctx.Label("prometheus.remote_write", prefix)
	forward := "prometheus.remote_write." + rwLabel + ".receiver"
	if inst.HostFilter {
		ctx.Report(common.Value(node, "host_filter"), diag.Error, "metrics host_filter is not converted",
			"drop targets of other hosts with a relabel rule keeping __address__ of this host")
	}
	if k, val := common.Key(node, "host_filter_relabel_configs"); k != nil && !common.IsNull(val) {
		ctx.Report(k, diag.Error, "host_filter_relabel_configs is not converted", "")
	}
	for _, key := range []string{"remote_flush_deadline", "write_stale_on_shutdown"} {
		if k, _ := common.Key(node, key); k != nil {
			ctx.Reportf(k, diag.Warning, "", "%s is not converted: flow's remote write flushes on shutdown on its own terms", key)
		}
	}
	scNodes := common.Value(node, "scrape_configs")
	for i, sc := range inst.ScrapeConfigs {
		scNode := common.Item(scNodes, i)
		if sc == nil {
			ctx.Report(scNode, diag.Error, "an empty entry in scrape_configs", "remove it")
			continue
		}
		dropInvalidRules(ctx, sc, scNode)
		if err := sc.Validate(pg); err != nil {
			ctx.Reportf(common.Value(scNode, "job_name"), diag.Error, "", "scrape config %q: %v", sc.JobName, err)
			continue
		}
		ec2Nodes := common.Items(common.Value(scNode, "ec2_sd_configs"))
		prometheus.Scrape(ctx, sc, scNode, prometheus.ScrapeOptions{
			Prefix: prefix, ForwardTo: forward,
			EC2Auth: func(j int) (common.AWSAuth, bool) {
				if j < len(ec2Nodes) {
					a, ok := v.ec2Auth[ec2Nodes[j]]
					return a, ok
				}
				return common.AWSAuth{}, false
			},
		})
	}
	rw := ctx.Tail.Block("prometheus.remote_write", rwLabel)
	if el := prometheus.ExternalLabels(ctx, common.Value(globalNode, "external_labels")); el != nil {
		rw.Attr("external_labels", el)
	}
	rws, rwNodes := inst.RemoteWrite, common.Value(node, "remote_write")
	if len(rws) == 0 {
		rws, rwNodes = global.RemoteWrite, common.Value(globalNode, "remote_write")
	}
	for i, r := range rws {
		rn := common.Item(rwNodes, i)
		if r == nil {
			ctx.Report(rn, diag.Error, "an empty entry in remote_write", "remove it")
			continue
		}
		prometheus.Endpoint(ctx, &rw.Body, r, rn, prometheus.EndpointExtras{SigV4: v.rwSigV4[rn], Comments: v.rwNotes[rn]})
	}
	if inst.WALTruncateFrequency != 0 || inst.MinWALTime != 0 || inst.MaxWALTime != 0 {
		wal := rw.Block("wal", "")
		if inst.WALTruncateFrequency != 0 {
			wal.Attr("truncate_frequency", river.Duration(time.Duration(inst.WALTruncateFrequency)))
		}
		if inst.MinWALTime != 0 {
			wal.Attr("min_keepalive_time", river.Duration(time.Duration(inst.MinWALTime)))
		}
		if inst.MaxWALTime != 0 {
			wal.Attr("max_keepalive_time", river.Duration(time.Duration(inst.MaxWALTime)))
		}
	}
	if len(rws) == 0 && len(inst.ScrapeConfigs) > 0 {
		ctx.Reportf(common.Value(node, "name"), diag.Warning, "add remote_write to the config or to metrics.global",
			"metrics config %q has no remote_write: its samples go nowhere", inst.Name)
	}
}

// dropInvalidRules reports every relabel rule Prometheus would refuse at
// its line and leaves it out, so the rest of the job converts (with
// --bypass-errors) instead of the whole job being lost. (Grafana Agent
// refused such a file outright.)
func dropInvalidRules(ctx *common.Context, sc *promconfig.ScrapeConfig, node *yaml.Node) {
	filter := func(key string, rules []*relabel.Config) []*relabel.Config {
		var out []*relabel.Config
		items := common.Value(node, key)
		for i, r := range rules {
			if r == nil {
				ctx.Reportf(common.Item(items, i), diag.Error, "remove it", "scrape config %q: %s rule %d is empty", sc.JobName, key, i+1)
				continue
			}
			if err := r.Validate(model.UTF8Validation); err != nil {
				hint := "fix the rule"
				if r.Action == relabel.Replace && r.TargetLabel == "" {
					hint = "to keep only the series that match, add action: keep; to copy a value, add target_label"
				}
				ctx.Reportf(common.Item(items, i), diag.Error, hint, "scrape config %q: %s rule %d is invalid and left out: %v", sc.JobName, key, i+1, err)
				continue
			}
			out = append(out, r)
		}
		return out
	}
	sc.RelabelConfigs = filter("relabel_configs", sc.RelabelConfigs)
	sc.MetricRelabelConfigs = filter("metric_relabel_configs", sc.MetricRelabelConfigs)
}

func logs(ctx *common.Context, l *Logs, node *yaml.Node, v variants) {
	var globalClients []*promtail.Client
	var globalClientNodes []*yaml.Node
	var fileWatch *promtail.FileWatch
	if l.Global != nil {
		globalClients = l.Global.Clients
		globalClientNodes = common.Items(common.Value(common.Value(node, "global"), "clients"))
		fileWatch = l.Global.FileWatchConfig
	}
	namedConfigs(ctx, node, "logs", l.Configs, func(inst *LogsInstance) *string { return &inst.Name }, func(inst *LogsInstance, instNode *yaml.Node) {
		clients, clientNodes := inst.Clients, common.Items(common.Value(instNode, "clients"))
		if len(clients) == 0 {
			clients, clientNodes = globalClients, globalClientNodes
		}
		var sigs []*common.SigV4
		for _, cn := range clientNodes {
			sigs = append(sigs, v.logsSigs[cn])
		}
		positions := inst.Positions
		if (positions == nil || positions.Filename == "") && l.PositionsDirectory != "" {
			if positions == nil {
				positions = &promtail.Positions{}
			}
			positions.Filename = filepath.Join(l.PositionsDirectory, inst.Name+".yml")
		}
		promtail.Build(ctx, promtail.Input{
			Prefix: "logs_" + inst.Name, WriteLabel: "logs_" + inst.Name,
			Clients: clients, ClientNodes: clientNodes, ClientSigV4: sigs,
			Positions: positions, PositionsNode: common.Value(instNode, "positions"),
			Scrape: inst.ScrapeConfigs, ScrapeNodes: common.Value(instNode, "scrape_configs"),
			TargetConfig: inst.TargetConfig, TargetNode: common.Value(instNode, "target_config"),
			Limits: inst.LimitsConfig, LimitsNode: common.Value(instNode, "limits_config"),
			FileWatch: fileWatch,
		})
	})
}
