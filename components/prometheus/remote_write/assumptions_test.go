package remotewrite

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	common "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/storage/remote"

	"github.com/flow-telemetry/flow/components/prometheus/internal/rwtest"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// flow's remote_write sends through its own queue (internal/queue) on
// Prometheus' public packages. What it still assumes about Prometheus'
// behaviour beyond their signatures is checked here, so that an upgrade
// that changes one fails this test by name instead of showing up as lost
// or duplicated samples. (The log messages logtap.go watches for are
// checked by TestPrometheusRepairIsReported.)
func TestPrometheusInternalsAssumptions(t *testing.T) {
	// client.go: remote.NewWriteClient returns a *remote.Client, whose
	// exported Client field carries flow's transport (signing, health).
	u, _ := url.Parse("http://127.0.0.1:1/api/v1/write")
	wc, err := remote.NewWriteClient("a", &remote.ClientConfig{
		URL: &common.URL{URL: u}, Timeout: model.Duration(time.Second), RetryOnRateLimit: true,
		WriteProtoMsg: remoteapi.WriteV1MessageType,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := wc.(*remote.Client); !ok {
		t.Fatalf("remote.NewWriteClient returned %T, want *remote.Client", wc)
	}

	// The queue retries exactly what Prometheus' client marks as
	// remote.RecoverableError: 5xx and 429 (with RetryOnRateLimit), not
	// other 4xx.
	status := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	su, _ := url.Parse(srv.URL)
	wc, err = remote.NewWriteClient("b", &remote.ClientConfig{
		URL: &common.URL{URL: su}, Timeout: model.Duration(5 * time.Second), RetryOnRateLimit: true,
		WriteProtoMsg: remoteapi.WriteV1MessageType,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		status int
		retry  bool
	}{{503, true}, {500, true}, {429, true}, {400, false}, {404, false}} {
		status = c.status
		_, err := wc.Store(context.Background(), []byte{0}, 0)
		var rec remote.RecoverableError
		if got := errors.As(err, &rec); got != c.retry || recoverable(err) != c.retry {
			t.Errorf("status %d: recoverable %v, want %v (err %v)", c.status, got, c.retry, err)
		}
	}
}

// TestWALKeepsWhatSomeEndpointHasNotReceived: the WAL is truncated behind
// the lowest delivery marker over the endpoints (lowestDelivered), so a
// receiver that is down holds truncation back for everyone.
func TestWALKeepsWhatSomeEndpointHasNotReceived(t *testing.T) {
	up := rwtest.Start(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer down.Close()
	args := testArgs(up.URL())
	second := testArgs(down.URL).Endpoints[0]
	second.Name = "down"
	args.Endpoints = append(args.Endpoints, second)
	c, recv, _ := start(t, args)
	before := c.lowestDelivered()
	g := newGenerator(recv, 5)
	testwait.Eventually(t, 20*time.Second, func() bool {
		g.tick(t)
		return up.Stats().Samples >= 20
	}, "samples at the receiver that is up")
	c.flushMarkers(time.Now())
	trs := *c.trackers.Load()
	upM, _ := trs["test"].state()
	downM, _ := trs["down"].state()
	if upM <= before {
		t.Fatalf("the marker of the endpoint that is up did not move (%d, was %d)", upM, before)
	}
	if low := c.lowestDelivered(); low != downM || low >= upM {
		t.Fatalf("lowestDelivered = %d; want the marker of the endpoint that is down (%d), below the other's (%d)", low, downM, upM)
	}
	if err := c.Update(testArgs(up.URL())); err != nil {
		t.Fatal(err)
	}
	if low := c.lowestDelivered(); low < upM {
		t.Fatalf("with only the endpoint that is up, lowestDelivered = %d, want at least its marker %d", low, upM)
	}
}
