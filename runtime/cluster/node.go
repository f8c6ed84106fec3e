// Package cluster is flow's clustering: agents that run one shared config
// find each other with hashicorp/memberlist (SWIM gossip: membership and
// failure detection) and split the targets of components that enable
// clustering, each target owned by exactly one live peer by rendezvous
// hashing of its label set (package rendezvous).
//
// memberlist's packets and streams travel over HTTP/2 on flow's own HTTP
// server (see transport.go for the wire format), so a node is addressed by
// its --server.http.listen-addr and a cluster needs no extra port.
//
// # Node states
//
// A node starts as a viewer: it gossips and knows its peers but owns no
// targets. After the first successful config load it becomes a participant
// and takes its share. On a clean shutdown it becomes terminating, tells its
// peers, and leaves, so its targets move at once. Only participants own
// targets; a suspect peer (missed probes, not yet declared dead) keeps its
// targets, so a slow peer does not make targets flap.
//
// # Failure detection
//
// A peer killed with kill -9 is declared dead by memberlist within
//
//	T(n) = (n-1)·ProbeInterval + ProbeInterval + suspicion
//
// where the first term is the worst wait until some survivor probes it,
// the second covers the failed direct and indirect probes, and the
// suspicion timeout is SuspicionMult·max(1, log10 n)·ProbeInterval = 4 s,
// at most SuspicionMaxTimeoutMult (2) times that (8 s) in clusters of 4 or
// more, where confirmations from other peers shorten it. With the timing
// below: 6 s for 3 peers, 18 s for 10 (worst case; a few seconds in
// practice). The dead peer's targets then move within one gossip round and
// a target-sync interval (about 1 s), and the new owner scrapes them at its
// next scrape_interval tick.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flow-telemetry/flow/runtime/cluster/rendezvous"
	"github.com/flow-telemetry/flow/runtime/component"
)

// Gossip timing. memberlist's LAN defaults except the suspicion ceiling,
// lowered from 6 to 2 times the minimum so a dead peer's targets move within
// the bound stated in the package comment.
const (
	ProbeInterval           = time.Second
	ProbeTimeout            = 500 * time.Millisecond
	SuspicionMult           = 4
	SuspicionMaxTimeoutMult = 2
	// pushPullInterval is how often a node exchanges its whole member list
	// with a random peer (memberlist's default is 30 s). Small fleets can
	// afford it more often, which heals partitions and address changes
	// sooner.
	pushPullInterval = 10 * time.Second
	// leaveTimeout bounds the goodbye broadcast at shutdown.
	leaveTimeout = 5 * time.Second
)

// State is a node's role.
type State string

const (
	StateViewer      State = "viewer"
	StateParticipant State = "participant"
	StateTerminating State = "terminating"
)

// Options configure a Node; cmd/flow fills them from the --cluster.* flags.
type Options struct {
	// Name is this node's unique name (--cluster.node-name).
	Name string
	// AdvertiseAddr is the IP:port peers reach this node's HTTP server at.
	AdvertiseAddr string
	// ClusterName must be the same on every peer (--cluster.name).
	ClusterName string
	// JoinAddresses are peers' HTTP addresses, host or host:port; a DNS
	// name stands for every address it resolves to.
	JoinAddresses []string
	// DefaultPort is used for join addresses without a port.
	DefaultPort int
	// MaxJoinPeers caps how many of the resolved addresses a join contacts,
	// chosen at random (0: all). One answering peer is enough: it sends the
	// whole member list.
	MaxJoinPeers int
	// RejoinInterval: how often to join JoinAddresses again (0: never).
	RejoinInterval time.Duration
	// WaitForSize and WaitTimeout: own no targets until this many
	// participants are known, or WaitTimeout (0: forever) passed.
	WaitForSize int
	WaitTimeout time.Duration
	// TLS between peers; nil for h2c.
	TLS *TLSConfig

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// LookupHost resolves join addresses; nil means net.DefaultResolver.
	LookupHost func(ctx context.Context, host string) ([]string, error)
}

// Node is this agent's membership in the cluster. It implements
// component.Cluster.
type Node struct {
	opts      Options
	log       *slog.Logger
	ml        *memberlist.Memberlist
	transport *transport
	metrics   *metrics
	advertise *net.TCPAddr

	mu          sync.Mutex
	state       State
	members     map[string]member // from memberlist's events
	joinDone    bool
	sizeReached bool // latched once WaitForSize was met or timed out
	own         *ownership
	subs        map[chan struct{}]struct{}
	targets     map[string]distributed // by component ID
	left        bool
}

// member is a peer as memberlist last described it.
type member struct {
	Name  string
	Addr  string
	State State
}

var _ component.Cluster = (*Node)(nil)

// New creates the node and starts gossiping (as a viewer); the caller must
// serve Handler on the advertised HTTP address, then call Run.
func New(opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Name == "" {
		return nil, errors.New("--cluster.node-name is empty")
	}
	if len(opts.ClusterName) > 255 {
		return nil, fmt.Errorf("--cluster.name is %d bytes long; at most 255", len(opts.ClusterName))
	}
	adv, err := parseAdvertise(opts.AdvertiseAddr)
	if err != nil {
		return nil, err
	}
	n := &Node{
		opts:      opts,
		log:       opts.Logger,
		advertise: adv,
		state:     StateViewer,
		members:   map[string]member{},
		subs:      map[chan struct{}]struct{}{},
		targets:   map[string]distributed{},
	}
	n.own = &ownership{self: opts.Name, table: rendezvous.New(nil)}
	n.metrics = newMetrics(n.healthScore)
	if err := n.metrics.register(opts.Registerer); err != nil {
		return nil, fmt.Errorf("registering cluster metrics: %w", err)
	}
	n.metrics.info.WithLabelValues(string(StateViewer)).Set(1)
	n.sizeReached = opts.WaitForSize <= 1
	n.transport = newTransport(opts.Logger, opts.ClusterName, adv, opts.TLS, n.metrics)

	conf := memberlist.DefaultLANConfig()
	conf.Name = opts.Name
	conf.Transport = n.transport
	conf.AdvertiseAddr = adv.IP.String()
	conf.AdvertisePort = adv.Port
	conf.BindAddr = adv.IP.String()
	conf.BindPort = adv.Port
	conf.ProbeInterval = ProbeInterval
	conf.ProbeTimeout = ProbeTimeout
	conf.SuspicionMult = SuspicionMult
	conf.SuspicionMaxTimeoutMult = SuspicionMaxTimeoutMult
	conf.PushPullInterval = pushPullInterval
	conf.UDPBufferSize = udpBufferSize
	// A peer that restarts with a new address (a new pod IP) under the same
	// name takes its name back once the old incarnation is dead.
	conf.DeadNodeReclaimTime = time.Second
	conf.Delegate = (*delegate)(n)
	conf.Events = (*events)(n)
	conf.Conflict = (*conflicts)(n)
	conf.Logger = log.New(&logBridge{log: opts.Logger}, "", 0)
	ml, err := memberlist.Create(conf)
	if err != nil {
		_ = n.transport.Shutdown()
		n.unregister()
		return nil, fmt.Errorf("starting cluster membership: %w", err)
	}
	n.ml = ml
	return n, nil
}

func parseAdvertise(s string) (*net.TCPAddr, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return nil, fmt.Errorf("--cluster.advertise-address=%q: want IP:port: %v", s, err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("--cluster.advertise-address=%q: %q is not an IP address (peers must reach this node by IP)", s, host)
	}
	if ip.IsUnspecified() {
		return nil, fmt.Errorf("--cluster.advertise-address=%q: peers cannot reach an unspecified address; name this host's IP", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return nil, fmt.Errorf("--cluster.advertise-address=%q: %q is not a port", s, port)
	}
	return &net.TCPAddr{IP: ip, Port: int(p)}, nil
}

func (n *Node) unregister() {
	for _, c := range []prometheus.Collector{
		n.metrics.rxPackets, n.metrics.txPackets, n.metrics.rxBytes, n.metrics.txBytes,
		n.metrics.rxPacketsFailed, n.metrics.txPacketsFailed, n.metrics.streams,
		n.metrics.streamRxBytes, n.metrics.streamTxBytes, n.metrics.refused,
		n.metrics.info, n.metrics.peers, n.metrics.healthScore, n.metrics.events,
		n.metrics.ready, n.metrics.ownerChanges, n.metrics.joinFailures, n.metrics.ownershipPeer,
	} {
		n.opts.Registerer.Unregister(c)
	}
}

func (n *Node) healthScore() float64 {
	if n.ml == nil {
		return 0
	}
	return float64(n.ml.GetHealthScore())
}

// Handler serves the gossip transport's endpoints (PacketPath, StreamPath).
func (n *Node) Handler() http.Handler { return n.transport }

// Name is this node's name.
func (n *Node) Name() string { return n.opts.Name }

// Run joins the peers, then rejoins every RejoinInterval, until ctx is
// cancelled. It does not leave: call Leave.
func (n *Node) Run(ctx context.Context) error {
	var waitTimeout <-chan time.Time
	if !n.sizeReached && n.opts.WaitTimeout > 0 {
		t := time.NewTimer(n.opts.WaitTimeout)
		defer t.Stop()
		waitTimeout = t.C
	}
	n.join(ctx, true)
	n.mu.Lock()
	n.joinDone = true
	n.recomputeLocked()
	n.mu.Unlock()

	var rejoin <-chan time.Time
	if n.opts.RejoinInterval > 0 && len(n.opts.JoinAddresses) > 0 {
		t := time.NewTicker(n.opts.RejoinInterval)
		defer t.Stop()
		rejoin = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-waitTimeout:
			n.mu.Lock()
			if !n.sizeReached {
				n.log.Warn("cluster: --cluster.wait-timeout passed before --cluster.wait-for-size peers joined; taking ownership with the peers at hand",
					"wait_for_size", n.opts.WaitForSize, "participants", n.own.table.Len())
				n.sizeReached = true
				n.recomputeLocked()
			}
			n.mu.Unlock()
		case <-rejoin:
			n.join(ctx, false)
		}
	}
}

// join resolves the join addresses and joins every peer found.
func (n *Node) join(ctx context.Context, initial bool) {
	if len(n.opts.JoinAddresses) == 0 {
		if initial {
			n.log.Info("cluster: no --cluster.join-addresses; starting a new cluster and waiting for peers to join it", "node", n.opts.Name, "advertise", n.advertise.String())
		}
		return
	}
	addrs, errs := n.resolve(ctx)
	for _, err := range errs {
		n.log.Warn("cluster: resolving a join address failed", "err", err)
	}
	if len(addrs) == 0 {
		n.metrics.joinFailures.Inc()
		n.log.Warn("cluster: no peer address to join; running alone until a peer joins this node", "join_addresses", strings.Join(n.opts.JoinAddresses, ","))
		return
	}
	if n.opts.MaxJoinPeers > 0 && len(addrs) > n.opts.MaxJoinPeers {
		rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
		addrs = addrs[:n.opts.MaxJoinPeers]
	}
	contacted, err := n.ml.Join(addrs)
	if contacted == 0 {
		n.metrics.joinFailures.Inc()
		msg := "cluster: could not join any peer; running alone until a peer joins this node or the next rejoin"
		if initial {
			n.log.Warn(msg, "peers", strings.Join(addrs, ","), "err", err)
		} else {
			n.log.Debug(msg, "peers", strings.Join(addrs, ","), "err", err)
		}
		return
	}
	if initial {
		n.log.Info("cluster: joined", "contacted", contacted, "of", len(addrs), "members", n.ml.NumMembers())
	}
	if err != nil {
		n.log.Debug("cluster: some join addresses did not answer", "err", err)
	}
}

// resolve turns the join addresses into IP:port strings: every address of
// each DNS name, with DefaultPort where no port is given, without this
// node's own address.
func (n *Node) resolve(ctx context.Context) ([]string, []error) {
	lookup := n.opts.LookupHost
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	var out []string
	var errs []error
	for _, a := range n.opts.JoinAddresses {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			host, port = strings.Trim(a, "[]"), strconv.Itoa(n.opts.DefaultPort)
		}
		var ips []string
		if ip := net.ParseIP(host); ip != nil {
			ips = []string{ip.String()}
		} else {
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			ips, err = lookup(lctx, host)
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("--cluster.join-addresses: %s: %w", a, err))
				continue
			}
		}
		for _, ip := range ips {
			hp := net.JoinHostPort(ip, port)
			if hp == n.advertise.String() {
				continue
			}
			out = append(out, hp)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), errs
}

// Participate makes this node share targets: called after the first
// successful config load. It returns once the change is gossiped (within a
// gossip interval, at most 5 s).
func (n *Node) Participate() { n.setState(StateParticipant) }

func (n *Node) setState(s State) {
	n.mu.Lock()
	// Terminating is final: a late Participate must not undo a Leave.
	if n.state == s || n.left || n.state == StateTerminating {
		n.mu.Unlock()
		return
	}
	n.metrics.info.WithLabelValues(string(n.state)).Set(0)
	n.state = s
	n.metrics.info.WithLabelValues(string(s)).Set(1)
	n.mu.Unlock()
	// Gossip the new meta; this calls NotifyUpdate for ourselves, which
	// recomputes ownership.
	if err := n.ml.UpdateNode(leaveTimeout); err != nil {
		n.log.Warn("cluster: announcing the node's new state failed", "state", s, "err", err)
	}
}

// Leave announces that this node is terminating, leaves the cluster so its
// peers take its targets at once, and stops gossiping.
func (n *Node) Leave() {
	n.setState(StateTerminating)
	n.mu.Lock()
	if n.left {
		n.mu.Unlock()
		return
	}
	n.left = true
	n.mu.Unlock()
	if err := n.ml.Leave(leaveTimeout); err != nil {
		n.log.Warn("cluster: leaving the cluster", "err", err)
	}
	if err := n.ml.Shutdown(); err != nil {
		n.log.Warn("cluster: stopping gossip", "err", err)
	}
	n.mu.Lock()
	for ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	n.mu.Unlock()
}

// Ready reports whether the node has finished its first join and
// --cluster.wait-for-size is met (or timed out), with a reason when not.
func (n *Node) Ready() (bool, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case !n.joinDone:
		return false, "joining the cluster (--cluster.join-addresses)"
	case !n.sizeReached:
		return false, fmt.Sprintf("waiting for %d cluster peers (--cluster.wait-for-size); %d participate now", n.opts.WaitForSize, n.own.table.Len())
	}
	return true, ""
}

// recomputeLocked rebuilds the ownership from the members and notifies the
// subscribers if it changed. n.mu is held.
func (n *Node) recomputeLocked() {
	var names []string
	counts := map[State]int{}
	for _, m := range n.members {
		counts[m.State]++
		if m.State == StateParticipant {
			names = append(names, m.Name)
		}
	}
	for _, s := range []State{StateViewer, StateParticipant, StateTerminating} {
		n.metrics.peers.WithLabelValues(string(s)).Set(float64(counts[s]))
	}
	if !n.sizeReached && n.joinDone && len(names) >= n.opts.WaitForSize {
		n.sizeReached = true
		n.log.Info("cluster: --cluster.wait-for-size reached", "participants", len(names))
	}
	ready := n.joinDone && n.sizeReached
	if ready {
		n.metrics.ready.Set(1)
	}
	table := rendezvous.New(names)
	if ready == n.own.ready && slices.Equal(table.Peers(), n.own.table.Peers()) {
		return
	}
	n.own = &ownership{ready: ready, self: n.opts.Name, table: table}
	n.metrics.ownerChanges.Inc()
	n.metrics.ownershipPeer.Set(float64(table.Len()))
	n.log.Debug("cluster: ownership changed", "ready", ready, "peers", strings.Join(table.Peers(), ","))
	for ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Ownership implements component.Cluster.
func (n *Node) Ownership() component.Ownership {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.own
}

// Subscribe implements component.Cluster.
func (n *Node) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	n.subs[ch] = struct{}{}
	n.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			n.mu.Lock()
			delete(n.subs, ch)
			n.mu.Unlock()
		})
	}
}

// SetTargets implements component.Cluster.
func (n *Node) SetTargets(componentID string, targets []map[string]string) {
	if targets == nil {
		n.mu.Lock()
		delete(n.targets, componentID)
		n.mu.Unlock()
		return
	}
	keys := make([]uint64, len(targets))
	for i, t := range targets {
		keys[i] = rendezvous.Key(t)
	}
	n.mu.Lock()
	n.targets[componentID] = distributed{targets: targets, keys: keys}
	n.mu.Unlock()
}

// ownership is an immutable snapshot; it implements component.Ownership.
type ownership struct {
	ready bool
	self  string
	table *rendezvous.Table
}

func (o *ownership) Ready() bool     { return o.ready }
func (o *ownership) Self() string    { return o.self }
func (o *ownership) Peers() []string { return slices.Clone(o.table.Peers()) }

func (o *ownership) Owner(target map[string]string) string {
	if !o.ready {
		return ""
	}
	owner, _ := o.table.Owner(rendezvous.Key(target))
	return owner
}

func (o *ownership) Owns(target map[string]string) bool {
	return o.ready && o.Owner(target) == o.self
}

// delegate gives memberlist this node's metadata: its state.
type delegate Node

type nodeMeta struct {
	State State `json:"state"`
}

func (d *delegate) NodeMeta(limit int) []byte {
	n := (*Node)(d)
	n.mu.Lock()
	s := n.state
	n.mu.Unlock()
	b, _ := json.Marshal(nodeMeta{State: s})
	if len(b) > limit {
		return nil
	}
	return b
}

func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// events keeps the member list. memberlist calls it with its own lock held,
// so it must not call back into memberlist.
type events Node

func stateOf(meta []byte) State {
	var m nodeMeta
	if json.Unmarshal(meta, &m) != nil {
		return StateViewer
	}
	switch m.State {
	case StateParticipant, StateTerminating:
		return m.State
	}
	return StateViewer
}

func (e *events) NotifyJoin(m *memberlist.Node)   { e.update(m, "join") }
func (e *events) NotifyUpdate(m *memberlist.Node) { e.update(m, "update") }

func (e *events) update(m *memberlist.Node, event string) {
	n := (*Node)(e)
	n.metrics.events.WithLabelValues(event).Inc()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.members[m.Name] = member{Name: m.Name, Addr: m.Address(), State: stateOf(m.Meta)}
	n.recomputeLocked()
}

func (e *events) NotifyLeave(m *memberlist.Node) {
	n := (*Node)(e)
	n.metrics.events.WithLabelValues("leave").Inc()
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.members, m.Name)
	n.recomputeLocked()
	if m.Name != n.opts.Name {
		n.log.Info("cluster: peer left or failed", "peer", m.Name, "addr", m.Address())
	}
}

// conflicts reports two nodes with one name.
type conflicts Node

func (c *conflicts) NotifyConflict(existing, other *memberlist.Node) {
	(*Node)(c).log.Error("cluster: two nodes use one --cluster.node-name; give every node its own name",
		"name", existing.Name, "known_address", existing.Address(), "other_address", other.Address())
}

// logBridge sends memberlist's log lines ("[LEVEL] memberlist: …") to slog
// at their level.
type logBridge struct{ log *slog.Logger }

var _ io.Writer = (*logBridge)(nil)

func (b *logBridge) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError, "[ERROR]": slog.LevelError} {
		if strings.HasPrefix(line, prefix) {
			level = l
			line = strings.TrimSpace(strings.TrimPrefix(line, prefix))
			break
		}
	}
	b.log.Log(context.Background(), level, line)
	return len(p), nil
}
