package scrapeloop

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/scrape"
)

func TestBodyBuffersFreeList(t *testing.T) {
	b := newBodyBuffers(2)
	x := b.get(10 << 10)
	if cap(x) != 10<<10 {
		t.Fatalf("new buffer: cap %d, want exactly the size asked, %d", cap(x), 10<<10)
	}
	if y := b.get(10); cap(y) != minBodyBuffer {
		t.Fatalf("small request: cap %d, want the minimum %d", cap(y), minBodyBuffer)
	}
	big, mid, small := make([]byte, 5, 300<<10), make([]byte, 0, 200<<10), make([]byte, 0, 100<<10)
	b.put(mid)
	b.put(small)
	b.put(big) // the list is full: the smallest goes
	if n, total := b.idle(); n != 2 || total != 500<<10 {
		t.Fatalf("idle: %d buffers, %d bytes; want 2 and %d (the two largest)", n, total, 500<<10)
	}
	b.put(make([]byte, 0, 50<<10)) // smaller than all: dropped
	if n, total := b.idle(); n != 2 || total != 500<<10 {
		t.Fatalf("idle after a smaller put: %d buffers, %d bytes; want 2 and %d", n, total, 500<<10)
	}
	// The smallest buffer that fits, emptied.
	if g := b.get(150 << 10); cap(g) != 200<<10 || len(g) != 0 {
		t.Fatalf("get(150 KiB): len %d cap %d, want the empty 200 KiB buffer", len(g), cap(g))
	}
	if g := b.get(400 << 10); cap(g) != 400<<10 {
		t.Fatalf("get(400 KiB) with only a 300 KiB buffer free: cap %d, want a new one of 400 KiB", cap(g))
	}
	if n, _ := b.idle(); n != 1 {
		t.Fatalf("idle: %d buffers, want 1 (the 300 KiB one)", n)
	}
}

func TestBodySizeHint(t *testing.T) {
	for _, c := range []struct {
		cl      int64
		encoded bool
		last    int
		limit   int64
		want    int
	}{
		{1000, false, 0, 0, 1000 + readSlack},           // the length, as sent
		{1000, true, 800, 0, 800 + 100 + readSlack},     // gzip: the length is the compressed one
		{-1, false, 800, 0, 800 + 100 + readSlack},      // chunked
		{1000, false, 800, 1000, 800 + 100 + readSlack}, // at the limit: the read fails anyway
		{1 << 30, false, 0, 0, readSlack},               // a length no body has backed: not trusted
		{64 << 20, false, 20 << 20, 0, 64<<20 + readSlack},
	} {
		if got := bodySizeHint(c.cl, c.encoded, c.last, c.limit); got != c.want {
			t.Errorf("bodySizeHint(%d, %v, %d, %d) = %d, want %d", c.cl, c.encoded, c.last, c.limit, got, c.want)
		}
	}
}

// TestBodyBuffersSizedByTheBody scrapes real targets over HTTP, one sending
// Content-Length, one chunked, one gzip-compressed, and checks that every
// sample arrives and that the buffers kept fit their bodies: exactly (the
// length plus the read slack) when the length is sent, within the growth
// of one read otherwise; Prometheus' bucketed pool kept 2.19 MB buffers for
// 1.27 MB bodies, and grew some by doubling.
func TestBodyBuffersSizedByTheBody(t *testing.T) {
	const series = 3000
	var exposition bytes.Buffer
	for i := range series {
		fmt.Fprintf(&exposition, "bench_metric_total{pod=\"api-%05d\",route=\"/v1/r%04d\"} %d\n", i, i%1000, i)
	}
	body := exposition.Bytes()
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write(body)
	_ = zw.Close()

	const contentType = "text/plain; version=0.0.4; charset=utf-8"
	mux := http.NewServeMux()
	mux.HandleFunc("/length", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		for i := 0; i < len(body); i += 32 << 10 {
			_, _ = w.Write(body[i:min(len(body), i+32<<10)])
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(zipped.Bytes())
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, path := range []string{"/length", "/chunked", "/gzip"} {
		t.Run(path[1:], func(t *testing.T) {
			sink := &countSink{}
			logger := slog.New(slog.DiscardHandler)
			p, err := New(Options{Logger: logger, Registerer: prometheus.NewRegistry(), Appendable: sink})
			if err != nil {
				t.Fatal(err)
			}
			cfg, _ := config.Load("", logger)
			sc := config.DefaultScrapeConfig
			sc.JobName = "buf"
			sc.ScrapeInterval = model.Duration(100 * time.Millisecond)
			sc.ScrapeTimeout = model.Duration(100 * time.Millisecond)
			sc.MetricsPath, sc.Scheme = path, "http"
			sc.MetricNameValidationScheme = model.LegacyValidation
			sc.MetricNameEscapingScheme = model.EscapeUnderscores
			if err := sc.Validate(config.DefaultGlobalConfig); err != nil {
				t.Fatal(err)
			}
			cfg.ScrapeConfigs = []*config.ScrapeConfig{&sc}
			if err := p.ApplyConfig(cfg); err != nil {
				t.Fatal(err)
			}
			ch := make(chan map[string][]*targetgroup.Group, 1)
			var wg sync.WaitGroup
			wg.Go(func() { _ = p.Run(ch) })
			ch <- map[string][]*targetgroup.Group{"buf": {{Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(srv.Listener.Addr().String())}}}}}
			// Four full scrapes (each also appends its report series).
			want := int64(4 * series)
			deadline := time.Now().Add(time.Minute)
			for sink.n.Load() < want {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d samples after a minute (machine overloaded?)", sink.n.Load(), want)
				}
				time.Sleep(20 * time.Millisecond)
			}
			p.Stop()
			wg.Wait()
			p.UnregisterMetrics()

			lo, hi := len(body)+readSlack, len(body)+readSlack
			if path != "/length" {
				// Grown by half from the minimum on the first scrape, or
				// asked as the last body plus an eighth.
				hi = len(body) + len(body)/2 + readSlack
			}
			p.buffers.mu.Lock()
			defer p.buffers.mu.Unlock()
			if n := len(p.buffers.free); n < 1 || n > 2 || (path == "/length" && n != 1) {
				t.Fatalf("%d idle buffers after scrapes of one target, want 1 (2 at most when the length is not sent)", n)
			}
			for _, f := range p.buffers.free {
				if cap(f) < lo || cap(f) > hi {
					t.Errorf("idle buffer of %d bytes for a body of %d, want %d to %d", cap(f), len(body), lo, hi)
				}
			}
		})
	}
}

// TestReadResponseBodySizeLimit checks body_size_limit over HTTP: a body
// at the limit fails the scrape (as Prometheus: the limit is exclusive),
// one byte under it is read, whatever length the target declares.
func TestReadResponseBodySizeLimit(t *testing.T) {
	body := bytes.Repeat([]byte("m 1\n"), 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("lie") != "" {
			w.Header().Set("Content-Length", "1073741824") // a gigabyte, then a short body
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	bufs := newBodyBuffers(2)
	for _, c := range []struct {
		query string
		limit int64
		fail  bool
	}{
		{"", int64(len(body)), true},
		{"", int64(len(body)) + 1, false},
		{"", 0, false},
		{"?lie=1", 0, true}, // the body ends before its declared length
	} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/"+c.query, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		s := &httpScraper{bodySizeLimit: c.limit, target: &scrape.Target{}}
		b, _, err := s.readResponse(resp, bufs, 0)
		if c.fail != (err != nil) {
			t.Fatalf("%s limit %d: err %v, want failure %v", c.query, c.limit, err, c.fail)
		}
		if c.limit > 0 && c.fail && err != errBodySizeLimit {
			t.Fatalf("limit %d: err %v, want %v", c.limit, err, errBodySizeLimit)
		}
		if !c.fail && !bytes.Equal(b, body) {
			t.Fatalf("limit %d: read %d bytes, want the %d of the body", c.limit, len(b), len(body))
		}
		if cap(b) > 1<<20 {
			t.Fatalf("%s: a %d-byte buffer for a %d-byte body", c.query, cap(b), len(body))
		}
		bufs.put(b)
	}
}

// TestCacheReservedForFirstScrape: a target's first scrape sizes its cache
// for the body's lines (3,000 series and their HELP and TYPE), so the
// entries are not grown by appending (garbage, and capacity beyond the
// series kept for good).
func TestCacheReservedForFirstScrape(t *testing.T) {
	const series = 3000
	var exposition bytes.Buffer
	exposition.WriteString("# HELP bench_metric_total A counter.\n# TYPE bench_metric_total counter\n")
	for i := range series {
		fmt.Fprintf(&exposition, "bench_metric_total{pod=\"api-%05d\",route=\"/v1/r%04d\"} %d\n", i, i%1000, i)
	}
	body := exposition.Bytes()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	sink := &countSink{}
	logger := slog.New(slog.DiscardHandler)
	p, err := New(Options{Logger: logger, Registerer: prometheus.NewRegistry(), Appendable: sink})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := config.Load("", logger)
	sc := config.DefaultScrapeConfig
	sc.JobName = "reserve"
	sc.ScrapeInterval = model.Duration(100 * time.Millisecond)
	sc.ScrapeTimeout = model.Duration(100 * time.Millisecond)
	sc.MetricsPath, sc.Scheme = "/metrics", "http"
	sc.MetricNameValidationScheme = model.LegacyValidation
	sc.MetricNameEscapingScheme = model.EscapeUnderscores
	if err := sc.Validate(config.DefaultGlobalConfig); err != nil {
		t.Fatal(err)
	}
	cfg.ScrapeConfigs = []*config.ScrapeConfig{&sc}
	if err := p.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	ch := make(chan map[string][]*targetgroup.Group, 1)
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.Run(ch) })
	ch <- map[string][]*targetgroup.Group{"reserve": {{Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(srv.Listener.Addr().String())}}}}}
	deadline := time.Now().Add(time.Minute)
	for sink.n.Load() < 2*series {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d samples after a minute (machine overloaded?)", sink.n.Load(), 2*series)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.tmu.Lock()
	var l *loop
	for _, l = range p.loops {
	}
	p.tmu.Unlock()
	p.Stop()
	wg.Wait()
	p.UnregisterMetrics()
	if l == nil {
		t.Fatal("no loop")
	}
	if got := len(l.cache.entries); got != series {
		t.Fatalf("%d cache entries, want %d", got, series)
	}
	if got, want := cap(l.cache.entries), series+2; got != want {
		t.Errorf("cache entries' capacity %d, want %d (the body's lines)", got, want)
	}
	for _, c := range []struct {
		body  string
		limit int
		want  int
	}{
		{strings.Repeat("a 1\n", 1000), 0, 4000 / 32},                              // short lines: one per 32 bytes
		{strings.Repeat("a_long_metric_name{with=\"labels\"} 1\n", 1000), 0, 1000}, // the lines
		{strings.Repeat("a_long_metric_name{with=\"labels\"} 1\n", 1000), 10, 11},  // sample_limit + 1
	} {
		if got := seriesEstimate([]byte(c.body), c.limit); got != c.want {
			t.Errorf("seriesEstimate(%d lines of %d bytes, limit %d) = %d, want %d", strings.Count(c.body, "\n"), len(c.body)/max(1, strings.Count(c.body, "\n")), c.limit, got, c.want)
		}
	}
}
