package logs

import (
	"fmt"
	"testing"
	"time"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/component"
	"github.com/flow-telemetry/flow/runtime/flowtest"
)

func pipelineConfig(port int, lokiURL string) string {
	return fmt.Sprintf(`
loki.source.aws_firehose "in" {
  http {
    listen_address = "127.0.0.1"
    listen_port    = %d
  }
  labels {
    job = "durability"
  }
  forward_to = [loki.write.out.receiver]
}

loki.write "out" {
  endpoint {
    url                = %q
    batch_wait         = "200ms"
    min_backoff_period = "100ms"
    max_backoff_period = "2s"
  }
}
`, port, lokiURL)
}

func startFakeLoki(t testing.TB) *fakeloki.Server {
	t.Helper()
	lk, err := fakeloki.Start(fakeloki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lk.Close)
	return lk
}

// TestLokiOutageOf60Seconds: Loki is unreachable for 60 s while Firehose
// keeps delivering; loki.write says so in its health, keeps every entry in
// its WAL, and delivers all of them once Loki is back.
func TestLokiOutageOf60Seconds(t *testing.T) {
	testwait.Long(t, "a 60 s outage")
	lk := startFakeLoki(t)
	port := flowproc.FreePort(t)
	fl := flowtest.Start(t, pipelineConfig(port, lk.URL()))
	url := fmt.Sprintf("http://127.0.0.1:%d/awsfirehose/api/v1/push", port)

	acks := newAckTracker()
	stop := make(chan struct{})
	done := make(chan struct{}, 4)
	for i := 0; i < 4; i++ {
		s := &fh.Sender{URL: url, Gzip: i%2 == 1}
		go func() { acks.run(s, i, 100, stop, 50*time.Millisecond); done <- struct{}{} }()
	}
	time.Sleep(2 * time.Second)
	before := acks.count()
	lk.Down()
	outageStart := time.Now()
	testwait.Eventually(t, 10*time.Second, func() bool {
		return fl.Health("loki.write.out").Health == component.HealthUnhealthy
	}, "loki.write unhealthy during the outage")
	t.Logf("during the outage: %s", fl.Health("loki.write.out").Message)
	time.Sleep(60*time.Second - time.Since(outageStart))
	during := acks.count() - before
	if err := lk.Up(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	for i := 0; i < 4; i++ {
		<-done
	}
	acks.checkAllArrived(t, lk, 60*time.Second)
	fl.WaitHealthy(t, "loki.write.out", 10*time.Second)
	if during < 1000 {
		t.Fatalf("only %d lines acknowledged during the outage: the source should keep accepting into the WAL", during)
	}
	st := lk.Stats()
	t.Logf("%d lines acknowledged (%d during the 60 s outage), all delivered; Loki received %d entries (%d duplicates)",
		acks.count(), during, st.Entries, st.Entries-int64(acks.count()))
}

// TestKill9DuringDelivery runs the real flow binary, kills it with SIGKILL
// while Firehose requests are in flight and Loki has a backlog to catch up
// on, restarts it on the same storage, and checks that every line flow had
// acknowledged with 200 reaches Loki.
func TestKill9DuringDelivery(t *testing.T) {
	testwait.Long(t, "kill -9 and restart of a flow binary during delivery (~35 s)")
	lk := startFakeLoki(t)
	port := flowproc.FreePort(t)
	k := kill9DuringDelivery(t, lk, port, pipelineConfig(port, lk.URL()), func(url string, _ int) *fh.Sender {
		return &fh.Sender{URL: url}
	})
	if int64(k.ackedAtKill) <= k.deliveredAtKill {
		t.Logf("note: Loki had already caught up at the kill (%d acknowledged, %d delivered)", k.ackedAtKill, k.deliveredAtKill)
	}
	t.Logf("killed with %d lines acknowledged and %d delivered; after restart all %d acknowledged lines arrived (%d requests retried by the sender)",
		k.ackedAtKill, k.deliveredAtKill, k.acks.count(), k.acks.failed.Load())
}

// kill9Run is what kill9DuringDelivery saw.
type kill9Run struct {
	acks            *ackTracker
	ackedAtKill     int   // lines flow had acknowledged at the kill
	deliveredAtKill int64 // lines Loki had received at the kill
}

// kill9DuringDelivery runs flow with cfg (its Firehose source on port) and
// four senders (sender(url, i)) pushing to it; takes Loki down for 1.5 s so
// that a backlog builds up in the WAL; 300 ms after Loki is back, while the
// backlog is being delivered, kills flow with SIGKILL and restarts it on
// the same storage; stops the senders 1.5 s later; and checks that every
// line flow acknowledged with 200 reached Loki.
func kill9DuringDelivery(t *testing.T, lk *fakeloki.Server, port int, cfg string, sender func(url string, i int) *fh.Sender) kill9Run {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	storage := t.TempDir()
	p := startFlow(t, cfg, storage, addr)
	k := kill9Run{acks: newAckTracker()}
	stop := make(chan struct{})
	done := make(chan struct{}, 4)
	url := "http://" + addr + "/awsfirehose/api/v1/push"
	for i := 0; i < 4; i++ {
		s := sender(url, i)
		go func() { k.acks.run(s, i, 200, stop, 0); done <- struct{}{} }()
	}
	time.Sleep(1500 * time.Millisecond)
	lk.Down() // a backlog builds up in the WAL
	time.Sleep(1500 * time.Millisecond)
	if err := lk.Up(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // delivery of the backlog under way
	k.ackedAtKill = k.acks.count()
	p.Kill()
	k.deliveredAtKill = lk.Stats().Entries

	startFlow(t, cfg, storage, addr)
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	for i := 0; i < 4; i++ {
		<-done
	}
	k.acks.checkAllArrived(t, lk, 60*time.Second)
	return k
}
