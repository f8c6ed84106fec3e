package cluster

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/httpfixture"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// testNode is a Node served by its own HTTP server on loopback.
type testNode struct {
	*Node
	addr   string
	srv    *http.Server
	cancel context.CancelFunc
	done   chan struct{}
	logs   *flowproc.LockedBuffer
	reg    *prometheus.Registry
}

type nodeOpt func(*Options)

func withJoin(addrs ...string) nodeOpt {
	return func(o *Options) { o.JoinAddresses = addrs }
}

// startNode starts a node named name listening on addr ("" for a free
// loopback port), serving it over HTTP like cmd/flow does.
func startNode(t *testing.T, name, addr string, tlsCfg *TLSConfig, opts ...nodeOpt) *testNode {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	// A restarted node's port may still be closing.
	if _, ok := testwait.Poll(30*time.Second, func() bool { ln, err = net.Listen("tcp", addr); return err == nil }); !ok {
		t.Fatal(err)
	}
	tn := &testNode{addr: ln.Addr().String(), logs: &flowproc.LockedBuffer{}, reg: prometheus.NewRegistry(), done: make(chan struct{})}
	o := Options{
		Name:          name,
		AdvertiseAddr: tn.addr,
		TLS:           tlsCfg,
		Logger:        testLoggerTo(tn.logs),
		Registerer:    tn.reg,
		DefaultPort:   ln.Addr().(*net.TCPAddr).Port,
	}
	for _, f := range opts {
		f(&o)
	}
	n, err := New(o)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	tn.Node = n
	tn.srv = &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	ConfigureServer(tn.srv)
	if tlsCfg != nil {
		ln = TLSListener(ln, tlsCfg.Server)
	}
	go tn.srv.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	tn.cancel = cancel
	go func() {
		defer close(tn.done)
		n.Run(ctx)
	}()
	t.Cleanup(func() {
		tn.stop()
		// Without -v the nodes' logs are only kept: a failure shows them.
		if t.Failed() && !testing.Verbose() {
			t.Logf("node %s (%s) logged:\n%s", name, tn.addr, tn.logs)
		}
	})
	return tn
}

// stop leaves cleanly.
func (tn *testNode) stop() {
	tn.cancel()
	<-tn.done
	tn.Leave()
	tn.srv.Close()
}

// kill stops the node as kill -9 would: no goodbye, the port goes dead.
func (tn *testNode) kill() {
	tn.cancel()
	<-tn.done
	tn.srv.Close()
	tn.ml.Shutdown()
	tn.mu.Lock()
	tn.left = true
	tn.mu.Unlock()
}

func peersOf(n *testNode) []string { return n.Ownership().Peers() }

func waitPeers(t *testing.T, timeout time.Duration, want []string, nodes ...*testNode) time.Duration {
	t.Helper()
	slices.Sort(want)
	return testwait.Eventually(t, timeout, func() bool {
		for _, n := range nodes {
			if !n.Ownership().Ready() || !slices.Equal(peersOf(n), want) {
				return false
			}
		}
		return true
	}, "every node sees participants %v", want)
}

func targetSet(n int) []map[string]string {
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{"__address__": fmt.Sprintf("10.0.%d.%d:9100", i/256, i%256), "job": "node"}
	}
	return out
}

// checkExactlyOneOwner asserts that every node computes the same owner for
// every target and that exactly one node owns it.
func checkExactlyOneOwner(t *testing.T, targets []map[string]string, nodes ...*testNode) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, tg := range targets {
		owners := 0
		first := nodes[0].Ownership().Owner(tg)
		for _, n := range nodes {
			if o := n.Ownership().Owner(tg); o != first {
				t.Fatalf("target %v: %s says owner %q, %s says %q", tg, nodes[0].Name(), first, n.Name(), o)
			}
			if n.Ownership().Owns(tg) {
				owners++
			}
		}
		if owners != 1 {
			t.Fatalf("target %v is owned by %d nodes, want exactly 1", tg, owners)
		}
		counts[first]++
	}
	return counts
}

func TestThreeNodesShareTargets(t *testing.T) {
	a := startNode(t, "a", "", nil)
	b := startNode(t, "b", "", nil, withJoin(a.addr))
	c := startNode(t, "c", "", nil, withJoin(a.addr, b.addr))
	// Viewers own nothing.
	testwait.Eventually(t, 30*time.Second, func() bool {
		return a.ml.NumMembers() == 3 && b.ml.NumMembers() == 3 && c.ml.NumMembers() == 3
	}, "all three know each other")
	if p := peersOf(a); len(p) != 0 {
		t.Fatalf("before any node participates, participants = %v", p)
	}
	if a.Ownership().Owns(targetSet(1)[0]) {
		t.Fatal("a viewer owns a target")
	}
	for _, n := range []*testNode{a, b, c} {
		n.Participate()
	}
	waitPeers(t, 30*time.Second, []string{"a", "b", "c"}, a, b, c)
	targets := targetSet(300)
	counts := checkExactlyOneOwner(t, targets, a, b, c)
	for name, n := range counts {
		if n < 70 || n > 130 {
			t.Errorf("%s owns %d of 300 targets, want about 100", name, n)
		}
	}

	// The API view: peers, their states and how many targets each owns.
	a.SetTargets("prometheus.scrape.default", targets)
	st := a.Status()
	if !st.Ready || st.Node != "a" || len(st.Peers) != 3 {
		t.Fatalf("status = %+v", st)
	}
	total := 0
	for _, p := range st.Peers {
		if p.State != StateParticipant || p.Health != "alive" || p.Targets != counts[p.Name] {
			t.Errorf("peer %+v, want participant, alive, %d targets", p, counts[p.Name])
		}
		total += p.Targets
	}
	if total != 300 || len(st.Components) != 1 || st.Components[0].Total != 300 {
		t.Errorf("targets counted %d, components %+v", total, st.Components)
	}
	owners := a.Targets()
	if len(owners) != 300 || owners[0].Owner != a.Ownership().Owner(targets[0]) {
		t.Errorf("Targets() = %d entries, first %+v", len(owners), owners[0])
	}
	a.SetTargets("prometheus.scrape.default", nil)
	if len(a.Status().Components) != 0 {
		t.Error("SetTargets(nil) left the component listed")
	}
	if got := testutil.ToFloat64(a.metrics.peers.WithLabelValues("participant")); got != 3 {
		t.Errorf("cluster_node_peers{state=participant} = %v", got)
	}
}

// startThree starts participants a, b and c (b and c join a) and waits
// until each sees all three.
func startThree(t *testing.T) (a, b, c *testNode) {
	t.Helper()
	a = startNode(t, "a", "", nil)
	b = startNode(t, "b", "", nil, withJoin(a.addr))
	c = startNode(t, "c", "", nil, withJoin(a.addr))
	for _, n := range []*testNode{a, b, c} {
		n.Participate()
	}
	waitPeers(t, 30*time.Second, []string{"a", "b", "c"}, a, b, c)
	return a, b, c
}

func TestCleanLeaveMovesTargetsAtOnce(t *testing.T) {
	a, b, c := startThree(t)
	changes, cancel := a.Subscribe()
	defer cancel()
	start := time.Now()
	c.stop()
	// A clean leave is gossiped at once; no failure detection involved.
	d := waitPeers(t, 5*time.Second, []string{"a", "b"}, a, b)
	t.Logf("a clean leave reached both peers in %v", time.Since(start))
	_ = d
	select {
	case <-changes:
	default:
		t.Error("the subscriber was not told of the change")
	}
	checkExactlyOneOwner(t, targetSet(300), a, b)
}

// TestKilledPeerIsDeclaredDead: a peer that stops answering (kill -9) is
// dropped by the survivors within the bound stated in the package comment,
// T(3) = 6 s; the test allows 20 s for a loaded machine and logs the time
// with the survivor's health score (memberlist stretches its probes by it).
func TestKilledPeerIsDeclaredDead(t *testing.T) {
	a, b, c := startThree(t)
	start := time.Now()
	score := a.ml.GetHealthScore()
	c.kill()
	waitPeers(t, 20*time.Second, []string{"a", "b"}, a, b)
	d := time.Since(start)
	t.Logf("a killed peer was dropped by both survivors after %v (bound 6s; a's health score at the kill: %d)", d, score)
	checkExactlyOneOwner(t, targetSet(300), a, b)

	// It comes back on the same address under the same name, and takes
	// its share again.
	c2 := startNode(t, "c", c.addr, nil, withJoin(a.addr))
	c2.Participate()
	t.Logf("c is back after %v", waitPeers(t, 30*time.Second, []string{"a", "b", "c"}, a, b, c2))
	checkExactlyOneOwner(t, targetSet(300), a, b, c2)
}

func TestRestartOnNewAddressReclaimsName(t *testing.T) {
	a := startNode(t, "a", "", nil)
	b := startNode(t, "b", "", nil, withJoin(a.addr))
	a.Participate()
	b.Participate()
	waitPeers(t, 30*time.Second, []string{"a", "b"}, a, b)
	score := a.ml.GetHealthScore()
	start := time.Now()
	b.kill()
	waitPeers(t, 20*time.Second, []string{"a"}, a)
	t.Logf("b was declared dead after %v (a's health score at the kill: %d)", time.Since(start), score)
	// A new pod IP, the same name.
	b2 := startNode(t, "b", "", nil, withJoin(a.addr), func(o *Options) { o.RejoinInterval = time.Second })
	b2.Participate()
	waitPeers(t, 30*time.Second, []string{"a", "b"}, a, b2)
}

func TestWaitForSize(t *testing.T) {
	a := startNode(t, "a", "", nil, func(o *Options) { o.WaitForSize = 2 })
	a.Participate()
	testwait.Eventually(t, 20*time.Second, func() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.joinDone }, "a finished its (empty) join")
	if ok, why := a.Ready(); ok || !strings.Contains(why, "--cluster.wait-for-size") {
		t.Fatalf("alone with wait-for-size 2: Ready = %v, %q", ok, why)
	}
	if a.Ownership().Owns(targetSet(1)[0]) || a.Ownership().Owner(targetSet(1)[0]) != "" {
		t.Fatal("a node waiting for its cluster's size owns a target")
	}
	b := startNode(t, "b", "", nil, withJoin(a.addr), func(o *Options) { o.WaitForSize = 2 })
	b.Participate()
	waitPeers(t, 30*time.Second, []string{"a", "b"}, a, b)
	if ok, _ := a.Ready(); !ok {
		t.Fatal("not ready with 2 participants")
	}
	// Once reached, the size is not required again: survivors of a
	// shrinking fleet keep working.
	b.stop()
	waitPeers(t, 30*time.Second, []string{"a"}, a)
}

func TestWaitTimeout(t *testing.T) {
	a := startNode(t, "a", "", nil, func(o *Options) { o.WaitForSize = 5; o.WaitTimeout = 300 * time.Millisecond })
	a.Participate()
	waitPeers(t, 30*time.Second, []string{"a"}, a)
	if !strings.Contains(a.logs.String(), "wait-timeout") {
		t.Errorf("no warning about the timeout in the log:\n%s", a.logs)
	}
}

func TestOtherClusterNameNeverMerges(t *testing.T) {
	a := startNode(t, "a", "", nil, func(o *Options) { o.ClusterName = "prod" })
	b := startNode(t, "b", "", nil, withJoin(a.addr), func(o *Options) { o.ClusterName = "staging"; o.RejoinInterval = 200 * time.Millisecond })
	a.Participate()
	b.Participate()
	testwait.Eventually(t, 15*time.Second, func() bool {
		return strings.Contains(b.logs.String(), "cluster name mismatch")
	}, "b logged the refusal")
	time.Sleep(2 * time.Second) // several rejoins
	if a.ml.NumMembers() != 1 || b.ml.NumMembers() != 1 {
		t.Fatalf("clusters merged: a knows %d members, b %d", a.ml.NumMembers(), b.ml.NumMembers())
	}
	if got := testutil.ToFloat64(a.metrics.refused.WithLabelValues("cluster_name")); got == 0 {
		t.Error("a counted no refusal")
	}
	// b still owns everything on its own (it found no peer).
	if ok, _ := b.Ready(); !ok {
		t.Error("b, alone after a refused join, is not ready")
	}
}

func TestTLSPeerWithoutTheCACannotJoin(t *testing.T) {
	ca := httpfixture.NewCA(t)
	a := startNode(t, "a", "", peerTLS(t, ca))
	b := startNode(t, "b", "", peerTLS(t, ca), withJoin(a.addr))
	a.Participate()
	b.Participate()
	waitPeers(t, 30*time.Second, []string{"a", "b"}, a, b)

	intruder := startNode(t, "x", "", peerTLS(t, httpfixture.NewCA(t)), withJoin(a.addr), func(o *Options) { o.RejoinInterval = 200 * time.Millisecond })
	intruder.Participate()
	time.Sleep(2 * time.Second)
	if a.ml.NumMembers() != 2 || intruder.ml.NumMembers() != 1 {
		t.Fatalf("a peer with another CA joined: a knows %d members, the intruder %d", a.ml.NumMembers(), intruder.ml.NumMembers())
	}
	// Without TLS at all, same.
	plain := startNode(t, "p", "", nil, withJoin(a.addr))
	plain.Participate()
	time.Sleep(time.Second)
	if a.ml.NumMembers() != 2 {
		t.Fatalf("a plain-HTTP peer joined a TLS cluster")
	}
}

// TestJoinAddressesResolveEveryAddress runs a real DNS server on loopback
// whose name has two A records, and checks that a join address naming it
// stands for both, with the default port where none is given.
func TestJoinAddressesResolveEveryAddress(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc("peers.flow.test.", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Question[0].Qtype == dns.TypeA {
			for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.ParseIP(ip)})
			}
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go srv.ActivateAndServe()
	defer srv.Shutdown()
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}

	a := startNode(t, "a", "", nil)
	port := a.addr[strings.LastIndex(a.addr, ":")+1:]
	var lookups atomic.Int32
	lookup := func(ctx context.Context, host string) ([]string, error) {
		lookups.Add(1)
		return resolver.LookupHost(ctx, host)
	}
	b := startNode(t, "b", "", nil, withJoin("peers.flow.test:"+port, "peers.flow.test", "127.0.0.9:1"), func(o *Options) {
		o.LookupHost = lookup
		o.DefaultPort = 9999
	})
	addrs, errs := b.resolve(context.Background())
	want := []string{"127.0.0.1:" + port, "127.0.0.1:9999", "127.0.0.2:" + port, "127.0.0.2:9999", "127.0.0.9:1"}
	if !slices.Equal(addrs, want) || len(errs) != 0 {
		t.Fatalf("resolved %v (errors %v), want %v", addrs, errs, want)
	}
	// b joined a through the name.
	a.Participate()
	b.Participate()
	waitPeers(t, 30*time.Second, []string{"a", "b"}, a, b)
	if lookups.Load() == 0 {
		t.Error("the resolver was never asked")
	}
	// A name that does not resolve is reported, not fatal.
	c := startNode(t, "c", "", nil, withJoin("nowhere.flow.test", a.addr), func(o *Options) { o.LookupHost = lookup })
	_, errs = c.resolve(context.Background())
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "nowhere.flow.test") {
		t.Errorf("errors for an unknown name: %v", errs)
	}
}

func TestAdvertiseAddressMustBeReachable(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:12345", "host.example:12345", "127.0.0.1", "127.0.0.1:0", "[::]:80"} {
		_, err := New(Options{Name: "a", AdvertiseAddr: addr})
		if err == nil || !strings.Contains(err.Error(), "--cluster.advertise-address") {
			t.Errorf("advertise %q: err = %v, want an error naming the flag", addr, err)
		}
	}
}
