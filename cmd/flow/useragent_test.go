package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/childproc"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// TestUserAgentIsTheBinarysVersion: the real binary's scrape requests carry
// "flow/<version>" with the version `flow version` of the same binary
// prints (both come from internal/build, set at link time or by Go's build
// info).
func TestUserAgentIsTheBinarysVersion(t *testing.T) {
	var mu sync.Mutex
	var agents []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.Header.Get("User-Agent"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = io.WriteString(w, "# TYPE ua_test gauge\nua_test 1\n")
	}))
	defer target.Close()

	out, err := childproc.Command(flowproc.Build(t), "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(out)) // "flow <version> <go version>"
	if len(fields) < 2 || fields[0] != "flow" {
		t.Fatalf("flow version printed %q", out)
	}
	want := "flow/" + fields[1]

	cfg := filepath.Join(t.TempDir(), "config.river")
	must(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`prometheus.relabel "sink" {
  forward_to = []
}

prometheus.scrape "s" {
  targets         = [{"__address__" = %q}]
  forward_to      = [prometheus.relabel.sink.receiver]
  scrape_interval = "200ms"
  scrape_timeout  = "200ms"
}
`, strings.TrimPrefix(target.URL, "http://"))), 0o644))
	startFlow(t, cfg, 30*time.Second)
	testwait.Eventually(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(agents) > 0
	}, "a scrape")
	mu.Lock()
	defer mu.Unlock()
	for _, ua := range agents {
		if ua != want {
			t.Fatalf("User-Agent %q, want %q (flow version: %q)", ua, want, strings.TrimSpace(string(out)))
		}
	}
}
