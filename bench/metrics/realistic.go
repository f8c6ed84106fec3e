package main

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// The realistic shape, as real exporters serve it: several targets, values
// that change on every scrape, 5–6 labels per series and about 125 bytes
// per exposition line. (The light shape, one target with constant values and
// three short labels, is the other case.)

// realTarget serves series series of one target. Each scrape renders the
// exposition again: the label part of every line is prepared once, the
// value (a counter that grows, or a gauge that moves) is written per scrape.
type realTarget struct {
	ln     net.Listener
	srv    *http.Server
	prefix [][]byte // per line: `name{labels} `
	header map[int][]byte
	gauge  []bool
	scrape atomic.Int64
	pool   sync.Pool
}

var (
	realNames = []string{"http_server_requests_total", "http_server_request_duration_seconds_sum",
		"process_open_connections", "rpc_client_handled_total", "db_pool_connections_in_use",
		"queue_messages_processed_total", "cache_lookups_total", "jvm_memory_pool_bytes_used"}
	realNamespaces = []string{"payments", "checkout", "inventory", "search", "identity", "shipping"}
	realMethods    = []string{"GET", "POST", "PUT", "DELETE"}
	realCodes      = []string{"200", "201", "204", "400", "404", "500", "503"}
)

// startRealTarget starts target number idx of a realistic setup with n
// series.
func startRealTarget(idx, n int) (*realTarget, error) {
	t := &realTarget{header: map[int][]byte{}}
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
			t.header[i] = []byte(fmt.Sprintf("# HELP %s Synthetic %s of a realistic exporter.\n# TYPE %s %s\n", name, typ, name, typ))
		}
		// Five labels (six with the name; job and instance come on top);
		// about 125 bytes with the value.
		line := fmt.Sprintf(`%s{namespace="%s",pod="api-%02d-%05x",method="%s",code="%s",route="/v1/r%04d"} `,
			name, realNamespaces[(i/7)%len(realNamespaces)], idx, i*2654435761%0xfffff,
			realMethods[i%len(realMethods)], realCodes[(i/4)%len(realCodes)], i%10000)
		t.prefix = append(t.prefix, []byte(line))
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

func (t *realTarget) serve(w http.ResponseWriter, _ *http.Request) {
	k := t.scrape.Add(1)
	bp, _ := t.pool.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, 140*len(t.prefix))
		bp = &b
	}
	b := (*bp)[:0]
	for i, p := range t.prefix {
		if h, ok := t.header[i]; ok {
			b = append(b, h...)
		}
		b = append(b, p...)
		if t.gauge[i] {
			b = strconv.AppendFloat(b, float64((int64(i)*7919+k*104729)%100000)/100, 'f', -1, 64)
		} else {
			b = strconv.AppendInt(b, int64(i)+k*int64(1+i%13), 10)
		}
		b = append(b, '\n')
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
	*bp = b
	t.pool.Put(bp)
}

func (t *realTarget) addr() string { return t.ln.Addr().String() }
func (t *realTarget) close()       { _ = t.srv.Close() }

// avgLineBytes is the mean length of a sample line, for the report.
func (t *realTarget) avgLineBytes() float64 {
	n := 0
	for _, p := range t.prefix {
		n += len(p) + 8
	}
	return float64(n) / float64(len(t.prefix))
}
