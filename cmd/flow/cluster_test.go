package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flow-telemetry/flow/internal/fakeaws"
	"github.com/flow-telemetry/flow/internal/fakeaws/awstest"
	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/httpfixture"
	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/cluster"
)

// The clustering tests run real `flow run` processes on loopback with one
// shared config: a prometheus.scrape with clustering over a fleet of
// targets served by this test, each scrape tagged with the agent's name
// (params = { agent = [sys.env("FLOW_AGENT")] }), so the targets record who
// scraped them and when.

const (
	scrapeInterval = time.Second
	// takeoverBound is the time within which a kill -9'd agent's targets
	// are scraped again by a survivor, on an idle machine: detection
	// T(3) = 6 s (runtime/cluster's package comment), 1.5 s to gossip the
	// death and sync the scrape pool, and one scrape interval. The tests
	// allow loadSlack times more, since CI shares two cores with other
	// suites, and log what they measured.
	takeoverBound = 6*time.Second + 1500*time.Millisecond + scrapeInterval
	loadSlack     = 3
)

// fleet is N metrics targets on one HTTP server with N loopback listeners.
type fleet struct {
	addrs  []string
	byPort map[string]int

	mu      sync.Mutex
	scrapes [][]scrapeEvent // by target index
}

type scrapeEvent struct {
	agent string
	at    time.Time
}

func newFleet(t testing.TB, n int) *fleet {
	t.Helper()
	f := &fleet{byPort: map[string]int{}, scrapes: make([][]scrapeEvent, n)}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		f.addrs = append(f.addrs, addr)
		_, port, _ := net.SplitHostPort(addr)
		f.byPort[port] = i
		go srv.Serve(ln)
	}
	t.Cleanup(func() { srv.Close() })
	return f
}

func (f *fleet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, port, _ := net.SplitHostPort(r.Host)
	i, ok := f.byPort[port]
	if !ok {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	f.scrapes[i] = append(f.scrapes[i], scrapeEvent{agent: r.URL.Query().Get("agent"), at: time.Now()})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "fleet_target %d\n", i)
}

// scrapers returns, for each target, the agents that scraped it in
// [from, to).
func (f *fleet) scrapers(from, to time.Time) []map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]map[string]int, len(f.scrapes))
	for i, evs := range f.scrapes {
		out[i] = map[string]int{}
		for _, e := range evs {
			if !e.at.Before(from) && e.at.Before(to) {
				out[i][e.agent]++
			}
		}
	}
	return out
}

// exactlyOne reports whether every target was scraped by exactly one agent
// in the window, and how many targets each agent scraped.
func exactlyOne(scr []map[string]int) (bool, map[string]int, string) {
	per := map[string]int{}
	for i, m := range scr {
		if len(m) != 1 {
			return false, per, fmt.Sprintf("target %d scraped by %v", i, m)
		}
		for a := range m {
			per[a]++
		}
	}
	return true, per, ""
}

// waitExactlyOne waits until a window of three scrape intervals has every
// target scraped by exactly one agent, and returns each agent's count.
func (f *fleet) waitExactlyOne(t testing.TB, timeout time.Duration) map[string]int {
	t.Helper()
	var why string
	var per map[string]int
	if _, ok := testwait.Poll(timeout, func() bool {
		start := time.Now()
		time.Sleep(3 * scrapeInterval)
		var ok bool
		ok, per, why = exactlyOne(f.scrapers(start.Add(scrapeInterval/2), time.Now()))
		return ok
	}); !ok {
		t.Fatalf("no window of %v within %v had every target scraped by exactly one agent; last: %s", 3*scrapeInterval, timeout, why)
	}
	return per
}

// maxGap is the longest time any target went unscraped in [from, to).
func (f *fleet) maxGap(from, to time.Time) (time.Duration, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var worst time.Duration
	worstTarget := -1
	for i, evs := range f.scrapes {
		last := from
		for _, e := range evs {
			if e.at.Before(from) || !e.at.Before(to) {
				continue
			}
			if g := e.at.Sub(last); g > worst {
				worst, worstTarget = g, i
			}
			last = e.at
		}
		if g := to.Sub(last); g > worst {
			worst, worstTarget = g, i
		}
	}
	return worst, worstTarget
}

func (f *fleet) config(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("prometheus.scrape \"fleet\" {\n  targets = [\n")
	for _, a := range f.addrs {
		fmt.Fprintf(&b, "    {\"__address__\" = %q, \"team\" = \"infra\"},\n", a)
	}
	fmt.Fprintf(&b, `  ]
  forward_to      = []
  scrape_interval = %q
  scrape_timeout  = "900ms"
  params          = { "agent" = [sys.env("FLOW_AGENT")] }
  clustering {
    enabled = true
  }
}
`, scrapeInterval.String())
	path := filepath.Join(t.TempDir(), "fleet.river")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startAgent runs one clustered agent named name, joining join.
func startAgent(t testing.TB, name, config string, join []string, extra ...string) *flowproc.Process {
	t.Helper()
	args := []string{"--cluster.enabled", "--cluster.node-name=" + name, "--cluster.rejoin-interval=2s"}
	if len(join) > 0 {
		args = append(args, "--cluster.join-addresses="+strings.Join(join, ","))
	}
	args = append(args, extra...)
	args = append(args, config)
	return flowproc.Options{Env: []string{"FLOW_AGENT=" + name}}.Start(t, args...)
}

func clusterStatus(t testing.TB, p *flowproc.Process) cluster.Status {
	t.Helper()
	resp, err := http.Get(p.URL() + "/api/v0/cluster/peers")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st cluster.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// participants are the names of the participating peers p sees.
func participants(t testing.TB, p *flowproc.Process) []string {
	var out []string
	for _, peer := range clusterStatus(t, p).Peers {
		if peer.State == cluster.StateParticipant {
			out = append(out, peer.Name)
		}
	}
	return out
}

func waitParticipants(t testing.TB, timeout time.Duration, want []string, ps ...*flowproc.Process) {
	t.Helper()
	var off *flowproc.Process
	var got []string
	if _, ok := testwait.Poll(timeout, func() bool {
		for _, p := range ps {
			if got = participants(t, p); !slices.Equal(got, want) {
				off = p
				return false
			}
		}
		return true
	}); !ok {
		t.Fatalf("%s sees participants %v, want %v; its stderr:\n%s", off.Addr(), got, want, off.Stderr())
	}
}

// owners maps each target address to its owner, as agent p's API says.
func owners(t testing.TB, p *flowproc.Process) map[string]string {
	t.Helper()
	resp, err := http.Get(p.URL() + "/api/v0/cluster/targets?component=prometheus.scrape.fleet")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Targets []cluster.TargetOwner `json:"targets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, tg := range body.Targets {
		out[tg.Labels["__address__"]] = tg.Owner
	}
	return out
}

// TestClusterSharesScrapesAndSurvivesKill is the scenario: three
// agents with one config share 300 targets, each scraped by exactly one;
// kill -9 one and its targets are scraped again by a survivor within the
// bound; start it again and it takes back about a third, with no duplicate
// scrapes beyond about one interval.
func TestClusterSharesScrapesAndSurvivesKill(t *testing.T) {
	testwait.Long(t, "a three-node cluster with a kill -9")
	f := newFleet(t, 300)
	cfg := f.config(t)
	a := startAgent(t, "a", cfg, nil)
	b := startAgent(t, "b", cfg, []string{a.Addr()})
	c := startAgent(t, "c", cfg, []string{a.Addr(), b.Addr()})
	waitParticipants(t, 30*time.Second, []string{"a", "b", "c"}, a, b, c)

	per := f.waitExactlyOne(t, 60*time.Second)
	t.Logf("3 agents: targets per agent %v", per)
	for _, name := range []string{"a", "b", "c"} {
		if per[name] < 70 || per[name] > 130 {
			t.Errorf("agent %s scrapes %d of 300 targets, want about 100", name, per[name])
		}
	}
	// The API agrees with what the targets saw.
	own := owners(t, a)
	win := f.scrapers(time.Now().Add(-2*scrapeInterval), time.Now())
	for i, addr := range f.addrs {
		if _, ok := win[i][own[addr]]; !ok && len(win[i]) > 0 {
			t.Fatalf("target %s: the API says %s owns it, but it was scraped by %v", addr, own[addr], win[i])
		}
	}
	st := clusterStatus(t, b)
	for _, p := range st.Peers {
		if p.Targets != per[p.Name] {
			t.Errorf("/api/v0/cluster/peers says %s owns %d targets; it scraped %d", p.Name, p.Targets, per[p.Name])
		}
	}

	// kill -9 c.
	var cTargets []int
	for i, addr := range f.addrs {
		if own[addr] == "c" {
			cTargets = append(cTargets, i)
		}
	}
	killed := time.Now()
	c.Kill()
	missing := 0
	if _, ok := testwait.Poll(loadSlack*takeoverBound-time.Since(killed), func() bool {
		scr := f.scrapers(killed, time.Now())
		missing = 0
		for _, i := range cTargets {
			if scr[i]["a"]+scr[i]["b"] == 0 {
				missing++
			}
		}
		return missing == 0
	}); !ok {
		t.Fatalf("%v after kill -9, %d of c's %d targets were not yet scraped by a survivor (bound %v)", time.Since(killed), missing, len(cTargets), takeoverBound)
	}
	takeover := time.Since(killed)
	t.Logf("kill -9: all %d of the dead agent's targets scraped again after %v (bound %v on an idle machine)", len(cTargets), takeover, takeoverBound)
	per = f.waitExactlyOne(t, 30*time.Second)
	if per["c"] != 0 || per["a"]+per["b"] != 300 {
		t.Fatalf("after the kill: %v", per)
	}
	if gap, i := f.maxGap(killed.Add(-2*scrapeInterval), time.Now()); gap > loadSlack*takeoverBound {
		t.Errorf("target %d went unscraped for %v", i, gap)
	} else {
		t.Logf("longest time a target went unscraped around the kill: %v", gap)
	}

	// c comes back under the same name and takes back about a third.
	restarted := time.Now()
	c2 := startAgent(t, "c", cfg, []string{a.Addr(), b.Addr()})
	waitParticipants(t, 60*time.Second, []string{"a", "b", "c"}, a, b, c2)
	per = f.waitExactlyOne(t, 60*time.Second)
	t.Logf("after the restart: targets per agent %v", per)
	if per["c"] < 70 || per["c"] > 130 {
		t.Errorf("the restarted agent took back %d of 300 targets, want about 100", per["c"])
	}
	// Duplicates during the hand-over: how long the old owner kept
	// scraping a target after c's first scrape of it.
	f.mu.Lock()
	var worstOverlap time.Duration
	for _, evs := range f.scrapes {
		var firstC time.Time
		for _, e := range evs {
			if e.agent == "c" && e.at.After(restarted) {
				firstC = e.at
				break
			}
		}
		if firstC.IsZero() {
			continue
		}
		for _, e := range evs {
			if e.agent != "c" && e.at.After(firstC) {
				worstOverlap = max(worstOverlap, e.at.Sub(firstC))
			}
		}
	}
	f.mu.Unlock()
	t.Logf("hand-over to the restarted agent: old owners scraped a moved target at most %v after its new owner", worstOverlap)
	if worstOverlap > scrapeInterval+2*time.Second {
		t.Errorf("a target was scraped by two agents for %v after it moved, want at most about one interval (%v)", worstOverlap, scrapeInterval)
	}
}

// TestClusterRollingRestart restarts three agents one at a time with
// SIGTERM: each leaves the cluster first, so its targets move at once and
// no target goes unscraped for longer than the bound.
func TestClusterRollingRestart(t *testing.T) {
	testwait.Long(t, "a rolling restart of a cluster")
	f := newFleet(t, 150)
	cfg := f.config(t)
	agents := map[string]*flowproc.Process{}
	agents["a"] = startAgent(t, "a", cfg, nil)
	agents["b"] = startAgent(t, "b", cfg, []string{agents["a"].Addr()})
	agents["c"] = startAgent(t, "c", cfg, []string{agents["a"].Addr()})
	all := []string{"a", "b", "c"}
	waitParticipants(t, 30*time.Second, all, agents["a"], agents["b"], agents["c"])
	f.waitExactlyOne(t, 60*time.Second)

	start := time.Now()
	for _, name := range all {
		if err := agents[name].Stop(10 * time.Second); err != nil {
			t.Fatalf("stopping %s: %v", name, err)
		}
		var others []string
		for _, o := range all {
			if o != name {
				others = append(others, agents[o].Addr())
			}
		}
		agents[name] = startAgent(t, name, cfg, others)
		waitParticipants(t, 60*time.Second, all, agents["a"], agents["b"], agents["c"])
	}
	per := f.waitExactlyOne(t, 60*time.Second)
	gap, target := f.maxGap(start, time.Now())
	t.Logf("rolling restart of 3 agents took %v; longest time a target went unscraped: %v (target %d); now %v", time.Since(start), gap, target, per)
	if gap > loadSlack*takeoverBound {
		t.Errorf("target %d went unscraped for %v during the rolling restart (bound %v)", target, gap, takeoverBound)
	}
}

// TestClusterRefusesStrangers: agents with TLS between them form a
// cluster; an agent whose certificate comes from another CA, one without
// TLS, and one with another --cluster.name never join it.
func TestClusterRefusesStrangers(t *testing.T) {
	f := newFleet(t, 10)
	cfg := f.config(t)
	ca, otherCA := httpfixture.NewCA(t), httpfixture.NewCA(t)
	tlsArgs := func(c *httpfixture.CA) []string {
		caFile, certFile, keyFile := c.PeerFiles(t, t.TempDir())
		return []string{"--cluster.enable-tls", "--cluster.tls-ca-path=" + caFile, "--cluster.tls-cert-path=" + certFile, "--cluster.tls-key-path=" + keyFile, "--cluster.name=prod"}
	}
	a := startAgent(t, "a", cfg, nil, tlsArgs(ca)...)
	b := startAgent(t, "b", cfg, []string{a.Addr()}, tlsArgs(ca)...)
	waitParticipants(t, 30*time.Second, []string{"a", "b"}, a, b)

	x := startAgent(t, "x", cfg, []string{a.Addr()}, tlsArgs(otherCA)...)
	y := startAgent(t, "y", cfg, []string{a.Addr()}, "--cluster.name=prod")
	zArgs := append(tlsArgs(ca)[:4], "--cluster.name=staging")
	z := startAgent(t, "z", cfg, []string{a.Addr()}, zArgs...)
	time.Sleep(5 * time.Second) // two rejoin intervals
	if got := participants(t, a); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("the TLS cluster's members: %v, want only a and b", got)
	}
	for _, p := range []*flowproc.Process{x, y, z} {
		st := clusterStatus(t, p)
		if len(st.Peers) != 1 {
			t.Errorf("stranger %s sees %d peers, want only itself: %+v", st.Node, len(st.Peers), st.Peers)
		}
	}
	if !strings.Contains(z.Stderr(), "cluster name mismatch") {
		t.Errorf("the agent with another --cluster.name did not log why it could not join:\n%s", z.Stderr())
	}
	// The operator's plain-HTTP API keeps working beside TLS.
	resp, err := http.Get(a.URL() + "/-/ready")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("plain HTTP /-/ready on a TLS agent: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestClusterFlagErrors(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "empty.river")
	os.WriteFile(cfg, nil, 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster.enabled", "--cluster.enable-tls"}, "--cluster.tls-ca-path"},
		{[]string{"--cluster.enabled", "--cluster.wait-for-size=-1"}, "--cluster.wait-for-size=-1"},
		{[]string{"--cluster.enabled", "--cluster.node-name="}, "--cluster.node-name"},
		{[]string{"--cluster.enabled", "--cluster.advertise-address=0.0.0.0:1"}, "--cluster.advertise-address"},
	} {
		var stderr strings.Builder
		args := append([]string{"--server.http.listen-addr=127.0.0.1:0", "--storage.path=" + t.TempDir()}, tc.args...)
		code := runCommand(append(args, cfg), &stderr)
		if code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("flow run %v: exit %d, stderr %q; want an error naming %s", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// TestClusterEC2CallRatePerPeer measures DescribeInstances calls: every
// clustered agent runs discovery.aws.ec2 with the same filters, so the
// fleet's calls grow with its size, but each agent's own rate must stay
// what a single agent makes. Instances point (through a tag and
// discovery.relabel) at loopback targets, so scrapes stay on this machine.
func TestClusterEC2CallRatePerPeer(t *testing.T) {
	testwait.Long(t, "four flow agents and two 4 s measurement windows (~20 s)")
	f := newFleet(t, 30)
	fake, _ := awstest.Start(t, fakeaws.Options{})
	awstest.SetKeys(t, fake.AddUser("agent"))
	var instances []fakeaws.Instance
	for i, addr := range f.addrs {
		instances = append(instances, fakeaws.Instance{
			ID: fmt.Sprintf("i-%017x", i+1), PrivateIP: "127.0.0.1", AvailabilityZone: "us-east-1a",
			Tags: []fakeaws.Tag{{Key: "addr", Value: addr}},
		})
	}
	fake.SetInstances(instances)
	cfg := filepath.Join(t.TempDir(), "ec2.river")
	if err := os.WriteFile(cfg, []byte(`
discovery.aws.ec2 "fleet" {
  region           = "us-east-1"
  refresh_interval = "500ms"
  filters          = [{ name = "instance-state-name", values = ["running"] }]
}

discovery.relabel "fleet" {
  targets = discovery.aws.ec2.fleet.targets
  rule {
    source_labels = ["__meta_ec2_tag_addr"]
    target_label  = "__address__"
  }
}

prometheus.scrape "fleet" {
  targets         = discovery.relabel.fleet.output
  forward_to      = []
  scrape_interval = "1s"
  scrape_timeout  = "900ms"
  params          = { "agent" = [sys.env("FLOW_AGENT")] }
  clustering {
    enabled = true
  }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	calls := func() int64 { return fake.Stats().ByAction["ec2:DescribeInstances"] }
	rate := func(agents int) float64 {
		const window = 4 * time.Second
		c0, t0 := calls(), time.Now()
		time.Sleep(window)
		return float64(calls()-c0) / time.Since(t0).Seconds() / float64(agents)
	}

	// One agent without clustering: today's rate.
	single := flowproc.Options{Env: []string{"FLOW_AGENT=single"}}.Start(t, cfg)
	f.waitExactlyOne(t, 30*time.Second)
	alone := rate(1)
	single.Stop(10 * time.Second)

	a := startAgent(t, "a", cfg, nil)
	b := startAgent(t, "b", cfg, []string{a.Addr()})
	c := startAgent(t, "c", cfg, []string{a.Addr()})
	waitParticipants(t, 30*time.Second, []string{"a", "b", "c"}, a, b, c)
	per := f.waitExactlyOne(t, 30*time.Second)
	perPeer := rate(3)
	t.Logf("DescribeInstances per agent: %.2f/s alone, %.2f/s per agent in a cluster of 3 (fleet total %.2f/s); targets %v",
		alone, perPeer, 3*perPeer, per)
	// Only the upper bound is a property of clustering; a loaded machine
	// (three agents now share it) can only make refreshes slower.
	if alone == 0 || perPeer == 0 || perPeer > 1.4*alone {
		t.Errorf("a clustered agent calls DescribeInstances %.2f/s, a single agent %.2f/s: want no more", perPeer, alone)
	}
}

// TestAdvertiseAddressDefaults: the advertised address is the listen
// address; for 0.0.0.0 it is an address of this host's interfaces (eth0's
// first, as Alloy's --cluster.advertise-interfaces default picks), never
// loopback; --cluster.advertise-address wins over both.
func TestAdvertiseAddressDefaults(t *testing.T) {
	advertised := func(c clusterFlags, listen string) (string, error) {
		addr, err := net.ResolveTCPAddr("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		c.enabled = true
		if c.nodeName == "" {
			c.nodeName = "n"
		}
		c.advertiseInterfaces = "eth0,en0"
		cl, err := newCluster(c, addr, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		if err != nil {
			return "", err
		}
		defer cl.node.Leave()
		return cl.node.Status().Advertise, nil
	}
	if got, err := advertised(clusterFlags{}, "127.0.0.1:12345"); err != nil || got != "127.0.0.1:12345" {
		t.Errorf("listening on 127.0.0.1:12345: advertised %q, %v", got, err)
	}
	if got, err := advertised(clusterFlags{advertiseAddr: "10.1.2.3:9000"}, "0.0.0.0:12345"); err != nil || got != "10.1.2.3:9000" {
		t.Errorf("with --cluster.advertise-address: advertised %q, %v", got, err)
	}
	// 0.0.0.0: one of this host's non-loopback addresses, with the port.
	var hostIPs []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			hostIPs = append(hostIPs, ipn.IP.String())
		}
	}
	got, err := advertised(clusterFlags{}, "0.0.0.0:12345")
	if len(hostIPs) == 0 {
		if err == nil || !strings.Contains(err.Error(), "--cluster.advertise-address") {
			t.Errorf("a host without a non-loopback address: advertised %q, err %v; want an error naming the flag", got, err)
		}
		return
	}
	host, port, _ := net.SplitHostPort(got)
	if err != nil || port != "12345" || !slices.Contains(hostIPs, host) {
		t.Errorf("listening on 0.0.0.0:12345: advertised %q (%v), want one of %v with port 12345", got, err, hostIPs)
	}
	if ifc, err := net.InterfaceByName("eth0"); err == nil {
		if eaddrs, _ := ifc.Addrs(); len(eaddrs) > 0 {
			if ipn, ok := eaddrs[0].(*net.IPNet); ok && ipn.IP.To4() != nil && host != ipn.IP.String() {
				t.Errorf("advertised %s, want eth0's first address %s", host, ipn.IP)
			}
		}
	}
}
