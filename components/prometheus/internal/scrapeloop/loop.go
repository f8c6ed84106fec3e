package scrapeloop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
)

var errNameLabelMandatory = fmt.Errorf("missing metric name (%s label)", model.MetricNameLabel)

// rejectEarlyOOO is used for staleness markers and the report's end-of-run
// markers, as in Prometheus.
var rejectEarlyOOO = storage.AppendOptions{DiscardOutOfOrder: true}

// Per-target switches Prometheus reads from a target's labels.
const (
	convertClassicHistogramsToNHCBLabel = "__convert_classic_histograms_to_nhcb__"
	alwaysScrapeClassicHistogramsLabel  = "__always_scrape_classic_histograms__"
	scrapeNativeHistogramsLabel         = "__scrape_native_histograms__"
)

// loop scrapes one target every interval, as Prometheus' scrapeLoop.
type loop struct {
	pool    *Pool
	target  *scrape.Target
	hash    uint64
	scraper *httpScraper
	cache   *cache
	logger  *slog.Logger

	interval, timeout time.Duration

	ctx       context.Context // cancelled by stop
	cancel    context.CancelFunc
	parentCtx context.Context // the pool's: cancelled when the pool stops
	stopped   chan struct{}

	// From the scrape config and the target's labels.
	sampleLimit              int
	bucketLimit              int
	maxSchema                int32
	labelLimit               int
	labelNameLengthLimit     int
	labelValueLengthLimit    int
	honorLabels              bool
	honorTimestamps          bool
	trackTimestampsStaleness bool
	parserOpts               textparse.ParserOptions
	fallbackProtocol         string
	mrc                      []*relabel.Config
	validationScheme         model.ValidationScheme
	reportExtraMetrics       bool
	appendMetadata           bool

	forcedErrMu sync.Mutex
	forcedErr   error

	lastScrapeSize                   int
	disabledEndOfRunStalenessMarkers atomic.Bool

	// Reused between scrapes.
	exemplars []exemplar.Exemplar
	lb        *labels.Builder
}

func boolLabel(t *scrape.Target, name string, def bool) bool {
	v := t.GetValue(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def
	}
	return b
}

func (p *Pool) newLoop(t *scrape.Target, hash uint64, c *cache, cfg *config.ScrapeConfig) *loop {
	interval, timeout, forced := intervalAndTimeout(t, time.Duration(cfg.ScrapeInterval), time.Duration(cfg.ScrapeTimeout))
	escaping, _ := config.ToEscapingScheme(cfg.MetricNameEscapingScheme, cfg.MetricNameValidationScheme)
	ctx, cancel := context.WithCancel(p.ctx)
	if c == nil {
		c = newCache(p.metrics.cacheFlushForced.Inc)
	}
	sl := &loop{
		pool:   p,
		target: t,
		hash:   hash,
		scraper: &httpScraper{
			target:               t,
			client:               p.clientForTarget(t),
			timeout:              timeout,
			bodySizeLimit:        int64(cfg.BodySizeLimit),
			acceptHeader:         acceptHeader(cfg.ScrapeProtocols, escaping),
			acceptEncodingHeader: acceptEncodingHeader(cfg.EnableCompression),
			bodyLimitHit:         p.metrics.exceededBodySizeLimit.Inc,
		},
		cache:                    c,
		logger:                   p.opts.Logger.With("target", t),
		interval:                 interval,
		timeout:                  timeout,
		ctx:                      ctx,
		cancel:                   cancel,
		parentCtx:                p.ctx,
		stopped:                  make(chan struct{}),
		sampleLimit:              int(cfg.SampleLimit),
		bucketLimit:              int(cfg.NativeHistogramBucketLimit),
		maxSchema:                pickSchema(cfg.NativeHistogramMinBucketFactor),
		labelLimit:               int(cfg.LabelLimit),
		labelNameLengthLimit:     int(cfg.LabelNameLengthLimit),
		labelValueLengthLimit:    int(cfg.LabelValueLengthLimit),
		honorLabels:              cfg.HonorLabels,
		honorTimestamps:          cfg.HonorTimestamps,
		trackTimestampsStaleness: cfg.TrackTimestampsStaleness,
		fallbackProtocol:         cfg.ScrapeFallbackProtocol.HeaderMediaType(),
		mrc:                      cfg.MetricRelabelConfigs,
		validationScheme:         cfg.MetricNameValidationScheme,
		reportExtraMetrics:       cfg.ExtraScrapeMetricsEnabled(),
		appendMetadata:           p.opts.AppendMetadata,
		exemplars:                make([]exemplar.Exemplar, 0, 1),
		lb:                       labels.NewBuilder(labels.EmptyLabels()),
	}
	sl.parserOpts = textparse.ParserOptions{
		EnableTypeAndUnitLabels:                 p.opts.EnableTypeAndUnitLabels,
		IgnoreNativeHistograms:                  !boolLabel(t, scrapeNativeHistogramsLabel, cfg.ScrapeNativeHistogramsEnabled()),
		ConvertClassicHistogramsToNHCB:          boolLabel(t, convertClassicHistogramsToNHCBLabel, cfg.ConvertClassicHistogramsToNHCBEnabled()),
		KeepClassicOnClassicAndNativeHistograms: boolLabel(t, alwaysScrapeClassicHistogramsLabel, cfg.AlwaysScrapeClassicHistogramsEnabled()),
		FallbackContentType:                     sl.fallbackProtocol,
	}
	if forced != nil {
		sl.setForcedError(forced)
	}
	return sl
}

// intervalAndTimeout are the target's, from its labels (PopulateLabels set
// them from the config or relabelling).
func intervalAndTimeout(t *scrape.Target, defInterval, defTimeout time.Duration) (time.Duration, time.Duration, error) {
	il := t.GetValue(model.ScrapeIntervalLabel)
	interval, err := model.ParseDuration(il)
	if err != nil {
		return defInterval, defTimeout, fmt.Errorf("error parsing interval label %q: %w", il, err)
	}
	tl := t.GetValue(model.ScrapeTimeoutLabel)
	timeout, err := model.ParseDuration(tl)
	if err != nil {
		return defInterval, defTimeout, fmt.Errorf("error parsing timeout label %q: %w", tl, err)
	}
	return time.Duration(interval), time.Duration(timeout), nil
}

func (sl *loop) setForcedError(err error) {
	sl.forcedErrMu.Lock()
	defer sl.forcedErrMu.Unlock()
	sl.forcedErr = err
}

func (sl *loop) getForcedError() error {
	sl.forcedErrMu.Lock()
	defer sl.forcedErrMu.Unlock()
	return sl.forcedErr
}

func (sl *loop) appender() storage.Appender { return sl.pool.opts.Appendable.Appender(sl.parentCtx) }

// run scrapes until stop, then (unless the pool itself stopped) writes
// staleness markers for every series two intervals later, as Prometheus.
func (sl *loop) run() {
	var last time.Time
	ticker := time.NewTicker(sl.interval)
	defer func() {
		close(sl.stopped)
		if sl.parentCtx.Err() == nil && !sl.disabledEndOfRunStalenessMarkers.Load() {
			sl.endOfRunStaleness(last, ticker, sl.interval)
		}
		ticker.Stop()
	}()

	if off := offset(sl.hash, sl.interval, sl.pool.offsetSeed); off > 0 {
		select {
		case <-time.After(off):
		case <-sl.ctx.Done():
			return
		}
	}
	ticker.Reset(sl.interval)
	aligned := time.Now().Round(0)
	for {
		select {
		case <-sl.ctx.Done():
			return
		default:
		}
		scrapeTime := time.Now().Round(0)
		if scrape.AlignScrapeTimestamps {
			tolerance := min(sl.interval/100, scrape.ScrapeTimestampTolerance)
			for scrapeTime.Sub(aligned) >= sl.interval {
				aligned = aligned.Add(sl.interval)
			}
			if scrapeTime.Sub(aligned) <= tolerance {
				scrapeTime = aligned
			}
		}
		last = sl.scrapeAndReport(last, scrapeTime)
		select {
		case <-sl.ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// scrapeAndReport scrapes once and appends the samples and the report in
// one transaction (two when the first append fails).
func (sl *loop) scrapeAndReport(last, appendTime time.Time) time.Time {
	start := time.Now()
	if !last.IsZero() {
		sl.pool.metrics.intervalLength.WithLabelValues(sl.interval.String()).Observe(time.Since(last).Seconds())
	}
	var (
		total, added, seriesAdded, bytesRead int
		err, appErr, scrapeErr               error
	)
	app := sl.appender()
	defer func() {
		if err != nil {
			_ = app.Rollback()
			return
		}
		if err = app.Commit(); err != nil {
			sl.logger.Error("Scrape commit failed", "err", err)
		}
	}()
	defer func() {
		if err = sl.report(app, appendTime, time.Since(start), total, added, seriesAdded, bytesRead, scrapeErr); err != nil {
			sl.logger.Warn("Appending scrape report failed", "err", err)
		}
	}()

	if forced := sl.getForcedError(); forced != nil {
		scrapeErr = forced
		if _, _, _, err := sl.append(app, nil, "", appendTime); err != nil {
			_ = app.Rollback()
			app = sl.appender()
			sl.logger.Warn("Append failed", "err", err)
		}
		return start
	}

	var (
		contentType string
		b           []byte
	)
	scrapeCtx, cancel := context.WithTimeout(sl.parentCtx, sl.timeout)
	resp, scrapeErr := sl.scraper.scrape(scrapeCtx)
	if scrapeErr == nil {
		b, contentType, scrapeErr = sl.scraper.readResponse(resp, sl.pool.buffers, sl.lastScrapeSize)
		defer func() { sl.pool.buffers.put(b) }()
	}
	cancel()

	if scrapeErr == nil {
		if len(b) > 0 {
			sl.lastScrapeSize = len(b)
		}
		bytesRead = len(b)
	} else {
		sl.logger.Debug("Scrape failed", "err", scrapeErr)
		if errors.Is(scrapeErr, errBodySizeLimit) {
			bytesRead = -1
		}
	}

	// A failed scrape appends nothing but the staleness markers.
	var body []byte
	if scrapeErr == nil {
		body = b
	}
	total, added, seriesAdded, appErr = sl.append(app, body, contentType, appendTime)
	if appErr != nil {
		_ = app.Rollback()
		app = sl.appender()
		sl.logger.Debug("Append failed", "err", appErr)
		if _, _, _, err := sl.append(app, nil, "", appendTime); err != nil {
			_ = app.Rollback()
			app = sl.appender()
			sl.logger.Warn("Append failed", "err", err)
		}
	}
	if scrapeErr == nil {
		scrapeErr = appErr
	}
	return start
}

// endOfRunStaleness waits two intervals (the target may come back in a new
// loop) and marks every series of the target stale.
func (sl *loop) endOfRunStaleness(last time.Time, ticker *time.Ticker, interval time.Duration) {
	if last.IsZero() {
		return
	}
	var staleTime time.Time
	select {
	case <-sl.parentCtx.Done():
		return
	case <-ticker.C:
		staleTime = time.Now()
	}
	select {
	case <-sl.parentCtx.Done():
		return
	case <-ticker.C:
	}
	select {
	case <-sl.parentCtx.Done():
		return
	case <-time.After(interval / 10):
	}
	if sl.disabledEndOfRunStalenessMarkers.Load() {
		return
	}
	app := sl.appender()
	var err error
	defer func() {
		if err != nil {
			_ = app.Rollback()
			return
		}
		if err = app.Commit(); err != nil {
			sl.logger.Warn("Stale commit failed", "err", err)
		}
	}()
	if _, _, _, err = sl.append(app, nil, "", staleTime); err != nil {
		_ = app.Rollback()
		app = sl.appender()
		sl.logger.Warn("Stale append failed", "err", err)
	}
	if err = sl.reportStale(app, staleTime); err != nil {
		sl.logger.Warn("Stale report failed", "err", err)
	}
}

// stop ends scraping; staleness markers may still be written after it
// returns, until the pool's context is cancelled.
func (sl *loop) stop() {
	sl.cancel()
	<-sl.stopped
}

func (sl *loop) updateStaleMarkers(app storage.Appender, defTime int64) (err error) {
	sl.cache.forEachStale(func(ref storage.SeriesRef, lset labels.Labels) bool {
		app.SetOptions(&rejectEarlyOOO)
		_, err = app.Append(ref, lset, defTime, math.Float64frombits(value.StaleNaN))
		app.SetOptions(nil)
		if errors.Is(err, storage.ErrOutOfOrderSample) || errors.Is(err, storage.ErrDuplicateSampleForTimestamp) {
			// Expected when the target came back in a new loop.
			err = nil
		}
		return err == nil
	})
	return err
}

type appendErrors struct {
	numOutOfOrder, numDuplicates, numOutOfBounds, numExemplarOutOfOrder int
}

// append parses b and appends its samples; an empty b (a failed scrape)
// appends only staleness markers. Its behaviour is Prometheus' append
// (scrapeLoopAppender.append), line for line where it matters.
func (sl *loop) append(baseApp storage.Appender, b []byte, contentType string, ts time.Time) (total, added, seriesAdded int, err error) {
	defTime := timestamp.FromTime(ts)
	c := sl.cache
	if len(b) == 0 {
		err = sl.updateStaleMarkers(baseApp, defTime)
		c.iterDone(false)
		return total, added, seriesAdded, err
	}
	p, err := textparse.New(b, contentType, sl.pool.symbols, sl.parserOpts)
	if p == nil {
		sl.logger.Error("Failed to determine correct type of scrape target.", "content_type", contentType, "fallback_media_type", sl.fallbackProtocol, "err", err)
		return total, added, seriesAdded, err
	}
	if err != nil {
		sl.logger.Debug("Invalid content type on scrape, using fallback setting.", "content_type", contentType, "fallback_media_type", sl.fallbackProtocol, "err", err)
	}
	if !c.reserved {
		c.reserve(seriesEstimate(b, sl.sampleLimit))
	}
	var (
		appErrs                        appendErrors
		sampleLimitErr, bucketLimitErr error
		lset                           labels.Labels
		e                              exemplar.Exemplar
		lastMeta                       *metaEntry
		lastMFName                     []byte
	)
	app := appenderWithLimits(baseApp, sl.sampleLimit, sl.bucketLimit, sl.maxSchema)
	defer func() {
		if err != nil {
			return
		}
		c.iterDone(true)
	}()

loop:
	for {
		var (
			et              textparse.Entry
			isHistogram     bool
			met             []byte
			parsedTimestamp *int64
			val             float64
			h               *histogram.Histogram
			fh              *histogram.FloatHistogram
		)
		if et, err = p.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			break
		}
		switch et {
		case textparse.EntryType:
			lastMFName, lastMeta = c.setType(p.Type())
			continue
		case textparse.EntryHelp:
			lastMFName, lastMeta = c.setHelp(p.Help())
			continue
		case textparse.EntryUnit:
			lastMFName, lastMeta = c.setUnit(p.Unit())
			continue
		case textparse.EntryComment:
			continue
		case textparse.EntryHistogram:
			isHistogram = true
		default:
		}
		total++

		t := defTime
		if isHistogram {
			met, parsedTimestamp, h, fh = p.Histogram()
		} else {
			met, parsedTimestamp, val = p.Series()
		}
		if !sl.honorTimestamps {
			parsedTimestamp = nil
		}
		if parsedTimestamp != nil {
			t = *parsedTimestamp
		}

		k := keyOf(met)
		idx, cached, alreadyScraped := c.get(k)
		var ref storage.SeriesRef
		if cached {
			ent := &c.entries[idx]
			ref, lset = ent.ref, ent.lset
		} else {
			if c.isDropped(k) {
				continue
			}
			p.Labels(&lset)
			lset = sl.mutateSampleLabels(lset)
			if lset.IsEmpty() {
				c.addDropped(k)
				continue
			}
			if !lset.Has(model.MetricNameLabel) {
				err = errNameLabelMandatory
				break loop
			}
			if !lset.IsValid(sl.validationScheme) {
				err = fmt.Errorf("invalid metric name or label names: %s", lset.String())
				break loop
			}
			if err = sl.verifyLabelLimits(lset); err != nil {
				sl.pool.metrics.exceededLabelLimits.Inc()
				break loop
			}
		}

		if alreadyScraped && parsedTimestamp == nil {
			err = storage.ErrDuplicateSampleForTimestamp
		} else if isHistogram {
			if h != nil {
				ref, err = app.AppendHistogram(ref, lset, t, h, nil)
			} else {
				ref, err = app.AppendHistogram(ref, lset, t, nil, fh)
			}
		} else {
			ref, err = app.Append(ref, lset, t, val)
		}

		tracks := parsedTimestamp == nil || sl.trackTimestampsStaleness
		if err == nil && cached {
			ent := &c.entries[idx]
			if ref != 0 {
				ent.ref = ref
			}
			if tracks && ent.ref != 0 {
				c.track(idx)
			}
		}

		var sampleAdded bool
		sampleAdded, err = sl.checkAddError(met, err, &sampleLimitErr, &bucketLimitErr, &appErrs)
		if err != nil {
			if !errors.Is(err, storage.ErrNotFound) {
				sl.logger.Debug("Unexpected error", "series", string(met), "err", err)
			}
			break loop
		}

		if !cached && sampleAdded {
			idx = c.add(k, ref, lset)
			if ref != 0 && tracks {
				c.track(idx)
			}
			if sampleLimitErr == nil && bucketLimitErr == nil {
				seriesAdded++
			}
		}
		added++

		sl.exemplars = sl.exemplars[:0]
		for hasExemplar := p.Exemplar(&e); hasExemplar; hasExemplar = p.Exemplar(&e) {
			if !e.HasTs {
				if isHistogram {
					// Native histograms' exemplars need a timestamp.
					e = exemplar.Exemplar{}
					continue
				}
				e.Ts = t
			}
			sl.exemplars = append(sl.exemplars, e)
			e = exemplar.Exemplar{}
		}
		if len(sl.exemplars) > 0 {
			sl.appendExemplars(app, ref, lset, &appErrs)
		}

		if sl.appendMetadata && lastMeta != nil && (!cached || lastMeta.lastIterChange == c.iter) &&
			isSeriesPartOfFamily(lset.Get(model.MetricNameLabel), lastMFName, lastMeta.Type) {
			if _, merr := app.UpdateMetadata(ref, lset, lastMeta.Metadata); merr != nil {
				sl.logger.Debug("Error when appending metadata in scrape loop", "ref", fmt.Sprintf("%d", ref), "metadata", fmt.Sprintf("%+v", lastMeta.Metadata), "err", merr)
			}
		}
	}
	if sampleLimitErr != nil {
		if err == nil {
			err = sampleLimitErr
		}
		sl.pool.metrics.sampleLimit.Inc()
	}
	if bucketLimitErr != nil {
		if err == nil {
			err = bucketLimitErr
		}
		sl.pool.metrics.nativeHistogramBucketLimt.Inc()
	}
	if appErrs.numOutOfOrder > 0 {
		sl.logger.Warn("Error on ingesting out-of-order samples", "num_dropped", appErrs.numOutOfOrder)
	}
	if appErrs.numDuplicates > 0 {
		sl.logger.Warn("Error on ingesting samples with different value but same timestamp", "num_dropped", appErrs.numDuplicates)
	}
	if appErrs.numOutOfBounds > 0 {
		sl.logger.Warn("Error on ingesting samples that are too old or are too far into the future", "num_dropped", appErrs.numOutOfBounds)
	}
	if appErrs.numExemplarOutOfOrder > 0 {
		sl.logger.Warn("Error on ingesting out-of-order exemplars", "num_dropped", appErrs.numExemplarOutOfOrder)
	}
	if err == nil {
		err = sl.updateStaleMarkers(app, defTime)
	}
	return total, added, seriesAdded, err
}

func (sl *loop) appendExemplars(app storage.Appender, ref storage.SeriesRef, lset labels.Labels, appErrs *appendErrors) {
	slices.SortFunc(sl.exemplars, exemplar.Compare)
	outOfOrder := 0
	for _, e := range sl.exemplars {
		_, err := app.AppendExemplar(ref, lset, e)
		switch {
		case err == nil:
		case errors.Is(err, storage.ErrOutOfOrderExemplar):
			outOfOrder++
		default:
			sl.logger.Debug("Error while adding exemplar in AddExemplar", "exemplar", fmt.Sprintf("%+v", e), "err", err)
		}
	}
	if outOfOrder > 0 && outOfOrder == len(sl.exemplars) {
		appErrs.numExemplarOutOfOrder += outOfOrder
		sl.logger.Debug("Out of order exemplars", "count", outOfOrder, "latest", fmt.Sprintf("%+v", sl.exemplars[len(sl.exemplars)-1]))
		sl.pool.metrics.exemplarOutOfOrder.Add(float64(outOfOrder))
	}
}

// checkAddError classifies an append's error as Prometheus does: limits
// and out-of-order samples are counted and the scrape goes on; anything
// else ends it.
func (sl *loop) checkAddError(met []byte, err error, sampleLimitErr, bucketLimitErr *error, appErrs *appendErrors) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errSampleLimit):
		*sampleLimitErr = err
		return false, nil
	case errors.Is(err, errBucketLimit):
		*bucketLimitErr = err
		return false, nil
	case errors.Is(err, storage.ErrOutOfOrderSample):
		appErrs.numOutOfOrder++
		sl.logger.Debug("Out of order sample", "series", string(met))
		sl.pool.metrics.sampleOutOfOrder.Inc()
		return false, nil
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		appErrs.numDuplicates++
		sl.logger.Debug("Duplicate sample for timestamp", "series", string(met))
		sl.pool.metrics.sampleDuplicate.Inc()
		return false, nil
	case errors.Is(err, storage.ErrOutOfBounds):
		appErrs.numOutOfBounds++
		sl.logger.Debug("Out of bounds metric", "series", string(met))
		sl.pool.metrics.sampleOutOfBounds.Inc()
		return false, nil
	case errors.Is(err, storage.ErrNotFound):
		return false, storage.ErrNotFound
	default:
		var pErr *storage.AppendPartialError
		if errors.As(err, &pErr) {
			return true, nil
		}
		return false, err
	}
}

func (sl *loop) verifyLabelLimits(lset labels.Labels) error {
	met := lset.Get(model.MetricNameLabel)
	if sl.labelLimit > 0 {
		if n := lset.Len(); n > sl.labelLimit {
			return fmt.Errorf("label_limit exceeded (metric: %.50s, number of labels: %d, limit: %d)", met, n, sl.labelLimit)
		}
	}
	if sl.labelNameLengthLimit == 0 && sl.labelValueLengthLimit == 0 {
		return nil
	}
	return lset.Validate(func(l labels.Label) error {
		if sl.labelNameLengthLimit > 0 && len(l.Name) > sl.labelNameLengthLimit {
			return fmt.Errorf("label_name_length_limit exceeded (metric: %.50s, label name: %.50s, length: %d, limit: %d)", met, l.Name, len(l.Name), sl.labelNameLengthLimit)
		}
		if sl.labelValueLengthLimit > 0 && len(l.Value) > sl.labelValueLengthLimit {
			return fmt.Errorf("label_value_length_limit exceeded (metric: %.50s, label name: %.50s, value: %.50q, length: %d, limit: %d)", met, l.Name, l.Value, len(l.Value), sl.labelValueLengthLimit)
		}
		return nil
	})
}

// mutateSampleLabels adds the target's labels (honor_labels deciding
// conflicts) and applies metric relabelling; empty means dropped.
func (sl *loop) mutateSampleLabels(lset labels.Labels) labels.Labels {
	lb := sl.lb
	lb.Reset(lset)
	if sl.honorLabels {
		sl.target.LabelsRange(func(l labels.Label) {
			if !lset.Has(l.Name) {
				lb.Set(l.Name, l.Value)
			}
		})
	} else {
		var conflicting []labels.Label
		sl.target.LabelsRange(func(l labels.Label) {
			if v := lset.Get(l.Name); v != "" {
				conflicting = append(conflicting, labels.Label{Name: l.Name, Value: v})
			}
			lb.Set(l.Name, l.Value)
		})
		if len(conflicting) > 0 {
			slices.SortStableFunc(conflicting, func(a, b labels.Label) int { return len(a.Name) - len(b.Name) })
			for _, l := range conflicting {
				name := l.Name
				for {
					name = model.ExportedLabelPrefix + name
					if lb.Get(name) == "" {
						lb.Set(name, l.Value)
						break
					}
				}
			}
		}
	}
	if keep := relabel.ProcessBuilder(lb, sl.mrc...); !keep {
		return labels.EmptyLabels()
	}
	return lb.Labels()
}

// isSeriesPartOfFamily is Prometheus' check that a sample belongs to the
// family whose metadata was read last.
func isSeriesPartOfFamily(mName string, mfName []byte, typ model.MetricType) bool {
	mf := string(mfName)
	if !strings.HasPrefix(mName, mf) {
		return false
	}
	var (
		got string
		ok  bool
	)
	cut := func(s string, suffixes ...string) string {
		for _, suf := range suffixes {
			if got, ok = strings.CutSuffix(s, suf); ok {
				return got
			}
		}
		return s
	}
	switch typ {
	case model.MetricTypeCounter:
		mf, _ = strings.CutSuffix(mf, "_total")
		got = cut(mName, "_total")
	case model.MetricTypeHistogram:
		got = cut(mName, "_bucket", "_sum", "_count")
	case model.MetricTypeGaugeHistogram:
		got = cut(mName, "_bucket", "_gsum", "_gcount")
	case model.MetricTypeSummary:
		got = cut(mName, "_sum", "_count")
	case model.MetricTypeInfo:
		mf, _ = strings.CutSuffix(mf, "_info")
		got = cut(mName, "_info")
	default:
		got = mName
	}
	return mf == got
}

// The report series, in Prometheus' order.
const (
	reportUp = iota
	reportDuration
	reportScraped
	reportPostRelabel
	reportSeriesAdded
	reportTimeout
	reportSampleLimit
	reportBodySize
	numReport
)

type reportSample struct {
	name string
	meta metadata.Metadata
}

var reportDefs = [numReport]reportSample{
	{"up", metadata.Metadata{Type: model.MetricTypeGauge, Help: "Health of the scrape target. 1 means the target is healthy, 0 if the scrape failed.", Unit: "targets"}},
	{"scrape_duration_seconds", metadata.Metadata{Type: model.MetricTypeGauge, Help: "Duration of the last scrape in seconds.", Unit: "seconds"}},
	{"scrape_samples_scraped", metadata.Metadata{Type: model.MetricTypeGauge, Help: "Number of samples last scraped.", Unit: "samples"}},
	{"scrape_samples_post_metric_relabeling", metadata.Metadata{Type: model.MetricTypeGauge, Help: "Number of samples remaining after metric relabeling was applied.", Unit: "samples"}},
	{"scrape_series_added", metadata.Metadata{Type: model.MetricTypeGauge, Help: "Number of series in the last scrape.", Unit: "series"}},
	{"scrape_timeout_seconds", metadata.Metadata{Type: model.MetricTypeGauge, Help: "The configured scrape timeout for a target.", Unit: "seconds"}},
	{"scrape_sample_limit", metadata.Metadata{Type: model.MetricTypeGauge, Help: "The configured sample limit for a target. Returns zero if there is no limit configured.", Unit: "samples"}},
	{"scrape_body_size_bytes", metadata.Metadata{Type: model.MetricTypeGauge, Help: "The uncompressed size of the last scrape response, if successful. Scrapes failing because body_size_limit is exceeded report -1, other scrape failures report 0.", Unit: "bytes"}},
}

func (sl *loop) report(app storage.Appender, start time.Time, duration time.Duration, scraped, added, seriesAdded, bytes int, scrapeErr error) error {
	sl.target.Report(start, duration, scrapeErr)
	ts := timestamp.FromTime(start)
	health := 0.0
	if scrapeErr == nil {
		health = 1
	}
	vals := [numReport]float64{health, duration.Seconds(), float64(scraped), float64(added), float64(seriesAdded),
		sl.timeout.Seconds(), float64(sl.sampleLimit), float64(bytes)}
	n := reportSeriesAdded + 1
	if sl.reportExtraMetrics {
		n = numReport
	}
	for i := range n {
		if err := sl.addReportSample(app, i, ts, vals[i], false); err != nil {
			return err
		}
	}
	return nil
}

func (sl *loop) reportStale(app storage.Appender, start time.Time) error {
	ts := timestamp.FromTime(start)
	stale := math.Float64frombits(value.StaleNaN)
	n := reportSeriesAdded + 1
	if sl.reportExtraMetrics {
		n = numReport
	}
	for i := range n {
		if err := sl.addReportSample(app, i, ts, stale, true); err != nil {
			return err
		}
	}
	return nil
}

func (sl *loop) addReportSample(app storage.Appender, i int, t int64, v float64, rejectOOO bool) error {
	re := &sl.cache.report[i]
	ref, lset := re.ref, re.lset
	if !re.ok {
		lb := labels.NewBuilder(labels.EmptyLabels())
		lb.Set(model.MetricNameLabel, reportDefs[i].name)
		base := lb.Labels()
		sl.target.LabelsRange(func(l labels.Label) {
			lb.Set(model.ExportedLabelPrefix+l.Name, base.Get(l.Name))
			lb.Set(l.Name, l.Value)
		})
		lset = lb.Labels()
	}
	var err error
	if rejectOOO {
		app.SetOptions(&rejectEarlyOOO)
		ref, err = app.Append(ref, lset, t, v)
		app.SetOptions(nil)
	} else {
		ref, err = app.Append(ref, lset, t, v)
	}
	switch {
	case err == nil:
		if !re.ok {
			*re = reportEntry{ref: ref, lset: lset, ok: true}
			if sl.appendMetadata {
				if _, merr := app.UpdateMetadata(ref, lset, reportDefs[i].meta); merr != nil {
					sl.logger.Debug("Error when appending metadata in addReportSample", "ref", fmt.Sprintf("%d", ref), "metadata", fmt.Sprintf("%+v", reportDefs[i].meta), "err", merr)
				}
			}
		}
		return nil
	case errors.Is(err, storage.ErrOutOfOrderSample), errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		return nil
	default:
		return err
	}
}
