package cluster

import "github.com/prometheus/client_golang/prometheus"

// metrics are the cluster's own series on /metrics. The names follow
// Alloy's (ckit's), so its cluster dashboards keep working.
type metrics struct {
	rxPackets, txPackets             prometheus.Counter
	rxBytes, txBytes                 prometheus.Counter
	rxPacketsFailed, txPacketsFailed prometheus.Counter
	streams                          *prometheus.CounterVec
	streamRxBytes, streamTxBytes     prometheus.Counter
	refused                          *prometheus.CounterVec

	info          *prometheus.GaugeVec
	peers         *prometheus.GaugeVec
	healthScore   prometheus.GaugeFunc
	events        *prometheus.CounterVec
	ready         prometheus.Gauge
	ownerChanges  prometheus.Counter
	joinFailures  prometheus.Counter
	ownershipPeer prometheus.Gauge
}

func newMetrics(healthScore func() float64) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	return &metrics{
		rxPackets:       c("cluster_transport_rx_packets_total", "Gossip packets received."),
		txPackets:       c("cluster_transport_tx_packets_total", "Gossip packets sent."),
		rxBytes:         c("cluster_transport_rx_bytes_total", "Bytes of gossip packets received."),
		txBytes:         c("cluster_transport_tx_bytes_total", "Bytes of gossip packets sent."),
		rxPacketsFailed: c("cluster_transport_rx_packets_failed_total", "Gossip packets refused or dropped on receipt (too large, malformed, queue full)."),
		txPacketsFailed: c("cluster_transport_tx_packets_failed_total", "Gossip packets that could not be sent (peer unreachable, refused, too many in flight)."),
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cluster_transport_streams_total",
			Help: "Gossip streams opened, by direction (in, out).",
		}, []string{"direction"}),
		streamRxBytes: c("cluster_transport_stream_rx_bytes_total", "Bytes received on gossip streams."),
		streamTxBytes: c("cluster_transport_stream_tx_bytes_total", "Bytes sent on gossip streams."),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cluster_transport_refused_total",
			Help: "Cluster requests refused, by reason (cluster_name: another --cluster.name; tls: no verified client certificate).",
		}, []string{"reason"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cluster_node_info",
			Help: "1 for this node's current state (viewer, participant, terminating).",
		}, []string{"state"}),
		peers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cluster_node_peers",
			Help: "Peers this node knows, by state (participant, viewer, terminating; suspect counts under its role).",
		}, []string{"state"}),
		healthScore: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cluster_node_gossip_health_score",
			Help: "memberlist's awareness score: 0 is healthy; higher means this node sees its own probes fail and slows down.",
		}, healthScore),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cluster_node_gossip_received_events_total",
			Help: "Membership events, by kind (join, leave, update).",
		}, []string{"event"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cluster_node_ready",
			Help: "1 once the node has joined (or found no peer) and --cluster.wait-for-size is met or timed out; until then it owns no targets.",
		}),
		ownerChanges: c("cluster_ownership_changes_total", "Changes of the set of peers that share targets."),
		joinFailures: c("cluster_join_failures_total", "Join or rejoin attempts that reached none of --cluster.join-addresses."),
		ownershipPeer: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cluster_ownership_peers",
			Help: "Peers that share targets now (participants, including this node once it participates).",
		}),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		m.rxPackets, m.txPackets, m.rxBytes, m.txBytes, m.rxPacketsFailed, m.txPacketsFailed,
		m.streams, m.streamRxBytes, m.streamTxBytes, m.refused,
		m.info, m.peers, m.healthScore, m.events, m.ready, m.ownerChanges, m.joinFailures, m.ownershipPeer,
	} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
