package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flow-telemetry/flow/runtime/cluster"
	"github.com/flow-telemetry/flow/runtime/component"
)

// clusterFlags are `flow run`'s --cluster.* flags, with Alloy's names and
// defaults, so an Alloy fleet's command line works unchanged.
type clusterFlags struct {
	enabled             bool
	nodeName            string
	advertiseAddr       string
	advertiseInterfaces string
	joinAddresses       string
	maxJoinPeers        int
	rejoinInterval      time.Duration
	name                string
	waitForSize         int
	waitTimeout         time.Duration
	enableTLS           bool
	tls                 cluster.TLSFiles
}

func (c *clusterFlags) register(fs *flag.FlagSet) {
	hostname, _ := os.Hostname()
	fs.BoolVar(&c.enabled, "cluster.enabled", false, "join a cluster of flow agents that share the targets of components with clustering { enabled = true }")
	fs.StringVar(&c.nodeName, "cluster.node-name", hostname, "this agent's name in the cluster, unique among its peers")
	fs.StringVar(&c.advertiseAddr, "cluster.advertise-address", "", "IP:port peers reach this agent's HTTP server at (default: the listen address; for 0.0.0.0, the first address of --cluster.advertise-interfaces, else the first non-loopback address)")
	fs.StringVar(&c.advertiseInterfaces, "cluster.advertise-interfaces", "eth0,en0", "network interfaces whose first address is advertised when listening on 0.0.0.0")
	fs.StringVar(&c.joinAddresses, "cluster.join-addresses", "", "comma-separated peers' HTTP addresses (host or host:port; a DNS name stands for every address it resolves to; the port defaults to this agent's)")
	fs.IntVar(&c.maxJoinPeers, "cluster.max-join-peers", 5, "most peers contacted when joining (one answers with the whole member list); 0 means all")
	fs.DurationVar(&c.rejoinInterval, "cluster.rejoin-interval", 60*time.Second, "how often to join --cluster.join-addresses again, healing partitions (0 disables)")
	fs.StringVar(&c.name, "cluster.name", "", "the cluster's name; peers with another name are refused")
	fs.IntVar(&c.waitForSize, "cluster.wait-for-size", 0, "own no targets (and keep /-/ready at 503) until this many agents participate (0: don't wait)")
	fs.DurationVar(&c.waitTimeout, "cluster.wait-timeout", 0, "stop waiting for --cluster.wait-for-size after this long (0: wait forever)")
	fs.BoolVar(&c.enableTLS, "cluster.enable-tls", false, "talk to peers over TLS with client certificates (mutual TLS); the HTTP port then accepts TLS beside plain HTTP, and the cluster endpoints only TLS")
	fs.StringVar(&c.tls.CAPath, "cluster.tls-ca-path", "", "CA certificate (PEM) that peers' certificates must be signed by")
	fs.StringVar(&c.tls.CertPath, "cluster.tls-cert-path", "", "this agent's certificate (PEM), presented to peers as server and client")
	fs.StringVar(&c.tls.KeyPath, "cluster.tls-key-path", "", "the key (PEM) of --cluster.tls-cert-path")
	fs.StringVar(&c.tls.ServerName, "cluster.tls-server-name", "", "name to verify in peers' certificates (default: the peer's IP address)")
}

// validate checks what needs no network, so a typo exits with status 2.
func (c *clusterFlags) validate() error {
	if !c.enabled {
		return nil
	}
	if c.nodeName == "" {
		return errors.New("--cluster.node-name is empty (and the hostname is unknown): give this agent a name")
	}
	if c.waitForSize < 0 {
		return fmt.Errorf("--cluster.wait-for-size=%d: want 0 or more", c.waitForSize)
	}
	if c.waitTimeout < 0 || c.rejoinInterval < 0 {
		return errors.New("--cluster.wait-timeout and --cluster.rejoin-interval must not be negative")
	}
	if c.maxJoinPeers < 0 {
		return fmt.Errorf("--cluster.max-join-peers=%d: want 0 or more", c.maxJoinPeers)
	}
	if c.enableTLS {
		if _, err := c.tls.Load(); err != nil {
			return err
		}
	}
	return nil
}

// clusterRun is the running cluster node, or nil when clustering is off;
// its methods do nothing on nil, so runFlow reads the same either way.
type clusterRun struct {
	node *cluster.Node
	tls  *cluster.TLSConfig
	log  *slog.Logger
}

// newCluster starts the node (as a viewer) for an agent serving HTTP on
// listen. It returns nil when --cluster.enabled is false.
func newCluster(c clusterFlags, listen net.Addr, logger *slog.Logger, reg prometheus.Registerer) (*clusterRun, error) {
	if !c.enabled {
		return nil, nil
	}
	tcp, ok := listen.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("clustering needs a TCP listen address, not %s", listen)
	}
	adv := c.advertiseAddr
	if adv == "" {
		ip := tcp.IP
		if ip.IsUnspecified() {
			var err error
			if ip, err = advertiseIP(strings.Split(c.advertiseInterfaces, ",")); err != nil {
				return nil, err
			}
		}
		adv = net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
	}
	if host, _, err := net.SplitHostPort(adv); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			logger.Warn("cluster: advertising a loopback address; only peers on this host can reach it (listen on a reachable address or set --cluster.advertise-address)", "advertise", adv)
		}
	}
	var tlsCfg *cluster.TLSConfig
	if c.enableTLS {
		var err error
		if tlsCfg, err = c.tls.Load(); err != nil {
			return nil, err
		}
	}
	var join []string
	for _, a := range strings.Split(c.joinAddresses, ",") {
		if a = strings.TrimSpace(a); a != "" {
			join = append(join, a)
		}
	}
	node, err := cluster.New(cluster.Options{
		Name:           c.nodeName,
		AdvertiseAddr:  adv,
		ClusterName:    c.name,
		JoinAddresses:  join,
		DefaultPort:    tcp.Port,
		MaxJoinPeers:   c.maxJoinPeers,
		RejoinInterval: c.rejoinInterval,
		WaitForSize:    c.waitForSize,
		WaitTimeout:    c.waitTimeout,
		TLS:            tlsCfg,
		Logger:         logger,
		Registerer:     reg,
	})
	if err != nil {
		return nil, err
	}
	logger.Info("cluster: node started", "node", c.nodeName, "advertise", adv, "cluster_name", c.name, "tls", c.enableTLS)
	return &clusterRun{node: node, tls: tlsCfg, log: logger}, nil
}

// advertiseIP is the first address of the first named interface that has
// one, else the host's first non-loopback address, as Alloy picks it.
func advertiseIP(interfaces []string) (net.IP, error) {
	for _, name := range interfaces {
		ifc, err := net.InterfaceByName(strings.TrimSpace(name))
		if err != nil {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				return ipn.IP, nil
			}
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing this host's addresses to advertise: %w", err)
	}
	var v6 net.IP
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		if ipn.IP.To4() != nil {
			return ipn.IP, nil
		}
		if v6 == nil {
			v6 = ipn.IP
		}
	}
	if v6 != nil {
		return v6, nil
	}
	return nil, errors.New("the HTTP server listens on every address but this host has no non-loopback address to advertise to peers: set --cluster.advertise-address")
}

// component is what components see (component.Options.Cluster).
func (c *clusterRun) component() component.Cluster {
	if c == nil {
		return nil
	}
	return c.node
}

// apiNode is what the HTTP API serves.
func (c *clusterRun) apiNode() *cluster.Node {
	if c == nil {
		return nil
	}
	return c.node
}

// configureServer lets peers speak HTTP/2 (h2c, or over TLS) to the server.
func (c *clusterRun) configureServer(srv *http.Server) {
	if c != nil {
		cluster.ConfigureServer(srv)
	}
}

// listener adds TLS beside plain HTTP on the one port, with
// --cluster.enable-tls.
func (c *clusterRun) listener(ln net.Listener) net.Listener {
	if c == nil || c.tls == nil {
		return ln
	}
	return cluster.TLSListener(ln, c.tls.Server)
}

// participate makes the node take its share of targets: after the first
// successful config load.
func (c *clusterRun) participate() {
	if c != nil {
		c.node.Participate()
	}
}

// actor runs the node in the run group. Its interrupt leaves the cluster
// before the HTTP server and the components stop (it is added first), so
// peers take this agent's targets while it still scrapes them.
func (c *clusterRun) actor() (execute func() error, interrupt func(error)) {
	ctx, cancel := context.WithCancel(context.Background())
	return func() error {
			if c == nil {
				<-ctx.Done()
				return nil
			}
			return c.node.Run(ctx)
		}, func(error) {
			cancel()
			if c != nil {
				c.node.Leave()
				c.log.Info("cluster: left the cluster")
			}
		}
}
