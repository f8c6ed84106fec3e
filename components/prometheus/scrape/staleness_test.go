package scrape

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"

	"github.com/flow-telemetry/flow/components/prometheus/internal/promtest"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// A series that disappears from its target gets a staleness marker in
// every receiver of forward_to, with one receiver or several. (Prometheus'
// scrape loop tracks staleness by the series reference the append returns;
// with two receivers the fanout used to return 0, and no marker was ever
// written.)
func TestStalenessMarkersWithSeveralReceivers(t *testing.T) {
	var drop atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		body := "# TYPE kept gauge\nkept 1\n"
		if !drop.Load() {
			body += "# TYPE going gauge\ngoing{pod=\"a\"} 2\n"
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")

	for _, n := range []int{1, 2} {
		recs := make([]*promtest.Recorder, n)
		forward := make([]storage.Appendable, n)
		for i := range recs {
			recs[i] = promtest.NewRecorder()
			forward[i] = recs[i]
		}
		drop.Store(false)
		a := fastArgs(nil, map[string]string{"__address__": addr})
		a.ForwardTo = forward
		startScrape(t, "prometheus.scrape.stale", a)
		testwait.Eventually(t, 15*time.Second, func() bool {
			for _, r := range recs {
				if s, ok := find(r, "going", addr); !ok || value.IsStaleNaN(s.V) {
					return false
				}
			}
			return true
		}, "%d receivers: every receiver got a sample of the series", n)
		drop.Store(true)
		testwait.Eventually(t, 15*time.Second, func() bool {
			for _, r := range recs {
				if s, ok := find(r, "going", addr); !ok || !value.IsStaleNaN(s.V) {
					return false
				}
			}
			return true
		}, "%d receivers: every receiver got a staleness marker for the series that disappeared", n)
		for i, r := range recs {
			if r.RefMismatches != 0 {
				t.Errorf("%d receivers: receiver %d was handed %d references of another series", n, i, r.RefMismatches)
			}
		}
	}
}

// After forward_to changes, the scrape loops' cached series references
// (issued by the old receiver) never reach the new one: a receiver may
// trust a reference without comparing labels (Prometheus' agent WAL, which
// prometheus.remote_write used until walw's own WAL, does), so the samples
// would land in whichever of its series has that number.
func TestForwardToChangeDoesNotLeakReferences(t *testing.T) {
	tg := newTarget(t, "moving", 1)
	a, b := promtest.NewRecorder(), promtest.NewRecorder()
	// b already holds series under the numbers a hands out.
	for _, name := range []string{"b_one", "b_two", "b_three", "b_four", "b_five", "b_six"} {
		app := b.Appender(t.Context())
		if _, err := app.Append(0, labels.FromStrings("__name__", name), 1, 1); err != nil {
			t.Fatal(err)
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	args := fastArgs(a, map[string]string{"__address__": tg.addr()})
	c := startScrape(t, "prometheus.scrape.switch", args)
	testwait.Eventually(t, 15*time.Second, func() bool { _, ok := find(a, "moving", tg.addr()); return ok }, "first receiver got the target's samples")

	args.ForwardTo = []storage.Appendable{b}
	if err := c.Update(args); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 15*time.Second, func() bool {
		s, ok := find(b, "moving", tg.addr())
		return ok && s.V == 1
	}, "second receiver got the target's samples")
	if b.RefMismatches != 0 {
		t.Errorf("the new receiver was handed %d references the old one issued", b.RefMismatches)
	}
}
