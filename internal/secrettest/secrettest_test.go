package secrettest

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// recorder is a testing.TB that keeps its errors instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, format)
}

func TestNoneShown(t *testing.T) {
	var r recorder
	NoneShown(&r, []string{"GET /x?token=xxxxx failed: 403", "clean"}, []string{"hunter2"}, []string{"403", "xxxxx"})
	if len(r.errs) != 0 {
		t.Errorf("clean output reported: %v", r.errs)
	}
	r.errs = nil
	NoneShown(&r, []string{"user:hunter2@host failed"}, []string{"hunter2"}, []string{"403"})
	if len(r.errs) != 2 || !strings.Contains(r.errs[0], "secret") || !strings.Contains(r.errs[1], "did not run") {
		t.Errorf("a shown secret and a missing observation gave %q", r.errs)
	}
}

func TestExpositionHasLabelValues(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sent_total", Help: "h"}, []string{"url"})
	reg.MustRegister(c)
	c.WithLabelValues("http://u:xxxxx@h/").Inc()
	if got := Exposition(t, reg); !strings.Contains(got, `sent_total{url="http://u:xxxxx@h/"} 1`) {
		t.Errorf("exposition:\n%s", got)
	}
}
