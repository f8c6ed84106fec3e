// Package secrettest checks that nothing a component shows (logs, health,
// debug info, errors, metrics) holds one of its secrets. It is shared by
// the secrets tests of loki.write and prometheus.remote_write, which put
// passwords, tokens and secret headers through failures and reloads.
package secrettest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Exposition returns what g's /metrics would show, in the text format:
// every metric name, label value and help text.
func Exposition(t testing.TB, g prometheus.Gatherer) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// NoneShown fails t for each secret that any of shown contains (quoting the
// text around it), and for each of observed that none contains: those are
// the failures and masked values the test means to have gone through, so a
// missing one says the scenario did not run and the check proves nothing.
func NoneShown(t testing.TB, shown, secrets, observed []string) {
	t.Helper()
	all := strings.Join(shown, "\n")
	for _, s := range secrets {
		if i := strings.Index(all, s); i >= 0 {
			lo, hi := max(0, i-300), min(len(all), i+len(s)+100)
			t.Errorf("secret %q shown:\n%s", s, all[lo:hi])
		}
	}
	for _, want := range observed {
		if !strings.Contains(all, want) {
			t.Errorf("nothing observed mentions %q: the scenario did not run", want)
		}
	}
}
