package remotewrite

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/prometheus/remote_write/internal/queue"
)

// Metric metadata for Remote-Write 1.0 endpoints (`metadata_config`).
//
// Prometheus sends 1.0 metadata from its scrape manager's targets, which
// a remote_write component does not have (Alloy's has none either, so its
// metadata_config sends nothing). flow's receiver instead keeps the
// metadata that reaches it (prometheus.scrape with honor_metadata passes
// each family's type, help and unit downstream) and sends it to every 1.0
// endpoint with `send = true` every `send_interval`, through the endpoint's
// queue (Prometheus' QueueManager.AppendWatcherMetadata: requests of at most
// `max_samples_per_send` entries, retried with the queue's backoff). 2.0
// endpoints carry metadata with the series, from the WAL.

// maxMetadataFamilies bounds the metadata kept: one entry per metric
// family, so a source inventing family names cannot grow it without end.
// Families beyond it are not sent; the first one refused is logged.
const maxMetadataFamilies = 100_000

// metadataTick is how often due endpoints are looked for; a send_interval
// below it is rounded up to it.
const metadataTick = 100 * time.Millisecond

type metadataStore struct {
	mu       sync.Mutex
	families map[string]scrape.MetricMetadata
	refused  int64 // families not kept because the store was full
}

// observe records the metadata of the series l. It reports true for the
// first family refused because the store is full.
func (s *metadataStore) observe(l labels.Labels, md metadata.Metadata) (firstRefusal bool) {
	name := l.Get(model.MetricNameLabel)
	if name == "" || md.IsEmpty() {
		return false
	}
	family := familyName(name, md.Type)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.families == nil {
		s.families = map[string]scrape.MetricMetadata{}
	}
	if _, ok := s.families[family]; !ok && len(s.families) >= maxMetadataFamilies {
		s.refused++
		return s.refused == 1
	}
	s.families[family] = scrape.MetricMetadata{MetricFamily: family, Type: md.Type, Help: md.Help, Unit: md.Unit}
	return false
}

// snapshot returns the metadata, sorted by family.
func (s *metadataStore) snapshot() []scrape.MetricMetadata {
	s.mu.Lock()
	out := make([]scrape.MetricMetadata, 0, len(s.families))
	for _, m := range s.families {
		out = append(out, m)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b scrape.MetricMetadata) int { return strings.Compare(a.MetricFamily, b.MetricFamily) })
	return out
}

// familyName is the metric family a series belongs to: its name without
// the suffixes its type adds (a histogram's _bucket, _sum and _count, …).
// A counter keeps its _total, as in the text format's TYPE line.
func familyName(series string, t model.MetricType) string {
	var suffixes []string
	switch t {
	case model.MetricTypeHistogram:
		suffixes = []string{"_bucket", "_sum", "_count", "_created"}
	case model.MetricTypeGaugeHistogram:
		suffixes = []string{"_bucket", "_gsum", "_gcount"}
	case model.MetricTypeSummary:
		suffixes = []string{"_sum", "_count", "_created"}
	case model.MetricTypeCounter:
		suffixes = []string{"_created"}
	}
	for _, s := range suffixes {
		if f, ok := strings.CutSuffix(series, s); ok && f != "" {
			return f
		}
	}
	return series
}

// UpdateMetadata writes the metadata to the WAL (for Remote-Write 2.0) and
// keeps it for 1.0 endpoints.
func (a *walAppender) UpdateMetadata(ref storage.SeriesRef, l labels.Labels, md metadata.Metadata) (storage.SeriesRef, error) {
	if a.c.meta.observe(l, md) {
		a.c.opts.Logger.Warn("metric metadata of more than 100,000 families received; metadata of further families is not sent to Remote-Write 1.0 endpoints", "limit", maxMetadataFamilies)
	}
	return a.Appender.UpdateMetadata(ref, l, md)
}

// runMetadata sends the kept metadata to each Remote-Write 1.0 endpoint
// with metadata_config > send every send_interval, until ctx ends.
func (c *Component) runMetadata(ctx context.Context) {
	tk := time.NewTicker(metadataTick)
	defer tk.Stop()
	last := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tk.C:
			for _, d := range c.metadataDue(now, last) {
				md := c.meta.snapshot()
				if len(md) == 0 {
					break
				}
				last[d.name] = now
				sctx, cancel := context.WithTimeout(ctx, max(d.interval, time.Second))
				_ = d.q.SendMetadata(sctx, md, d.perRequest)
				cancel()
			}
		}
	}
}

// sendsMetadata reports whether one of the endpoints sends metric metadata:
// a Remote-Write 2.0 endpoint always does (type, help and unit with each
// series), a 1.0 endpoint with metadata_config > send.
func sendsMetadata(eps []EndpointOptions) bool {
	for i := range eps {
		ep := &eps[i]
		if ep.ProtobufMessage != string(remoteapi.WriteV1MessageType) {
			return true
		}
		if ep.MetadataOptions.Send && ep.MetadataOptions.MaxSamplesPerSend > 0 {
			return true
		}
	}
	return false
}

type metadataTarget struct {
	name       string
	interval   time.Duration
	perRequest int
	q          *queue.Queue
}

// metadataDue returns the 1.0 endpoints whose send_interval has passed.
func (c *Component) metadataDue(now time.Time, last map[string]time.Time) []metadataTarget {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	var due []metadataTarget
	for i := range c.args.Endpoints {
		ep := &c.args.Endpoints[i]
		mo := ep.MetadataOptions
		if !mo.Send || mo.MaxSamplesPerSend <= 0 || ep.ProtobufMessage != string(remoteapi.WriteV1MessageType) {
			continue
		}
		name := ep.queueName()
		if t, ok := last[name]; ok && now.Sub(t) < mo.SendInterval {
			continue
		}
		if le := c.eps[name]; le != nil {
			due = append(due, metadataTarget{name: name, interval: mo.SendInterval, perRequest: mo.MaxSamplesPerSend, q: le.q})
		}
	}
	return due
}
