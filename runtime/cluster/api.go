package cluster

import (
	"cmp"
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/hashicorp/memberlist"
)

// distributed is what a component reported with SetTargets: the targets
// (immutable, shared with the component) and their keys.
type distributed struct {
	targets []map[string]string
	keys    []uint64
}

// Status is the JSON of GET /api/v0/cluster/peers.
type Status struct {
	Enabled bool `json:"enabled"`
	// Node is this node's name; Advertise its address.
	Node        string `json:"node,omitempty"`
	ClusterName string `json:"cluster_name"`
	Advertise   string `json:"advertise_address,omitempty"`
	State       State  `json:"state,omitempty"`
	Ready       bool   `json:"ready"`
	// NotReady says why the node owns no targets yet.
	NotReady string `json:"not_ready_reason,omitempty"`
	// Peers are the members memberlist considers alive or suspect,
	// sorted by name, this node included.
	Peers []Peer `json:"peers"`
	// Components are the components distributing targets.
	Components []ComponentTargets `json:"components"`
}

// Peer is one member.
type Peer struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// State is the peer's role: participant (owns targets), viewer or
	// terminating.
	State State `json:"state"`
	// Health is memberlist's view: alive or suspect (missed probes; it
	// keeps its targets until declared dead).
	Health string `json:"health"`
	Self   bool   `json:"self"`
	// Targets counts the targets it owns over every distributing component.
	Targets int `json:"targets"`
}

// ComponentTargets is one component's distribution.
type ComponentTargets struct {
	ID string `json:"id"`
	// Total is the number of targets the component distributes.
	Total int `json:"total"`
	// ByPeer counts each participant's targets (every participant is
	// listed, with 0 if it owns none).
	ByPeer map[string]int `json:"by_peer"`
}

// TargetOwner is one target and its owner, for GET /api/v0/cluster/targets.
type TargetOwner struct {
	Component string            `json:"component"`
	Labels    map[string]string `json:"labels"`
	Owner     string            `json:"owner"`
}

// Status returns the node's view of the cluster.
func (n *Node) Status() Status {
	members := n.ml.Members() // outside n.mu: memberlist takes its own lock
	n.mu.Lock()
	defer n.mu.Unlock()
	own := n.own
	st := Status{
		Enabled:     true,
		Node:        n.opts.Name,
		ClusterName: n.opts.ClusterName,
		Advertise:   n.advertise.String(),
		State:       n.state,
		Ready:       own.ready,
		Peers:       []Peer{},
		Components:  []ComponentTargets{},
	}
	if !own.ready {
		switch {
		case !n.joinDone:
			st.NotReady = "joining the cluster"
		default:
			st.NotReady = "waiting for --cluster.wait-for-size peers"
		}
	}
	perPeer := make([]int, own.table.Len())
	for id, d := range n.targets {
		ct := ComponentTargets{ID: id, Total: len(d.keys), ByPeer: map[string]int{}}
		counts := make([]int, own.table.Len())
		if own.ready {
			for _, k := range d.keys {
				if i := own.table.OwnerIndex(k); i >= 0 {
					counts[i]++
				}
			}
		}
		for i, name := range own.table.Peers() {
			ct.ByPeer[name] = counts[i]
			perPeer[i] += counts[i]
		}
		st.Components = append(st.Components, ct)
	}
	slices.SortFunc(st.Components, func(a, b ComponentTargets) int { return cmp.Compare(a.ID, b.ID) })
	index := map[string]int{}
	for i, name := range own.table.Peers() {
		index[name] = i
	}
	for _, m := range members {
		p := Peer{
			Name:    m.Name,
			Address: net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
			State:   stateOf(m.Meta),
			Health:  "alive",
			Self:    m.Name == n.opts.Name,
		}
		if m.State == memberlist.StateSuspect {
			p.Health = "suspect"
		}
		if i, ok := index[m.Name]; ok {
			p.Targets = perPeer[i]
		}
		st.Peers = append(st.Peers, p)
	}
	slices.SortFunc(st.Peers, func(a, b Peer) int { return cmp.Compare(a.Name, b.Name) })
	return st
}

// Targets lists every distributed target with its owner ("" while the
// node is not ready), by component then in the component's order.
func (n *Node) Targets() []TargetOwner {
	n.mu.Lock()
	defer n.mu.Unlock()
	ids := slices.Sorted(maps.Keys(n.targets))
	out := []TargetOwner{}
	for _, id := range ids {
		d := n.targets[id]
		for i, t := range d.targets {
			owner := ""
			if n.own.ready {
				owner, _ = n.own.table.Owner(d.keys[i])
			}
			out = append(out, TargetOwner{Component: id, Labels: withoutMeta(t), Owner: owner})
		}
	}
	return out
}

// withoutMeta drops __meta_ labels, which can be many and are not part of a
// target's identity (rendezvous.Key leaves them out too).
func withoutMeta(t map[string]string) map[string]string {
	out := make(map[string]string, len(t))
	for k, v := range t {
		if len(k) >= 7 && k[:7] == "__meta_" {
			continue
		}
		out[k] = v
	}
	return out
}
