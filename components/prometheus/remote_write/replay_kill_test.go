package remotewrite

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promproc"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// holdingProxy forwards remote-write requests to a receiver and counts
// them; the request numbered holdAt is held (not forwarded) until released,
// then answered 503, so a test can kill the sender in the middle of a scrape
// that is partly delivered.
type holdingProxy struct {
	srv      *http.Server
	url      string
	requests atomic.Int64
	holdAt   int64
	held     chan struct{}
	release  chan struct{}
	once     sync.Once
}

func newHoldingProxy(t *testing.T, target string, holdAt int64) *holdingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &holdingProxy{holdAt: holdAt, held: make(chan struct{}), release: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(u)
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := p.requests.Add(1); n == p.holdAt {
			close(p.held)
			<-p.release
			http.Error(w, "held by the test", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	})
	port := promproc.FreePort(t)
	p.url = "http://127.0.0.1:" + strconv.Itoa(port) + "/api/v1/write"
	p.srv = &http.Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.ListenAndServe() }()
	t.Cleanup(func() {
		p.unhold()
		_ = p.srv.Close()
	})
	return p
}

func (p *holdingProxy) unhold() { p.once.Do(func() { close(p.release) }) }

var replayLine = regexp.MustCompile(`msg="replayed samples left in the WAL".* samples=(\d+) maybe_delivered_before=(\d+) requests=(\d+) already_there_or_refused=(\d+)`)

// TestKill9ReplayBatches: 20,000 series scraped every second are sent to
// Prometheus (Remote-Write 1.0, which refuses a whole request for one sample
// older than it holds). The sender is killed with kill -9 while a scrape is
// partly delivered (4 of its 10 requests). After the restart the replay
// resends that scrape in ordinary batches (10 requests of 2,000, not 20,000
// requests of one), Prometheus takes the samples it had as duplicates, and
// every committed sample is in Prometheus.
func TestKill9ReplayBatches(t *testing.T) {
	testwait.Long(t, "kill -9 of a flow binary during WAL replay")
	const series = 20000
	prom := promproc.StartPrometheus(t)
	// 10 requests per scrape: hold the 5th request of the 4th scrape.
	proxy := newHoldingProxy(t, prom.URL(), 3*10+5)
	data, logPath := t.TempDir(), filepath.Join(t.TempDir(), "committed.log")

	c1 := startChildWith(t, &testLogWriter{t: t}, data, proxy.url, logPath, series, "FLOW_RW_TICK=1s")
	select {
	case <-proxy.held:
	case <-time.After(120 * time.Second):
		t.Fatalf("only %d requests within 120s", proxy.requests.Load())
	}
	c1.kill(t)
	proxy.unhold()
	before := proxy.requests.Load()
	ts := committed(t, logPath)
	t.Logf("killed after %d committed scrapes, %d requests", len(ts), before)

	// The restarted process commits nothing: every request it sends is
	// the replay's.
	logs := &logCapture{t: t}
	c2 := startChildWith(t, logs, data, proxy.url, logPath, 0, "FLOW_RW_TICK=1s", "FLOW_RW_LOG_INFO=1")
	var m []string
	testwait.Eventually(t, 120*time.Second, func() bool {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		m = replayLine.FindStringSubmatch(logs.b.String())
		return m != nil
	}, "the replay did not finish within 120s")
	c2.stop(t)
	samples, _ := strconv.Atoi(m[1])
	uncertain, _ := strconv.Atoi(m[2])
	requests, _ := strconv.Atoi(m[3])
	refused, _ := strconv.Atoi(m[4])
	seen := proxy.requests.Load() - before
	t.Logf("replay: %d samples (%d maybe delivered before), %d requests (the receiver saw %d), %d refused", samples, uncertain, requests, seen, refused)
	if uncertain < series {
		t.Fatalf("only %d samples were in the uncertain window; the kill did not land in a partly delivered scrape", uncertain)
	}
	// 2,000 samples per request (max_samples_per_send), plus a partial
	// batch or two.
	if limit := samples/2000 + 3; int(seen) > limit {
		t.Errorf("the replay of %d samples took %d requests, want at most %d", samples, seen, limit)
	}
	if int64(requests) != seen {
		t.Errorf("the replay counted %d requests, the receiver saw %d", requests, seen)
	}

	// Every committed sample is in Prometheus, once.
	span := int(time.Since(time.UnixMilli(ts[0])).Seconds()) + 60
	res, err := promproc.Query(prom, fmt.Sprintf("count_over_time(test_metric[%ds])", span))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != series {
		t.Fatalf("Prometheus has %d series, want %d", len(res), series)
	}
	for _, s := range res {
		if int(s.Value) != len(ts) {
			t.Fatalf("series %s: %v samples in Prometheus, %d committed", s.Metric["series"], s.Value, len(ts))
		}
	}
}
