// Package realtarget serves the realistic shape of scrape target that
// flow's metrics benchmarks use (bench/metrics, and the scrape path's go
// test benchmarks): values that change on every scrape, five labels plus
// the name (job and instance come on top) and about 125 bytes per
// exposition line, 8 metric families of 250 series each with HELP and TYPE,
// as real exporters serve them.
package realtarget

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Target serves the series of one target. The exposition is
// rendered once with a fixed-width (zero-padded, 12 digits) value field per
// line; each scrape overwrites just those digits, so values change on every
// scrape while serving costs the benchmark process little CPU (at 500k
// series, formatting every line anew took a core of the 2-core machine,
// and the scrapes timed out for flow and the agent alike).
type Target struct {
	ln     net.Listener
	srv    *http.Server
	mu     sync.Mutex
	body   []byte
	values []int // offset of each line's value field in body
	gauge  []bool
	scrape int64
}

const valueWidth = 12

var (
	realNames = []string{"http_server_requests_total", "http_server_request_duration_seconds_sum",
		"process_open_connections", "rpc_client_handled_total", "db_pool_connections_in_use",
		"queue_messages_processed_total", "cache_lookups_total", "jvm_memory_pool_bytes_used"}
	realNamespaces = []string{"payments", "checkout", "inventory", "search", "identity", "shipping"}
	realMethods    = []string{"GET", "POST", "PUT", "DELETE"}
	realCodes      = []string{"200", "201", "204", "400", "404", "500", "503"}
)

// Start starts target number idx (which tells its pods apart from other
// targets') with n series on a local port.
func Start(idx, n int) (*Target, error) {
	t := &Target{}
	const perFamily = 250 // lines per metric family
	for i := 0; i < n; i++ {
		fam := i / perFamily
		name := fmt.Sprintf("%s_%d", realNames[fam%len(realNames)], fam/len(realNames))
		gauge := fam%len(realNames) == 2 || fam%len(realNames) == 4 || fam%len(realNames) == 7
		if i%perFamily == 0 {
			typ := "counter"
			if gauge {
				typ = "gauge"
			}
			t.body = fmt.Appendf(t.body, "# HELP %s Synthetic %s of a realistic exporter.\n# TYPE %s %s\n", name, typ, name, typ)
		}
		// Five labels (six with the name; job and instance come on top);
		// about 125 bytes with the value.
		t.body = fmt.Appendf(t.body, `%s{namespace="%s",pod="api-%02d-%05x",method="%s",code="%s",route="/v1/r%04d"} `,
			name, realNamespaces[(i/7)%len(realNamespaces)], idx, i*2654435761%0xfffff,
			realMethods[i%len(realMethods)], realCodes[(i/4)%len(realCodes)], i%10000)
		t.values = append(t.values, len(t.body))
		t.body = append(t.body, strings.Repeat("0", valueWidth)...)
		t.body = append(t.body, '\n')
		t.gauge = append(t.gauge, gauge)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t.ln = ln
	t.srv = &http.Server{Handler: http.HandlerFunc(t.serve)}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

func (t *Target) serve(w http.ResponseWriter, _ *http.Request) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.scrape++
	k := t.scrape
	for i, off := range t.values {
		var v int64
		if t.gauge[i] {
			v = (int64(i)*7919 + k*104729) % 100000
		} else {
			v = int64(i) + k*int64(1+i%13)
		}
		// Zero-padded decimal, written from the right.
		f := t.body[off : off+valueWidth]
		for j := valueWidth - 1; j >= 0; j-- {
			f[j] = byte('0' + v%10)
			v /= 10
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(t.body)))
	_, _ = w.Write(t.body)
}

// Addr is the target's host:port.
func (t *Target) Addr() string { return t.ln.Addr().String() }

// Close stops the target.
func (t *Target) Close() { _ = t.srv.Close() }

// Scrapes is how many times the target was scraped.
func (t *Target) Scrapes() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.scrape
}

// AvgLineBytes is the mean length of a sample line, for reports.
func (t *Target) AvgLineBytes() float64 {
	n := 0
	for i, off := range t.values {
		start := 0
		if i > 0 {
			start = t.values[i-1] + valueWidth + 1
		}
		n += off + valueWidth + 1 - start
	}
	return float64(n) / float64(len(t.values))
}
