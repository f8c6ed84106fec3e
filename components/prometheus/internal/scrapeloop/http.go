package scrapeloop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/scrape"
)

var (
	errBodySizeLimit  = errors.New("body size limit exceeded")
	errZstdNotEnabled = errors.New(`received a zstd-compressed response, but the "zstd-scrape" feature flag is not enabled`)
)

// httpScraper fetches one target's metrics, as Prometheus' targetScraper:
// the same request headers, gzip, body_size_limit and errors.
type httpScraper struct {
	target               *scrape.Target
	client               *http.Client
	req                  *http.Request
	timeout              time.Duration
	bodySizeLimit        int64
	acceptHeader         string
	acceptEncodingHeader string
	gzipr                *gzip.Reader
	buf                  *bufio.Reader
	bodyLimitHit         func()
}

func (s *httpScraper) scrape(ctx context.Context) (*http.Response, error) {
	if s.req == nil {
		req, err := http.NewRequest(http.MethodGet, s.target.URL().String(), http.NoBody)
		if err != nil {
			return nil, err
		}
		req.Header.Add("Accept", s.acceptHeader)
		req.Header.Add("Accept-Encoding", s.acceptEncodingHeader)
		req.Header.Set("User-Agent", scrape.UserAgent)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.FormatFloat(s.timeout.Seconds(), 'f', -1, 64))
		s.req = req
	}
	return s.client.Do(s.req.WithContext(ctx))
}

// readResponse reads the (decompressed) body into a buffer from bufs and
// returns it (to be returned to bufs once parsed, also on error) with the
// Content-Type. last is the size of the target's last body.
func (s *httpScraper) readResponse(resp *http.Response, bufs *bodyBuffers, last int) ([]byte, string, error) {
	defer func() {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("server returned HTTP status %s", resp.Status)
	}
	limit := s.bodySizeLimit
	if limit <= 0 {
		limit = math.MaxInt64
	}
	var reader io.Reader = resp.Body
	encoding := resp.Header.Get("Content-Encoding")
	switch encoding {
	case "gzip":
		if s.gzipr == nil {
			s.buf = bufio.NewReader(resp.Body)
			var err error
			if s.gzipr, err = gzip.NewReader(s.buf); err != nil {
				s.gzipr = nil
				return nil, "", err
			}
		} else {
			s.buf.Reset(resp.Body)
			if err := s.gzipr.Reset(s.buf); err != nil {
				return nil, "", err
			}
		}
		defer func() { _ = s.gzipr.Close() }()
		reader = s.gzipr
	case "zstd":
		// Prometheus decodes zstd only behind a feature flag that flow
		// does not set; it fails the scrape the same way.
		return nil, "", errZstdNotEnabled
	}
	b := bufs.get(bodySizeHint(resp.ContentLength, encoding != "" && encoding != "identity", last, s.bodySizeLimit))
	b, err := readBody(io.LimitReader(reader, limit), b)
	if err != nil {
		return b, "", err
	}
	if int64(len(b)) >= limit {
		if s.bodyLimitHit != nil {
			s.bodyLimitHit()
		}
		return b, "", errBodySizeLimit
	}
	return b, resp.Header.Get("Content-Type"), nil
}

// acceptHeader is Prometheus' Accept header for the protocols, in order of
// preference.
func acceptHeader(sps []config.ScrapeProtocol, scheme model.EscapingScheme) string {
	var vals []string
	weight := len(config.ScrapeProtocolsHeaders) + 1
	for _, sp := range sps {
		val := config.ScrapeProtocolsHeaders[sp]
		if sp == config.PrometheusText1_0_0 || sp == config.OpenMetricsText1_0_0 || sp == config.OpenMetricsText2_0_0 {
			val += ";" + model.EscapingKey + "=" + scheme.String()
		}
		val += fmt.Sprintf(";q=0.%d", weight)
		vals = append(vals, val)
		weight--
	}
	vals = append(vals, fmt.Sprintf("*/*;q=0.%d", weight))
	return strings.Join(vals, ",")
}

func acceptEncodingHeader(enableCompression bool) string {
	if enableCompression {
		return "gzip"
	}
	return "identity"
}

// newClient is the scrape client of a job (and, with socketPath, of the
// targets reached through that unix socket).
func newClient(cfg config_util.HTTPClientConfig, name, socketPath string, opts []config_util.HTTPClientOption) (*http.Client, error) {
	if socketPath != "" {
		opts = append([]config_util.HTTPClientOption{config_util.WithDialContextFunc(
			func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", socketPath)
			},
		)}, opts...)
	}
	client, err := config_util.NewClientFromConfig(cfg, name, opts...)
	if err != nil {
		return nil, fmt.Errorf("error creating HTTP client: %w", err)
	}
	return client, nil
}

// targetHash identifies a target as Prometheus' Target.hash does: its
// labels (all of them, reserved ones included) and its URL.
func targetHash(lset labels.Labels, t *scrape.Target) uint64 {
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%016d", lset.Hash())
	_, _ = h.Write([]byte(t.URL().String()))
	return h.Sum64()
}

// offset is the time until the target's next scrape slot: its hash spreads
// targets over the interval, as Prometheus' Target.offset does.
func offset(hash uint64, interval time.Duration, seed uint64) time.Duration {
	now := time.Now().UnixNano()
	var (
		base = int64(interval) - now%int64(interval)
		off  = (hash ^ seed) % uint64(interval)
		next = base + int64(off)
	)
	if next > int64(interval) {
		next -= int64(interval)
	}
	return time.Duration(next)
}
