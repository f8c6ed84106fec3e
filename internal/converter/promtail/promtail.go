// Package promtail converts a Promtail configuration to River, and provides
// the logs translation the Grafana Agent static-mode converter reuses:
//
//	clients[]                       endpoint blocks of loki.write "default"
//	  aws_sigv4 (the seed article)  aws_sigv4 (named credentials: a shared aws.credentials)
//	scrape_configs[] with __path__  local.file_match "<job>" + loki.source.file "<job>"
//	  relabel_configs               discovery.relabel "<job>" before local.file_match
//	positions.filename              loki.source.file's legacy_positions_file (imported once)
//	target_config.sync_period       local.file_match's sync_period
//	limits_config.max_line_size     loki.source.file's max_line_size
//	global.file_watch_config        loki.source.file's file_watch block
//	server.log_level, log_format    logging block
//
// Pipeline stages, other target kinds (journal, syslog, push API, Kubernetes
// discovery…), rate limits and Promtail's own server are reported, never
// dropped silently.
package promtail

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/flow-telemetry/flow/internal/converter/common"
	"github.com/flow-telemetry/flow/internal/converter/diag"
	"github.com/flow-telemetry/flow/internal/converter/river"
)

func init() {
	common.RegisterFields(Config{}, sigV4YAML{})
}

// Convert converts a Promtail config file.
func Convert(file string, src []byte) ([]byte, diag.Diagnostics) {
	return common.Convert(file, src, convert)
}

func convert(ctx *common.Context) []byte {
	root := ctx.Src.Root
	clientsNode := common.Value(root, "clients")
	var sigs []*common.SigV4
	for _, cn := range common.Items(clientsNode) {
		sigs = append(sigs, StripSigV4(ctx, cn))
	}
	if cn := common.Value(root, "client"); cn != nil {
		sigs = append(sigs, StripSigV4(ctx, cn))
	}
	var cfg Config
	if d := ctx.Src.DecodeStrict(&cfg, "not a Promtail config"); d.Has(diag.Critical) {
		ctx.Diags = append(ctx.Diags, d...)
		return nil
	}
	clients, clientNodes := cfg.Clients, common.Items(clientsNode)
	if cfg.Client != nil {
		clients = append(clients, cfg.Client)
		clientNodes = append(clientNodes, common.Value(root, "client"))
		ctx.Report(keyOf(root, "client"), diag.Info, "client (singular) is Promtail's deprecated spelling of clients; converted the same way", "")
	}
	Server(ctx, cfg.Server, common.Value(root, "server"))
	reportNode(ctx, root, "options", diag.Warning, "options (stream_lag_labels) is not converted: Promtail deprecated it", "")
	reportNode(ctx, root, "tracing", diag.Warning, "tracing is not converted: flow exports no traces of its own", "")
	reportNode(ctx, root, "wal", diag.Error, "Promtail's wal is not converted", "loki.write keeps its own write-ahead log (on by default)")
	Build(ctx, Input{
		Clients: clients, ClientNodes: clientNodes, ClientSigV4: sigs,
		Positions: cfg.Positions, PositionsNode: common.Value(root, "positions"),
		Scrape: cfg.ScrapeConfigs, ScrapeNodes: common.Value(root, "scrape_configs"),
		TargetConfig: cfg.TargetConfig, TargetNode: common.Value(root, "target_config"),
		Limits: cfg.LimitsConfig, LimitsNode: common.Value(root, "limits_config"),
		FileWatch: fileWatchOf(cfg.Global), WriteLabel: "default",
	})
	out, err := ctx.Bytes()
	if err != nil {
		ctx.Report(nil, diag.Critical, err.Error(), "")
		return nil
	}
	return out
}

func fileWatchOf(g *Global) *FileWatch {
	if g == nil {
		return nil
	}
	return g.FileWatchConfig
}

func keyOf(m *yaml.Node, key string) *yaml.Node {
	k, _ := common.Key(m, key)
	return k
}

func reportNode(ctx *common.Context, m *yaml.Node, key string, sev diag.Severity, summary, hint string) {
	if k, v := common.Key(m, key); k != nil && !common.IsNull(v) {
		ctx.Report(k, sev, summary, hint)
	}
}

// Input is one logs pipeline: Promtail's whole file, or one of Grafana
// Agent's logs.configs.
type Input struct {
	// Prefix starts every label ("" for Promtail, "logs_<name>" for static mode).
	Prefix string
	// WriteLabel is the loki.write component's label.
	WriteLabel  string
	Clients     []*Client
	ClientNodes []*yaml.Node
	// ClientSigV4 are the aws_sigv4 blocks stripped from each client (nil
	// where none), in the same order.
	ClientSigV4   []*common.SigV4
	Positions     *Positions
	PositionsNode *yaml.Node
	Scrape        []*ScrapeConfig
	ScrapeNodes   *yaml.Node
	TargetConfig  *TargetConfig
	TargetNode    *yaml.Node
	Limits        *LimitsConfig
	LimitsNode    *yaml.Node
	FileWatch     *FileWatch
}

// Build converts one logs pipeline into ctx.
func Build(ctx *common.Context, in Input) {
	label := func(s string) string {
		if in.Prefix != "" {
			return in.Prefix + "_" + s
		}
		return s
	}
	forward := ""
	if len(in.Clients) == 0 {
		if len(in.Scrape) > 0 {
			ctx.Report(nil, diag.Warning, "the config has no clients: the lines read go nowhere", "add a client (a Loki push URL)")
		}
	} else {
		forward = writeComponent(ctx, in, river.Label(in.WriteLabel))
	}
	maxLine, limitsOK := limits(ctx, in.Limits, in.LimitsNode)
	_ = limitsOK
	syncPeriod := 10 * time.Second
	if tc := in.TargetConfig; tc != nil {
		if tc.SyncPeriod != 0 {
			syncPeriod = time.Duration(tc.SyncPeriod)
		}
		if tc.Stdin {
			ctx.Report(keyOf(in.TargetNode, "stdin"), diag.Error, "target_config.stdin is not converted: flow reads no logs from its standard input", "write the lines to a file and tail it")
		}
	}
	legacy := ""
	if p := in.Positions; p != nil {
		legacy = p.Filename
		if p.SyncPeriod != 0 && time.Duration(p.SyncPeriod) != 10*time.Second {
			ctx.Report(keyOf(in.PositionsNode, "sync_period"), diag.Info, "positions.sync_period is not needed: loki.source.file writes its positions after every batch Loki's client accepted", "")
		}
		if legacy != "" {
			ctx.Reportf(keyOf(in.PositionsNode, "filename"), diag.Info, "",
				"positions.filename becomes legacy_positions_file: its offsets are imported into loki.source.file's own positions file at the first start, so files are not read again")
		}
	}
	scrapeNodes := common.Items(in.ScrapeNodes)
	for i, sc := range in.Scrape {
		node := common.Item(in.ScrapeNodes, i)
		if sc == nil {
			ctx.Report(node, diag.Error, "an empty entry in scrape_configs", "remove it")
			continue
		}
		_ = scrapeNodes
		scrape(ctx, sc, node, label(sc.JobName), forward, fileOptions{
			legacyPositions: legacy, syncPeriod: syncPeriod, maxLine: maxLine, fileWatch: in.FileWatch,
		})
	}
}

type fileOptions struct {
	legacyPositions string
	syncPeriod      time.Duration
	maxLine         string
	fileWatch       *FileWatch
}

// otherTargets are Promtail's target kinds flow has no source for, with
// the Alloy component that would take them.
var otherTargets = map[string]string{
	"journal": "loki.source.journal", "syslog": "loki.source.syslog", "loki_push_api": "loki.source.api",
	"windows_events": "loki.source.windowsevent", "gcplog": "loki.source.gcplog", "kafka": "loki.source.kafka",
	"gelf": "loki.source.gelf", "cloudflare": "loki.source.cloudflare", "heroku_drain": "loki.source.heroku",
	"azure_event_hubs": "loki.source.azure_event_hubs", "docker_sd_configs": "loki.source.docker",
}

func scrape(ctx *common.Context, sc *ScrapeConfig, node *yaml.Node, name, forward string, o fileOptions) {
	if sc.JobName == "" {
		ctx.Report(node, diag.Error, "a scrape config has no job_name", "give it one: it names the converted components")
		sc.JobName = "job"
	}
	base := river.Label(name)
	keys := slices.Sorted(maps.Keys(sc.Other))
	for _, k := range keys {
		kn := keyOf(node, k)
		switch comp, known := otherTargets[k]; {
		case known:
			ctx.Reportf(kn, diag.Error, "", "scrape config %q: %s is not converted: flow has no %s component", sc.JobName, k, comp)
		case strings.HasSuffix(k, "_sd_configs"):
			ctx.Reportf(kn, diag.Error, "list the files in static_configs with __path__ labels",
				"scrape config %q: %s is not converted: flow discovers log files with local.file_match only", sc.JobName, k)
		default:
			hint := "check the spelling and the indentation"
			if s := common.SuggestField(k); s != "" {
				hint = fmt.Sprintf("did you mean %q?", s)
			}
			ctx.Reportf(kn, diag.Error, hint, "scrape config %q: unknown field %q", sc.JobName, k)
		}
	}
	if ps := sc.PipelineStages; len(ps.Content) > 0 {
		ctx.Reportf(keyOf(node, "pipeline_stages"), diag.Error, "parse and relabel lines where they land (Loki's or Grafana's query-time parsers), or keep Promtail for this job",
			"scrape config %q: pipeline_stages are not converted: flow has no loki.process", sc.JobName)
	}

	var targets []river.Expr
	paths := 0
	for _, g := range sc.StaticConfigs {
		if g == nil {
			continue
		}
		for _, t := range g.Targets {
			m := map[string]string{}
			for k, v := range g.Labels {
				m[string(k)] = string(v)
			}
			for k, v := range t {
				m[string(k)] = string(v)
			}
			if m["__path__"] != "" {
				paths++
			}
			targets = append(targets, targetObject(m))
		}
	}
	if len(targets) == 0 {
		if len(keys) == 0 {
			ctx.Reportf(keyOf(node, "job_name"), diag.Warning, "add static_configs with a __path__ label",
				"scrape config %q has no static_configs: nothing to tail", sc.JobName)
		}
		return // what it has instead was reported above
	}
	if paths == 0 && len(sc.RelabelConfigs) == 0 {
		ctx.Reportf(keyOf(node, "job_name"), diag.Warning, "add a __path__ label to a static_configs target",
			"scrape config %q has no target with a __path__ label: nothing to tail", sc.JobName)
	}
	pathTargets := ctx.DiscoveryRelabel(base, river.List(targets...), sc.RelabelConfigs)
	fm := ctx.Body.Block("local.file_match", ctx.Label("local.file_match", base))
	fm.Attr("path_targets", pathTargets)
	if o.syncPeriod != 10*time.Second {
		fm.Attr("sync_period", river.Duration(o.syncPeriod))
	}
	src := ctx.Body.Block("loki.source.file", ctx.Label("loki.source.file", base))
	src.Attr("targets", river.Raw("local.file_match."+fm.Label+".targets"))
	if forward != "" {
		src.Attr("forward_to", river.List(river.Raw(forward)))
	} else {
		src.Attr("forward_to", river.List())
	}
	src.OptString("encoding", sc.Encoding)
	src.OptString("max_line_size", o.maxLine)
	if o.legacyPositions != "" {
		src.Comment("Promtail's positions, imported once so files are not read again.")
		src.Attr("legacy_positions_file", river.String(o.legacyPositions))
	}
	if fw := o.fileWatch; fw != nil && (fw.MinPollFrequency != 0 || fw.MaxPollFrequency != 0) {
		wb := src.Block("file_watch", "")
		if fw.MinPollFrequency != 0 {
			wb.Attr("min_poll_frequency", river.Duration(time.Duration(fw.MinPollFrequency)))
		}
		if fw.MaxPollFrequency != 0 {
			wb.Attr("max_poll_frequency", river.Duration(time.Duration(fw.MaxPollFrequency)))
		}
	}
	if d := sc.Decompression; d != nil && d.Enabled {
		db := src.Block("decompression", "")
		db.Attr("enabled", river.Bool(true))
		if d.InitialDelay != 0 {
			db.Attr("initial_delay", river.Duration(time.Duration(d.InitialDelay)))
		}
		db.Attr("format", river.String(d.Format))
	}
}

// targetObject is a file target, __address__ and the path labels first:
// what a reader looks for.
func targetObject(m map[string]string) river.Expr {
	return river.StringMap(m, "__address__", "__path__", "__path_exclude__")
}

// limits converts limits_config: max_line_size goes to loki.source.file;
// rate limits have no equivalent.
func limits(ctx *common.Context, l *LimitsConfig, node *yaml.Node) (string, bool) {
	if l == nil {
		return "", true
	}
	ok := true
	if l.ReadlineRateEnabled || l.ReadlineRate != 0 || l.ReadlineBurst != 0 {
		k := keyOf(node, "readline_rate_enabled")
		if k == nil {
			k = keyOf(node, "readline_rate")
		}
		ctx.Report(k, diag.Error, "limits_config.readline_rate is not converted: flow does not rate-limit reading", "let loki.write's back pressure and Loki's own limits bound the rate")
		ok = false
	}
	if l.MaxStreams != 0 {
		ctx.Report(keyOf(node, "max_streams"), diag.Warning, "limits_config.max_streams is not converted as such", "loki.write's max_streams caps the streams per batch instead; flow never drops entries for it")
	}
	if l.MaxLineSize == "" || l.MaxLineSize == "0" {
		return "", ok
	}
	if !l.MaxLineSizeTruncate {
		ctx.Report(keyOf(node, "max_line_size"), diag.Warning, "limits_config.max_line_size: Promtail drops longer lines unless max_line_size_truncate; flow's loki.source.file cuts them to the limit instead", "")
	}
	return l.MaxLineSize, ok
}

// Server converts Promtail's (or Grafana Agent's) server section: the log
// settings become a logging block; listening settings have a flow run flag
// instead; the rest has no equivalent.
func Server(ctx *common.Context, s map[string]yaml.Node, node *yaml.Node) {
	if len(s) == 0 {
		return
	}
	var logAttrs []struct{ k, v string }
	common.Pairs(node, func(k, v *yaml.Node) {
		switch k.Value {
		case "log_level":
			logAttrs = append(logAttrs, struct{ k, v string }{"level", v.Value})
		case "log_format":
			logAttrs = append(logAttrs, struct{ k, v string }{"format", v.Value})
		case "http_listen_port", "http_listen_address":
			ctx.Reportf(k, diag.Warning, "pass flow run --server.http.listen-addr=ADDRESS:PORT (default 127.0.0.1:12345)",
				"server.%s is not converted: flow's HTTP server is set on the command line", k.Value)
		case "grpc_listen_port", "grpc_listen_address", "grpc_server_max_recv_msg_size", "grpc_server_max_send_msg_size", "grpc_server_max_concurrent_streams":
			ctx.Reportf(k, diag.Warning, "remove it", "server.%s is not converted: flow has no gRPC server", k.Value)
		case "grpc_tls_config":
			ctx.Report(k, diag.Error, "server.grpc_tls_config is not converted: flow has no gRPC server", "")
		case "http_tls_config":
			ctx.Report(k, diag.Error, "server.http_tls_config is not converted: flow's HTTP server serves plain HTTP", "put a TLS-terminating proxy in front, with --server.http.allowed-hosts naming it")
		case "register_instrumentation", "graceful_shutdown_timeout", "http_server_read_timeout", "http_server_write_timeout", "http_server_idle_timeout", "profiling_enabled", "enable_runtime_reload", "log_source_ips_enabled", "disable", "health_check_target", "http_path_prefix":
			ctx.Reportf(k, diag.Warning, "", "server.%s is not converted: flow's HTTP server has fixed settings (see flow run -h)", k.Value)
		default:
			hint := "check the spelling"
			if sg := common.SuggestField(k.Value); sg != "" {
				hint = fmt.Sprintf("did you mean %q?", sg)
			}
			ctx.Reportf(k, diag.Error, hint, "server: unknown field %q", k.Value)
		}
	})
	if len(logAttrs) > 0 {
		lb := ctx.Tail.Block("logging", "")
		for _, a := range logAttrs {
			v := a.v
			if a.k == "level" && v == "warning" {
				v = "warn"
			}
			lb.Attr(a.k, river.String(v))
		}
	}
}

// writeComponent writes loki.write with one endpoint per client and returns
// its receiver expression. Clients with different external_labels get
// their own loki.write each, since external labels are per component.
func writeComponent(ctx *common.Context, in Input, label string) string {
	groups := [][]int{}
	for i, c := range in.Clients {
		if c == nil {
			ctx.Report(common.ItemOf(in.ClientNodes, i), diag.Error, "an empty entry in clients", "remove it")
			continue
		}
		placed := false
		for g, idx := range groups {
			if equalLabels(in.Clients[idx[0]].ExternalLabels, c.ExternalLabels) {
				groups[g] = append(groups[g], i)
				placed = true
				break
			}
		}
		if !placed {
			groups = append(groups, []int{i})
		}
	}
	var receivers []string
	for gi, idx := range groups {
		l := label
		if gi > 0 {
			l = fmt.Sprintf("%s_%d", label, gi+1)
		}
		l = ctx.Label("loki.write", l)
		w := ctx.Tail.Block("loki.write", l)
		if el := in.Clients[idx[0]].ExternalLabels; len(el) > 0 {
			w.Attr("external_labels", river.StringMap(el))
		}
		for _, i := range idx {
			c := in.Clients[i]
			c.applyDefaults(common.ItemOf(in.ClientNodes, i))
			var sig *common.SigV4
			if i < len(in.ClientSigV4) {
				sig = in.ClientSigV4[i]
			}
			endpoint(ctx, &w.Body, c, common.ItemOf(in.ClientNodes, i), sig)
		}
		receivers = append(receivers, "loki.write."+l+".receiver")
	}
	return strings.Join(receivers, ", ")
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func endpoint(ctx *common.Context, b *river.Body, c *Client, node *yaml.Node, sig *common.SigV4) {
	e := b.Block("endpoint", "")
	if c.URL == nil || c.URL.URL == nil {
		ctx.Report(node, diag.Error, "a client has no url", "set url to Loki's push URL, such as http://loki:3100/loki/api/v1/push")
		e.Attr("url", river.String(""))
	} else {
		e.Attr("url", river.String(c.URL.String()))
	}
	e.OptString("tenant_id", c.TenantID)
	if len(c.Headers) > 0 {
		e.Attr("headers", river.StringMap(c.Headers))
	}
	if d := time.Duration(c.BatchWait); d != time.Second {
		e.Attr("batch_wait", river.Duration(d))
	}
	if c.BatchSize != 1<<20 {
		e.Attr("batch_size", river.String(byteSize(c.BatchSize)))
	}
	if d := time.Duration(c.Timeout); d != 10*time.Second {
		e.Attr("remote_timeout", river.Duration(d))
	}
	if bo := c.BackoffConfig; bo != nil {
		if bo.MinPeriod != 0 && time.Duration(bo.MinPeriod) != 500*time.Millisecond {
			e.Attr("min_backoff_period", river.Duration(time.Duration(bo.MinPeriod)))
		}
		if bo.MaxPeriod != 0 && time.Duration(bo.MaxPeriod) != 5*time.Minute {
			e.Attr("max_backoff_period", river.Duration(time.Duration(bo.MaxPeriod)))
		}
		if bo.MaxRetries != 0 && bo.MaxRetries != 10 {
			e.Attr("max_backoff_retries", river.Int(bo.MaxRetries))
		}
	}
	if c.DropRateLimitedBatches {
		e.Attr("retry_on_http_429", river.Bool(false))
	}
	if c.StreamLagLabels.Kind != 0 {
		ctx.Report(keyOf(node, "stream_lag_labels"), diag.Warning, "stream_lag_labels is not converted: Promtail deprecated it", "")
	}
	ctx.HTTPClient(&e.Body, c.HTTPClientConfig, node, true, true)
	if sig != nil {
		ctx.SigV4Block(&e.Body, *sig, "")
	}
}

// byteSize renders n bytes as River's size strings do ("1MiB", "512KiB").
func byteSize(n int) string {
	switch {
	case n > 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n > 0 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprint(n)
}

// sigV4YAML is the seed article's aws_sigv4 block in a Promtail client or an
// ec2_sd_configs' http_client_config (Promtail itself has none).
type sigV4YAML struct {
	Region             string `yaml:"region"`
	ServiceName        string `yaml:"service_name"`
	RoleARN            string `yaml:"role_arn"`
	ExternalID         string `yaml:"external_id"`
	Profile            string `yaml:"profile"`
	AccessKey          string `yaml:"access_key"`
	SecretKey          string `yaml:"secret_key"`
	AccessKeyID        string `yaml:"access_key_id"`
	SecretAccessKey    string `yaml:"secret_access_key"`
	UseFIPSSTSEndpoint bool   `yaml:"use_fips_sts_endpoint"`
}

// StripSigV4 removes an aws_sigv4 block from mapping m (a Promtail client,
// a remote_write's or an ec2_sd_configs' http_client_config) and returns
// it, or nil. Unknown keys in it are errors at their line.
func StripSigV4(ctx *common.Context, m *yaml.Node) *common.SigV4 {
	k, v := common.Key(m, "aws_sigv4")
	if k == nil {
		return nil
	}
	s := ParseSigV4(ctx, v)
	if !ctx.Src.Strip(k, v) {
		ctx.Report(k, diag.Critical, "cannot leave out aws_sigv4 written in flow style", "write it in block style (one key per line)")
	}
	return s
}

// ParseSigV4 reads an aws_sigv4 mapping, reporting unknown keys.
func ParseSigV4(ctx *common.Context, v *yaml.Node) *common.SigV4 {
	var y sigV4YAML
	common.Pairs(v, func(k, val *yaml.Node) {
		switch k.Value {
		case "region":
			y.Region = val.Value
		case "service_name":
			y.ServiceName = val.Value
		case "role_arn":
			y.RoleARN = val.Value
		case "external_id":
			y.ExternalID = val.Value
		case "profile":
			y.Profile = val.Value
		case "access_key", "access_key_id":
			y.AccessKey = val.Value
		case "secret_key", "secret_access_key":
			y.SecretKey = val.Value
		case "use_fips_sts_endpoint":
			y.UseFIPSSTSEndpoint = val.Value == "true"
		default:
			hint := "aws_sigv4 takes region, service_name, role_arn, external_id, profile, access_key and secret_key"
			ctx.Reportf(k, diag.Error, hint, "aws_sigv4: unknown field %q", k.Value)
		}
	})
	if common.IsNull(v) || (v.Kind == yaml.ScalarNode && v.Value == "") {
		v = nil
	}
	return &common.SigV4{
		AWSAuth:     common.AWSAuth{Region: y.Region, RoleARN: y.RoleARN, ExternalID: y.ExternalID, Profile: y.Profile, AccessKey: y.AccessKey, SecretKey: y.SecretKey},
		ServiceName: y.ServiceName, UseFIPS: y.UseFIPSSTSEndpoint, Node: v,
	}
}

var _ = model.Duration(0)
