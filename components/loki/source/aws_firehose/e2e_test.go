package awsfirehose

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/fakeloki"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// TestMain removes the flow binary TestAttackMixFlowBinary builds.
func TestMain(m *testing.M) { flowproc.Main(m) }

// rssLimit bounds flow's peak RSS under the attack mix: the 128 MiB
// max_inflight_size (which counts released memory until it is collected,
// see memBudget), flow's baseline and its collector headroom (about 100
// MiB), and the Go runtime's overhead (stacks, spans not yet returned),
// with margin: measured 231–255 MiB on a loaded machine (issue 9's goal was
// 512 MiB; 426–607 MiB before released memory was counted until collected).
const rssLimit = 384 << 20

// procMemory reads VmRSS and VmHWM (peak RSS) of a process, in bytes.
func procMemory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		for name, dst := range map[string]*int64{"VmRSS:": &rss, "VmHWM:": &hwm} {
			if v, ok := strings.CutPrefix(line, name); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				*dst = kb << 10
			}
		}
	}
	return rss, hwm, nil
}

// attackMixDuration is how long the mix runs (ATTACK_MIX_DURATION=2m for a
// longer measurement).
func attackMixDuration(t *testing.T) time.Duration {
	if s := os.Getenv("ATTACK_MIX_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("ATTACK_MIX_DURATION: %v", err)
		}
		return d
	}
	return 20 * time.Second
}

// TestAttackMixFlowBinary runs the built flow with a Firehose source (no
// access key, the default) writing to Loki, fires every attack of issue 9
// at once — 30 requests declaring 64 MiB that send no body, requests of 80
// gzip records of 16 MiB each, records of millions of empty events,
// concurrent 1 MB gzip bombs, bodies that trickle in — and checks that
// flow's peak RSS (VmHWM) stays under rssLimit (384 MiB) while legitimate requests,
// sent as Firehose sends them, are accepted and reach Loki.
func TestAttackMixFlowBinary(t *testing.T) {
	testwait.Long(t, "a mix of attacks on a flow binary")
	lk, err := fakeloki.Start(fakeloki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	port := flowproc.FreePort(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "config.river")
	err = os.WriteFile(config, []byte(fmt.Sprintf(`
loki.source.aws_firehose "in" {
	http {
		listen_address = "127.0.0.1"
		listen_port    = %d
		// Shorter than the default 30s, so that slow bodies are cut off
		// (and start again) within the run.
		server_timeout = "5s"
	}
	labels {
		job = "attack-mix"
	}
	forward_to = [loki.write.out.receiver]
}

loki.write "out" {
	endpoint {
		url = %q
	}
}
`, port, lk.URL())), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p := flowproc.Start(t, config)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	url := "http://" + addr + PushPath
	// The endpoint is up once a legitimate request is accepted.
	deliverLikeFirehose(t, url, time.Minute)

	// Build the attacks before measuring (they take CPU to build).
	many, tiny, bomb := manyGzipRecordsBody(), tinyEventsBody(), gzipBombBody()
	_, baseline, err := procMemory(p.Pid())
	if err != nil {
		t.Fatal(err)
	}

	// Sample RSS throughout; past 1.5 GiB flow is killed to spare the
	// machine (the build before the fix got there within seconds).
	var peak int64
	var killed atomic.Int64 // nanoseconds into the attack when flow was killed
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	start := time.Now()
	defer func() {
		if k := killed.Load(); k > 0 {
			t.Errorf("flow's RSS passed %d MiB %v into the attacks: it was killed", 3*rssLimit>>20, time.Duration(k).Round(time.Millisecond))
		}
	}()
	go func() {
		defer close(sampled)
		for {
			rss, _, err := procMemory(p.Pid())
			if err == nil && rss > peak {
				peak = rss
			}
			if rss > 3*rssLimit {
				killed.Store(int64(time.Since(start)))
				p.Kill()
				return
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()

	a := newAttacker(url, addr)
	a.headerOnly(t, 30, 64<<20)
	a.loop("many-records", 4, many, "")
	a.loop("tiny-events", 2, tiny, "")
	a.loop("bomb", 8, bomb, "gzip")
	a.slowBody(10, 100*time.Millisecond)

	duration := attackMixDuration(t)
	var firsts []time.Duration
	var slowest time.Duration
	delivered := 0
	for time.Since(start) < duration {
		select {
		case <-p.Done():
			t.Fatalf("flow died under the attacks (peak RSS %d MiB); its stderr:\n%s", peak>>20, tail(p.Stderr(), 2000))
		default:
		}
		first, ok := deliverLikeFirehose(t, url, legitWithin)
		firsts = append(firsts, first)
		slowest = max(slowest, ok)
		delivered++
		t.Logf("legitimate request %d: first answer after %v, accepted after %v", delivered, first.Round(time.Millisecond), ok.Round(time.Millisecond))
		time.Sleep(time.Second)
	}
	a.close()
	close(stopSampling)
	<-sampled
	_, hwm, err := procMemory(p.Pid())
	if err != nil {
		t.Fatalf("flow is gone (peak RSS seen %d MiB): %v", peak>>20, err)
	}
	t.Logf("attack answers over %v: %s", duration, a.summary())
	slices.Sort(firsts)
	t.Logf("flow RSS: %d MiB before the attacks, peak (VmHWM) %d MiB, limit %d MiB", baseline>>20, hwm>>20, rssLimit>>20)
	t.Logf("%d legitimate requests: first answer median %v, max %v; slowest accepted after %v",
		delivered, firsts[len(firsts)/2].Round(time.Millisecond), firsts[len(firsts)-1].Round(time.Millisecond), slowest.Round(time.Millisecond))
	if hwm > rssLimit {
		t.Errorf("flow's peak RSS was %d MiB under the attack mix, over %d MiB", hwm>>20, rssLimit>>20)
	}
	for _, shape := range []string{"many-records", "tiny-events", "bomb", "slow-body"} {
		if a.answered(shape) == 0 {
			t.Errorf("the %s attack was never answered: %s", shape, a.summary())
		}
	}
	// Every accepted request reached Loki: 200 legitimate requests of 200 events.
	_, perRequest := legitBody()
	if err := lk.WaitForEntries(int64((delivered+1)*perRequest), time.Minute); err != nil {
		t.Errorf("accepted entries did not all reach Loki: %v", err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
