// Package scrape is the prometheus.scrape component: it scrapes `targets`
// and appends the samples to the receivers in `forward_to`.
//
// It scrapes with flow's own scrape loop
// (components/prometheus/internal/scrapeloop): the component's targets are
// one job, whose loops parse every format Prometheus does (text,
// OpenMetrics, protobuf with native histograms) with Prometheus'
// model/textparse and append the same series, values, staleness markers,
// up and scrape_* series, exemplars and metadata as Prometheus' scrape
// manager does (a differential test, scrapeloop's
// TestSameAppendsAsPrometheus, scrapes one target with both and compares
// every append), with limits, scrape offsets and target sync (unchanged
// targets keep their loops when the list changes) as in Prometheus. Its
// cache keeps, per series, a 128-bit hash of the series' text instead of a
// copy of it, and tracks staleness without per-scrape maps.
//
// Three rarely used settings only Prometheus' scrape manager implements:
// honor_metadata (metadata passed in the append context),
// start_timestamp_zero_ingestion and scrape_failure_log_file. A component
// with any of them set scrapes with Prometheus' scrape.Manager instead, as
// before (see managerOptions.ownLoop); changing them switches between the
// two, restarting the loops.
//
// Clustering: with `clustering { enabled = true }` and `flow run
// --cluster.enabled`, the component scrapes only the targets this agent owns
// (component.Cluster: rendezvous hashing of each target's labels over the
// live peers) and re-evaluates ownership on every membership change. A
// target it gives up is removed from the pool like a target that vanished
// from discovery, so its loop writes staleness markers as Prometheus does.
// Without the block, or with clustering off in the process, it scrapes
// every target.
//
// Health: the component is unhealthy while it has targets and every one of
// them failed its last scrape (Alloy stays green in that case, a common
// complaint); a single failing target shows in the debug info and its `up`
// series but leaves the component healthy.
package scrape

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	promlogging "github.com/prometheus/prometheus/util/logging"

	"github.com/flow-telemetry/flow/components/common/bytesize"
	"github.com/flow-telemetry/flow/components/common/httpclient"
	"github.com/flow-telemetry/flow/components/prometheus/internal/appendable"
	"github.com/flow-telemetry/flow/components/prometheus/internal/scrapeloop"
	"github.com/flow-telemetry/flow/runtime/component"
)

func init() {
	component.Register(component.Registration{
		Name: "prometheus.scrape",
		Args: Arguments{},
		// Keeps nothing on disk.
		NoDataPath: true,
		Build: func(opts component.Options, args component.Arguments) (component.Component, error) {
			return New(opts, args.(Arguments))
		},
	})
}

// Arguments are prometheus.scrape's arguments. Defaults are Prometheus'.
type Arguments struct {
	Targets   []map[string]string  `river:"targets,attr"`
	ForwardTo []storage.Appendable `river:"forward_to,attr"`

	// JobName defaults to the component's ID.
	JobName                  string              `river:"job_name,attr,optional"`
	ScrapeInterval           time.Duration       `river:"scrape_interval,attr,optional"`
	ScrapeTimeout            time.Duration       `river:"scrape_timeout,attr,optional"`
	MetricsPath              string              `river:"metrics_path,attr,optional"`
	Scheme                   string              `river:"scheme,attr,optional"`
	Params                   map[string][]string `river:"params,attr,optional"`
	HonorLabels              bool                `river:"honor_labels,attr,optional"`
	HonorTimestamps          bool                `river:"honor_timestamps,attr,optional"`
	TrackTimestampsStaleness bool                `river:"track_timestamps_staleness,attr,optional"`
	EnableCompression        bool                `river:"enable_compression,attr,optional"`

	SampleLimit           uint `river:"sample_limit,attr,optional"`
	TargetLimit           uint `river:"target_limit,attr,optional"`
	LabelLimit            uint `river:"label_limit,attr,optional"`
	LabelNameLengthLimit  uint `river:"label_name_length_limit,attr,optional"`
	LabelValueLengthLimit uint `river:"label_value_length_limit,attr,optional"`
	// BodySizeLimit is a size such as "10MiB" (Alloy's units.Base2Bytes:
	// "10MB" is the same); 0 means no limit.
	BodySizeLimit bytesize.Size `river:"body_size_limit,attr,optional"`

	// ScrapeProtocols are tried in order by content negotiation
	// (PrometheusProto, OpenMetricsText1.0.0, OpenMetricsText0.0.1,
	// PrometheusText1.0.0, PrometheusText0.0.4).
	ScrapeProtocols        []string `river:"scrape_protocols,attr,optional"`
	ScrapeFallbackProtocol string   `river:"scrape_fallback_protocol,attr,optional"`
	// EnableProtobufNegotiation puts PrometheusProto first when
	// scrape_protocols is not set (Alloy's older spelling).
	EnableProtobufNegotiation bool `river:"enable_protobuf_negotiation,attr,optional"`
	ScrapeNativeHistograms    bool `river:"scrape_native_histograms,attr,optional"`
	// ScrapeClassicHistograms also keeps the classic (bucket series) form
	// of a histogram exposed as a native histogram too (Prometheus'
	// always_scrape_classic_histograms).
	ScrapeClassicHistograms bool `river:"scrape_classic_histograms,attr,optional"`
	// ConvertClassicHistogramsToNHCB turns classic histograms into native
	// histograms with custom buckets.
	ConvertClassicHistogramsToNHCB bool `river:"convert_classic_histograms_to_nhcb,attr,optional"`
	// NativeHistogramBucketLimit and NativeHistogramMinBucketFactor reduce
	// a native histogram's resolution until it fits; 0 disables each.
	NativeHistogramBucketLimit     uint    `river:"native_histogram_bucket_limit,attr,optional"`
	NativeHistogramMinBucketFactor float64 `river:"native_histogram_min_bucket_factor,attr,optional"`
	// ExtraMetrics adds scrape_timeout_seconds, scrape_sample_limit and
	// scrape_body_size_bytes per target.
	ExtraMetrics bool `river:"extra_metrics,attr,optional"`

	// MetricNameValidationScheme is "legacy" (Alloy's default) or "utf8";
	// MetricNameEscapingScheme is what the target is asked to escape names
	// with ("underscores" by default under legacy, "allow-utf-8" under utf8,
	// or "dots", "values").
	MetricNameValidationScheme string `river:"metric_name_validation_scheme,attr,optional"`
	MetricNameEscapingScheme   string `river:"metric_name_escaping_scheme,attr,optional"`
	// ScrapeFailureLogFile gets one JSON line per failed scrape, appended.
	ScrapeFailureLogFile string `river:"scrape_failure_log_file,attr,optional"`

	// HonorMetadata passes each metric's type, help and unit to forward_to
	// (prometheus.remote_write keeps them in its WAL and sends them), and
	// into the append context. Without it, metadata is still appended
	// whenever a receiver in forward_to uses it (a prometheus.remote_write
	// whose endpoint sends metadata, directly or through
	// prometheus.relabel): see managerOptions.
	HonorMetadata bool `river:"honor_metadata,attr,optional"`
	// EnableTypeAndUnitLabels adds __type__ and __unit__ labels to every
	// sample whose metadata gives them.
	EnableTypeAndUnitLabels bool `river:"enable_type_and_unit_labels,attr,optional"`
	// StartTimestampZeroIngestion adds a zero sample at a counter's start
	// (created) timestamp when the format carries it.
	StartTimestampZeroIngestion bool `river:"start_timestamp_zero_ingestion,attr,optional"`

	HTTPClient httpclient.Config `river:",squash"`

	// Clustering distributes the targets over the cluster's agents.
	Clustering Clustering `river:"clustering,block,optional"`
}

// Clustering is the `clustering` block, as in Alloy.
type Clustering struct {
	Enabled bool `river:"enabled,attr"`
}

// SetToDefault implements component.Defaulter.
func (a *Arguments) SetToDefault() {
	*a = Arguments{
		ScrapeInterval:    time.Minute,
		ScrapeTimeout:     10 * time.Second,
		MetricsPath:       "/metrics",
		Scheme:            "http",
		HonorTimestamps:   true,
		EnableCompression: true,
		HTTPClient:        httpclient.Default(),
		// Alloy's defaults, which are Prometheus 2's: names are validated
		// as legacy names, and a target with no usable Content-Type is
		// read as the classic text format.
		MetricNameValidationScheme: model.LegacyValidation.String(),
		ScrapeFallbackProtocol:     string(config.PrometheusText0_0_4),
	}
}

// Validate implements component.Validator.
func (a *Arguments) Validate() error {
	_, err := a.scrapeConfig("validate")
	return err
}

// scrapeConfig converts the arguments to a validated Prometheus scrape config.
func (a *Arguments) scrapeConfig(defaultJob string) (*config.ScrapeConfig, error) {
	if a.ScrapeInterval <= 0 {
		return nil, fmt.Errorf("scrape_interval must be greater than 0, got %s", a.ScrapeInterval)
	}
	if a.ScrapeTimeout <= 0 {
		return nil, fmt.Errorf("scrape_timeout must be greater than 0, got %s", a.ScrapeTimeout)
	}
	if a.ScrapeTimeout > a.ScrapeInterval {
		return nil, fmt.Errorf("scrape_timeout (%s) must not be greater than scrape_interval (%s); set scrape_timeout to at most %[2]s (it defaults to 10s) or scrape_interval to at least %[1]s", a.ScrapeTimeout, a.ScrapeInterval)
	}
	if a.Scheme != "http" && a.Scheme != "https" {
		return nil, fmt.Errorf("scheme must be \"http\" or \"https\", got %q", a.Scheme)
	}
	if !strings.HasPrefix(a.MetricsPath, "/") {
		return nil, fmt.Errorf("metrics_path must start with \"/\", got %q", a.MetricsPath)
	}
	hc, err := a.HTTPClient.Convert()
	if err != nil {
		return nil, err
	}
	protocols, native, err := a.protocols()
	if err != nil {
		return nil, err
	}
	validation, escaping, err := a.nameSchemes()
	if err != nil {
		return nil, err
	}
	if a.NativeHistogramMinBucketFactor < 0 || math.IsNaN(a.NativeHistogramMinBucketFactor) || math.IsInf(a.NativeHistogramMinBucketFactor, 0) {
		return nil, fmt.Errorf("native_histogram_min_bucket_factor must be 0 (off) or a growth factor above 1, got %v", a.NativeHistogramMinBucketFactor)
	}
	job := a.JobName
	if job == "" {
		job = defaultJob
	}
	sc := config.DefaultScrapeConfig
	sc.JobName = job
	sc.HonorLabels = a.HonorLabels
	sc.HonorTimestamps = a.HonorTimestamps
	sc.TrackTimestampsStaleness = a.TrackTimestampsStaleness
	sc.Params = url.Values(a.Params)
	sc.ScrapeInterval = model.Duration(a.ScrapeInterval)
	sc.ScrapeTimeout = model.Duration(a.ScrapeTimeout)
	sc.MetricsPath = a.MetricsPath
	sc.Scheme = a.Scheme
	sc.EnableCompression = a.EnableCompression
	sc.SampleLimit = a.SampleLimit
	sc.TargetLimit = a.TargetLimit
	sc.LabelLimit = a.LabelLimit
	sc.LabelNameLengthLimit = a.LabelNameLengthLimit
	sc.LabelValueLengthLimit = a.LabelValueLengthLimit
	sc.HTTPClientConfig = hc
	sc.ScrapeNativeHistograms = &native
	classic := a.ScrapeClassicHistograms
	sc.AlwaysScrapeClassicHistograms = &classic
	nhcb := a.ConvertClassicHistogramsToNHCB
	sc.ConvertClassicHistogramsToNHCB = &nhcb
	sc.NativeHistogramBucketLimit = a.NativeHistogramBucketLimit
	sc.NativeHistogramMinBucketFactor = a.NativeHistogramMinBucketFactor
	extra := a.ExtraMetrics
	sc.ExtraScrapeMetrics = &extra
	sc.BodySizeLimit = units.Base2Bytes(a.BodySizeLimit)
	sc.ScrapeProtocols = protocols
	sc.ScrapeFallbackProtocol = config.ScrapeProtocol(a.ScrapeFallbackProtocol)
	sc.MetricNameValidationScheme = validation
	sc.MetricNameEscapingScheme = escaping
	sc.ScrapeFailureLogFile = a.ScrapeFailureLogFile
	if err := sc.Validate(config.DefaultGlobalConfig); err != nil {
		return nil, err
	}
	return &sc, nil
}

// protocols returns the scrape protocols to offer and whether native
// histograms are scraped, with Alloy's rules: enable_protobuf_negotiation
// (deprecated) means the protobuf-first list and native histograms, and
// cannot be combined with scrape_protocols; scrape_native_histograms
// without scrape_protocols offers protobuf first, and with it needs
// PrometheusProto in the list (the only format that carries them).
func (a *Arguments) protocols() ([]config.ScrapeProtocol, bool, error) {
	native := a.ScrapeNativeHistograms
	var out []config.ScrapeProtocol
	seen := map[string]bool{}
	for _, p := range a.ScrapeProtocols {
		if seen[p] {
			return nil, false, fmt.Errorf("scrape_protocols: %q is listed twice", p)
		}
		seen[p] = true
		out = append(out, config.ScrapeProtocol(p))
	}
	if a.EnableProtobufNegotiation {
		if len(out) > 0 {
			return nil, false, errors.New("both enable_protobuf_negotiation and scrape_protocols are set; set scrape_protocols only (enable_protobuf_negotiation is deprecated)")
		}
		native = true
	}
	if len(out) == 0 {
		if native {
			out = append(out, config.DefaultProtoFirstScrapeProtocols...)
		} else {
			out = append(out, config.DefaultScrapeProtocols...)
		}
	}
	if native && !seen[string(config.PrometheusProto)] && len(a.ScrapeProtocols) > 0 {
		return nil, false, errors.New("scrape_native_histograms is true, but PrometheusProto is not in scrape_protocols: native histograms are only exposed in the protobuf format")
	}
	if a.ScrapeFallbackProtocol != "" {
		if err := config.ScrapeProtocol(a.ScrapeFallbackProtocol).Validate(); err != nil {
			return nil, false, fmt.Errorf("scrape_fallback_protocol: %w", err)
		}
	}
	return out, native, nil
}

// nameSchemes returns the metric-name validation and escaping schemes, with
// Alloy's rule for the escaping default.
func (a *Arguments) nameSchemes() (model.ValidationScheme, string, error) {
	var v model.ValidationScheme
	switch a.MetricNameValidationScheme {
	case model.LegacyValidation.String():
		v = model.LegacyValidation
	case model.UTF8Validation.String():
		v = model.UTF8Validation
	default:
		return v, "", fmt.Errorf("metric_name_validation_scheme must be %q or %q, got %q", model.LegacyValidation.String(), model.UTF8Validation.String(), a.MetricNameValidationScheme)
	}
	e := a.MetricNameEscapingScheme
	switch e {
	case "":
		if v == model.LegacyValidation {
			e = model.EscapeUnderscores
		} else {
			e = model.AllowUTF8
		}
	case model.AllowUTF8, model.EscapeUnderscores, model.EscapeDots, model.EscapeValues:
	default:
		return v, "", fmt.Errorf("metric_name_escaping_scheme must be one of %q, %q, %q or %q, got %q", model.AllowUTF8, model.EscapeUnderscores, model.EscapeDots, model.EscapeValues, e)
	}
	if e == model.AllowUTF8 && v != model.UTF8Validation {
		return v, "", fmt.Errorf("metric_name_escaping_scheme %q needs metric_name_validation_scheme = %q", model.AllowUTF8, model.UTF8Validation.String())
	}
	return v, e, nil
}

// managerOptions are the settings Prometheus' scrape manager takes at
// creation only; a change of any of them replaces the manager (see
// Update).
//
// appendMetadata has the scrape append each series' type, help and unit
// (once per series, and again when they change): with honor_metadata, or
// when a receiver in forward_to uses metadata (appendable.MetadataUser),
// such as a prometheus.remote_write whose endpoint sends it. Since a
// receiver's use can change without this component's arguments changing
// (the remote_write's endpoints are edited), Run checks it every
// metadataCheckInterval and replaces the manager when it flips.
type managerOptions struct {
	honorMetadata, appendMetadata, typeAndUnitLabels, startTimestampZero bool
	// ownLoop runs flow's scrape loop (components/prometheus/internal/
	// scrapeloop) instead of Prometheus' scrape manager: always, except
	// with honor_metadata, start_timestamp_zero_ingestion or
	// scrape_failure_log_file, which only Prometheus' manager implements.
	ownLoop bool
}

// metadataCheckInterval is how often Run asks forward_to whether metadata
// is used.
const metadataCheckInterval = 2 * time.Second

func (a *Arguments) managerOptions(receiversUseMetadata bool) managerOptions {
	return managerOptions{
		honorMetadata:      a.HonorMetadata,
		appendMetadata:     a.HonorMetadata || receiversUseMetadata,
		typeAndUnitLabels:  a.EnableTypeAndUnitLabels,
		startTimestampZero: a.StartTimestampZeroIngestion,
		ownLoop:            !a.HonorMetadata && !a.StartTimestampZeroIngestion && a.ScrapeFailureLogFile == "",
	}
}

// Component is a running prometheus.scrape.
type Component struct {
	opts   component.Options
	fanout *appendable.Fanout

	mu sync.Mutex
	// mgr is the current scrape manager; replaced when managerOptions
	// change (Prometheus takes them at creation only).
	mgr     *manager
	mgrOpts managerOptions
	cfg     *config.ScrapeConfig
	targets []map[string]string
	// clustered is clustering.enabled; owned counts the targets handed to
	// the pool at the last sync, out of len(targets).
	clustered bool
	owned     int
	// changed wakes Run to hand the latest targets to the manager;
	// replaced wakes it to run a new manager.
	changed  chan struct{}
	replaced chan struct{}
}

// engine is what scrapes: flow's scrape loop (scrapeloop.Pool) or
// Prometheus' scrape.Manager, which have these methods alike.
type engine interface {
	Run(tsets <-chan map[string][]*targetgroup.Group) error
	ApplyConfig(cfg *config.Config) error
	TargetsActive() map[string][]*scrape.Target
	Stop()
	UnregisterMetrics()
}

var (
	_ engine = (*scrape.Manager)(nil)
	_ engine = (*scrapeloop.Pool)(nil)
)

// manager is a scrape engine that is stopped (and its metrics
// unregistered) exactly once.
type manager struct {
	engine
	once sync.Once
}

func (m *manager) stop() {
	m.once.Do(func() {
		// An empty configuration stops every pool (staleness markers
		// included, as Stop does) and closes the scrape failure log file,
		// which Stop leaves open.
		if empty, err := config.Load("", slog.New(slog.DiscardHandler)); err == nil {
			_ = m.ApplyConfig(empty)
		}
		m.Stop()
		m.UnregisterMetrics()
	})
}

var (
	_ component.HealthComponent = (*Component)(nil)
	_ component.DebugComponent  = (*Component)(nil)
)

// New builds the component. Scraping starts when Run is called.
func New(opts component.Options, args Arguments) (*Component, error) {
	sc, err := args.scrapeConfig(opts.ID)
	if err != nil {
		return nil, err
	}
	fanout := appendable.NewFanout(args.ForwardTo)
	c := &Component{
		opts:      opts,
		fanout:    fanout,
		targets:   args.Targets,
		clustered: args.Clustering.Enabled,
		changed:   make(chan struct{}, 1),
		replaced:  make(chan struct{}, 1),
	}
	mo := args.managerOptions(fanout.UsesMetadata())
	if c.mgr, err = c.newManager(mo); err != nil {
		return nil, err
	}
	c.mgrOpts = mo
	if args.EnableProtobufNegotiation {
		opts.Logger.Warn("enable_protobuf_negotiation is deprecated (as in Alloy): use scrape_protocols = [\"PrometheusProto\", \"OpenMetricsText1.0.0\", \"OpenMetricsText0.0.1\", \"PrometheusText0.0.4\"] and scrape_native_histograms = true")
	}
	c.reportTargets()
	if err := c.applyConfig(sc); err != nil {
		c.mgr.stop()
		return nil, err
	}
	c.changed <- struct{}{}
	return c, nil
}

// newManager creates a scrape engine with o: flow's scrape loop, or
// Prometheus' scrape manager for the settings only it has (see
// managerOptions.ownLoop). Scrape failures of jobs with
// scrape_failure_log_file go to that file as JSON lines, as in Prometheus.
func (c *Component) newManager(o managerOptions) (*manager, error) {
	if o.ownLoop {
		p, err := scrapeloop.New(scrapeloop.Options{
			Logger:                  c.opts.Logger,
			Registerer:              c.opts.Registerer,
			Appendable:              appendable.Live(c.fanout, c.opts.Live()),
			AppendMetadata:          o.appendMetadata,
			EnableTypeAndUnitLabels: o.typeAndUnitLabels,
			HTTPClientOptions:       httpclient.ClientOptions(),
		})
		if err != nil {
			return nil, fmt.Errorf("creating scrape loop: %w", err)
		}
		return &manager{engine: p}, nil
	}
	mgr, err := scrape.NewManager(&scrape.Options{
		// Target changes reach the scrape pool within this interval;
		// Prometheus uses 5s, which would make flow feel sluggish.
		DiscoveryReloadInterval:  model.Duration(500 * time.Millisecond),
		DiscoveryReloadOnStartup: true,
		AppendMetadata:           o.appendMetadata,
		PassMetadataInContext:    o.honorMetadata,
		EnableTypeAndUnitLabels:  o.typeAndUnitLabels,
		// Prometheus' created-timestamp-zero-ingestion sets both.
		EnableStartTimestampZeroIngestion: o.startTimestampZero,
		ParseST:                           o.startTimestampZero,
		// Bounds OAuth2 token fetches, which Prometheus leaves without a deadline.
		HTTPClientOptions: httpclient.ClientOptions(),
	}, c.opts.Logger, promlogging.NewJSONFileLogger, appendable.Live(c.fanout, c.opts.Live()), nil, c.opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("creating scrape manager: %w", err)
	}
	return &manager{engine: mgr}, nil
}

// applyConfig hands sc to the current manager. c.mu is held or c is new.
func (c *Component) applyConfig(sc *config.ScrapeConfig) error {
	// ApplyConfig needs a config that went through config.Load.
	cfg, err := config.Load("", c.opts.Logger)
	if err != nil {
		return fmt.Errorf("building scrape configuration: %w", err)
	}
	cfg.ScrapeConfigs = []*config.ScrapeConfig{sc}
	if err := c.mgr.ApplyConfig(cfg); err != nil {
		return fmt.Errorf("applying scrape configuration: %w", err)
	}
	c.cfg = sc
	return nil
}

// Run scrapes until ctx is cancelled, then stops every scrape loop (which
// writes staleness markers for their series).
func (c *Component) Run(ctx context.Context) error {
	defer func() {
		c.mu.Lock()
		mgr := c.mgr
		c.mu.Unlock()
		mgr.stop()
	}()
	// Membership changes re-evaluate ownership like a change of targets.
	var membership <-chan struct{}
	if cl := c.opts.Cluster; cl != nil {
		ch, cancel := cl.Subscribe()
		defer cancel()
		defer cl.SetTargets(c.opts.ID, nil)
		membership = ch
	}
	for {
		c.mu.Lock()
		mgr := c.mgr
		c.mu.Unlock()
		if !c.runManager(ctx, mgr, membership) {
			return nil
		}
	}
}

// runManager runs mgr until ctx is cancelled (false) or Update replaced it
// (true).
func (c *Component) runManager(ctx context.Context, mgr *manager, membership <-chan struct{}) bool {
	tsets := make(chan map[string][]*targetgroup.Group)
	done := make(chan error, 1)
	go func() { done <- mgr.Run(tsets) }()
	defer func() {
		mgr.stop()
		<-done
	}()
	// A new manager starts with no targets.
	c.notify()
	metaCheck := time.NewTicker(metadataCheckInterval)
	defer metaCheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-metaCheck.C:
			c.checkMetadataUse()
		case <-c.replaced:
			if !c.isCurrent(mgr) {
				return true
			}
		case <-membership:
			c.notify()
		case <-c.changed:
			c.mu.Lock()
			ts := c.targetSets()
			c.mu.Unlock()
			select {
			case tsets <- ts:
			case <-c.replaced:
				if !c.isCurrent(mgr) {
					return true
				}
				c.notify() // still ours: the targets are handed over next
			case <-ctx.Done():
				return false
			}
		}
	}
}

// notify wakes Run to hand the latest targets to the manager.
func (c *Component) notify() {
	select {
	case c.changed <- struct{}{}:
	default: // Run will pick up the latest targets anyway.
	}
}

// ownership is the cluster's current ownership when this component
// distributes its targets, nil when it scrapes every target.
func (c *Component) ownership() component.Ownership {
	if !c.clustered || c.opts.Cluster == nil {
		return nil
	}
	return c.opts.Cluster.Ownership()
}

// reportTargets tells the cluster which targets this component
// distributes, for the API's per-peer counts. c.mu is held or c is new.
func (c *Component) reportTargets() {
	if cl := c.opts.Cluster; cl != nil {
		if c.clustered {
			cl.SetTargets(c.opts.ID, c.targets)
		} else {
			cl.SetTargets(c.opts.ID, nil)
		}
	}
}

// targetSets is the manager's input: one target group for the one job,
// holding the targets this agent owns. c.mu is held.
func (c *Component) targetSets() map[string][]*targetgroup.Group {
	group := &targetgroup.Group{Source: c.opts.ID}
	own := c.ownership()
	for _, t := range c.targets {
		if own != nil && !own.Owns(t) {
			continue
		}
		ls := make(model.LabelSet, len(t))
		for k, v := range t {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
		group.Targets = append(group.Targets, ls)
	}
	c.owned = len(group.Targets)
	return map[string][]*targetgroup.Group{c.cfg.JobName: {group}}
}

// isCurrent reports whether mgr is still the component's manager.
func (c *Component) isCurrent(mgr *manager) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mgr == mgr
}

// Update applies new arguments. Changing targets keeps the loops of the
// targets that stay; changing scrape settings reloads the pool, as a
// Prometheus configuration reload does. Changing honor_metadata,
// enable_type_and_unit_labels or start_timestamp_zero_ingestion, which
// Prometheus' scrape manager takes only at creation, replaces the manager:
// every loop restarts with the new setting (Alloy keeps the old setting
// until a restart).
func (c *Component) Update(args component.Arguments) error {
	a := args.(Arguments)
	sc, err := a.scrapeConfig(c.opts.ID)
	if err != nil {
		return err
	}
	c.fanout.Set(a.ForwardTo)
	c.mu.Lock()
	defer c.mu.Unlock()
	if mo := a.managerOptions(c.fanout.UsesMetadata()); mo != c.mgrOpts {
		if err := c.replaceManagerLocked(mo); err != nil {
			return err
		}
	}
	if !reflect.DeepEqual(sc, c.cfg) {
		if err := c.applyConfig(sc); err != nil {
			return err
		}
	}
	c.targets = a.Targets
	c.clustered = a.Clustering.Enabled
	c.reportTargets()
	c.notify()
	return nil
}

// replaceManagerLocked replaces the scrape manager with one made with mo;
// Run then runs it with the current targets. c.mu is held.
func (c *Component) replaceManagerLocked(mo managerOptions) error {
	// The old manager's metrics must be unregistered before the new one
	// registers its own.
	c.mgr.stop()
	mgr, err := c.newManager(mo)
	if err != nil {
		return err
	}
	c.mgr, c.mgrOpts, c.cfg = mgr, mo, nil
	select {
	case c.replaced <- struct{}{}:
	default:
	}
	return nil
}

// checkMetadataUse replaces the manager when whether forward_to uses
// metadata changed (see managerOptions).
func (c *Component) checkMetadataUse() {
	uses := c.fanout.UsesMetadata()
	c.mu.Lock()
	defer c.mu.Unlock()
	mo := c.mgrOpts
	mo.appendMetadata = mo.honorMetadata || uses
	if mo == c.mgrOpts {
		return
	}
	cfg := c.cfg
	if err := c.replaceManagerLocked(mo); err != nil {
		c.opts.Logger.Error("replacing the scrape manager to change whether metadata is appended", "err", err)
		return
	}
	if cfg != nil {
		if err := c.applyConfig(cfg); err != nil {
			c.opts.Logger.Error("configuring the new scrape manager", "err", err)
		}
	}
	c.opts.Logger.Info("forward_to's use of metric metadata changed; scrape loops restarted", "append_metadata", mo.appendMetadata)
}

// activeTargets returns the pool's targets sorted by URL.
func (c *Component) activeTargets() []*scrape.Target {
	var out []*scrape.Target
	c.mu.Lock()
	mgr := c.mgr
	c.mu.Unlock()
	for _, ts := range mgr.TargetsActive() {
		out = append(out, ts...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URL().String() < out[j].URL().String() })
	return out
}

// CurrentHealth is unhealthy while every target failed its last scrape.
func (c *Component) CurrentHealth() component.Health {
	targets := c.activeTargets()
	var down, up int
	var lastErr error
	var lastURL string
	for _, t := range targets {
		switch t.Health() {
		case scrape.HealthBad:
			down++
			if lastErr == nil {
				lastErr, lastURL = t.LastError(), t.URL().Redacted()
			}
		case scrape.HealthGood:
			up++
		}
	}
	now := time.Now()
	if down > 0 && up == 0 && down == len(targets) {
		msg := fmt.Sprintf("all %d targets fail to be scraped", down)
		if lastErr != nil {
			msg += fmt.Sprintf("; %s: %v", lastURL, lastErr)
		}
		return component.Health{Health: component.HealthUnhealthy, Message: msg, UpdateTime: now}
	}
	msg := fmt.Sprintf("%d targets, %d up, %d down", len(targets), up, down)
	if ci := c.clusteringInfo(); ci != nil {
		switch {
		case !ci.Enabled:
			msg += "; clustering is off in this agent (flow run --cluster.enabled=false), so it scrapes every target"
		case !ci.Ready:
			msg += fmt.Sprintf("; clustering: waiting for the cluster (%s), scraping none of the %d targets", ci.Note, ci.TargetsTotal)
		default:
			msg += fmt.Sprintf("; clustering: this agent owns %d of %d targets, shared by %d peers", ci.TargetsOwned, ci.TargetsTotal, len(ci.Peers))
		}
	}
	return component.Health{
		Health:     component.HealthHealthy,
		Message:    msg,
		UpdateTime: now,
	}
}

// clusteringInfo describes the distribution of the targets, nil without a
// clustering block.
func (c *Component) clusteringInfo() *clusteringInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.clustered {
		return nil
	}
	ci := &clusteringInfo{TargetsTotal: len(c.targets), TargetsOwned: c.owned}
	own := c.ownership()
	if own == nil {
		ci.TargetsOwned = len(c.targets)
		ci.Note = "clustering is off in this agent (flow run --cluster.enabled=false): it scrapes every target"
		return ci
	}
	ci.Enabled = true
	ci.Node = own.Self()
	ci.Ready = own.Ready()
	ci.Peers = own.Peers()
	if !ci.Ready {
		ci.Note = "not ready: joining, or waiting for --cluster.wait-for-size peers"
	}
	return ci
}

// DebugInfo lists every target with its state.
func (c *Component) DebugInfo() any {
	var info debugInfo
	b := labels.NewBuilder(labels.EmptyLabels())
	for _, t := range c.activeTargets() {
		ti := targetInfo{
			JobName:            t.GetValue(model.JobLabel),
			URL:                t.URL().Redacted(),
			Health:             string(t.Health()),
			Labels:             t.Labels(b).Map(),
			LastScrapeDuration: t.LastScrapeDuration(),
		}
		if ls := t.LastScrape(); !ls.IsZero() {
			ti.LastScrape = ls.UTC().Format(time.RFC3339Nano)
		}
		if err := t.LastError(); err != nil && !errors.Is(err, context.Canceled) {
			ti.LastError = err.Error()
		}
		info.Targets = append(info.Targets, ti)
	}
	if ci := c.clusteringInfo(); ci != nil {
		info.Clustering = []clusteringInfo{*ci}
	}
	return info
}

type debugInfo struct {
	// Clustering is present with a clustering block; the target blocks
	// then list only the targets this agent owns.
	Clustering []clusteringInfo `river:"clustering,block,optional"`
	Targets    []targetInfo     `river:"target,block,optional"`
}

type clusteringInfo struct {
	// Enabled is false when the agent runs without --cluster.enabled.
	Enabled bool `river:"enabled,attr"`
	// Node is this agent's name; Peers the agents sharing the targets.
	Node  string   `river:"node,attr,optional"`
	Ready bool     `river:"ready,attr"`
	Peers []string `river:"peers,attr,optional"`
	// TargetsOwned of TargetsTotal are scraped by this agent.
	TargetsTotal int    `river:"targets_total,attr"`
	TargetsOwned int    `river:"targets_owned,attr"`
	Note         string `river:"note,attr,optional"`
}

type targetInfo struct {
	JobName            string            `river:"job,attr"`
	URL                string            `river:"url,attr"`
	Health             string            `river:"health,attr"`
	Labels             map[string]string `river:"labels,attr"`
	LastError          string            `river:"last_error,attr,optional"`
	LastScrape         string            `river:"last_scrape,attr,optional"`
	LastScrapeDuration time.Duration     `river:"last_scrape_duration,attr,optional"`
}
