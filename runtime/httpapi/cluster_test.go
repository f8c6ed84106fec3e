package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flow-telemetry/flow/internal/httpfixture"
	tc "github.com/flow-telemetry/flow/internal/testcomponents"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/cluster"
	"github.com/flow-telemetry/flow/runtime/cluster/clustertest"
	"github.com/flow-telemetry/flow/runtime/flowtest"
	"github.com/flow-telemetry/flow/runtime/httpapi"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return httpfixture.Do(t, nil, req)
}

// TestReadyWaitsForTheCluster: with --cluster.wait-for-size=2, /-/ready
// stays 503 (saying why) after the config loaded, until a second agent
// participates; the cluster API and the gossip endpoints are served by
// the same handler, behind the same guard.
func TestReadyWaitsForTheCluster(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	node, err := cluster.New(cluster.Options{
		Name: "agent-a", AdvertiseAddr: ln.Addr().String(), ClusterName: "prod", WaitForSize: 2,
		Registerer: reg, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	rt := runtime.New(runtime.Options{Registerer: reg, DataPath: t.TempDir(), Cluster: node, Registry: flowtest.Registry(t, tc.New().Registrations()...)})
	if diags := rt.Load(map[string][]byte{"main.river": []byte(baseConfig)}); diags.HasErrors() {
		t.Fatal(diags)
	}
	api := httpapi.New(httpapi.Options{Runtime: rt, Gatherer: reg, Cluster: node, ListenAddr: ln.Addr().String()})
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	cluster.ConfigureServer(srv)
	go srv.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { node.Run(ctx); close(done) }()
	go rt.Run(ctx)
	t.Cleanup(func() { cancel(); <-done; node.Leave(); srv.Close() })
	node.Participate()
	base := "http://" + ln.Addr().String()

	var code int
	var body string
	if _, ok := testwait.Poll(20*time.Second, func() bool {
		code, body = get(t, base+"/-/ready")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "waiting for 2 cluster peers")
	}); !ok {
		t.Fatalf("/-/ready = %d %q, want 503 waiting for 2 cluster peers", code, body)
	}
	_, body = get(t, base+"/api/v0/cluster/peers")
	var st cluster.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Ready || st.NotReady == "" || st.Node != "agent-a" || st.ClusterName != "prod" {
		t.Errorf("status while waiting = %+v", st)
	}

	// A packet for another cluster is refused through the API's handler.
	req, _ := http.NewRequest(http.MethodPost, base+cluster.PacketPath, strings.NewReader("x"))
	req.Header.Set("Flow-Cluster-Name", "staging")
	req.Header.Set("Flow-Cluster-From", "127.0.0.1:1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(msg), "cluster name mismatch") {
		t.Errorf("packet for another cluster: %d %q", resp.StatusCode, msg)
	}

	// A second agent of the cluster joins: ready.
	b := clustertest.StartWith(t, cluster.Options{Name: "agent-b", ClusterName: "prod", JoinAddresses: []string{ln.Addr().String()}})
	_ = b
	if _, ok := testwait.Poll(30*time.Second, func() bool {
		code, body = get(t, base+"/-/ready")
		return code == http.StatusOK
	}); !ok {
		t.Fatalf("/-/ready = %d %q after the second agent joined", code, body)
	}
	_, body = get(t, base+"/api/v0/cluster/peers")
	st = cluster.Status{}
	json.Unmarshal([]byte(body), &st)
	if len(st.Peers) != 2 || !st.Ready {
		t.Errorf("status when ready = %+v", st)
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{`cluster_node_peers{state="participant"} 2`, "cluster_node_ready 1", "cluster_transport_rx_packets_total", `cluster_transport_refused_total{reason="cluster_name"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestClusterAPIWithoutClustering: the cluster endpoints answer "off"
// rather than 404, so the UI can say how to turn clustering on.
func TestClusterAPIWithoutClustering(t *testing.T) {
	t.Parallel()
	e := start(t, true)
	code, body, _ := e.do(http.MethodGet, "/api/v0/cluster/peers", "")
	if code != http.StatusOK || !strings.Contains(body, `"enabled":false`) {
		t.Errorf("/api/v0/cluster/peers = %d %s", code, body)
	}
	code, body, _ = e.do(http.MethodGet, "/api/v0/cluster/targets", "")
	if code != http.StatusOK || !strings.Contains(body, `"targets":[]`) {
		t.Errorf("/api/v0/cluster/targets = %d %s", code, body)
	}
	code, _, _ = e.do(http.MethodPost, cluster.PacketPath, "x")
	if code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("the gossip endpoint answers %d with clustering off", code)
	}
}
