// Package clustertest runs real cluster nodes (memberlist over the HTTP/2
// transport, on loopback HTTP servers) inside a test, for tests of
// components that distribute work through component.Cluster.
package clustertest

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flow-telemetry/flow/internal/testwait"
	"github.com/flow-telemetry/flow/runtime/cluster"
)

// Node is a participating cluster node served on its own loopback port.
type Node struct {
	*cluster.Node
	// Addr is the node's HTTP (and gossip) address.
	Addr   string
	srv    *http.Server
	cancel context.CancelFunc
	done   chan struct{}
	left   bool
}

// Start runs a node named name that joins join (none: a new cluster),
// participates, and is ready when Start returns. It leaves when the test
// ends, unless Leave was called first.
func Start(tb testing.TB, name string, join ...string) *Node {
	tb.Helper()
	return StartWith(tb, cluster.Options{Name: name, JoinAddresses: join})
}

// StartWith is Start with more options (a cluster name, TLS). The
// advertised address is the node's own loopback port; a nil Logger or
// Registerer discards.
func StartWith(tb testing.TB, opts cluster.Options) *Node {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	opts.AdvertiseAddr = ln.Addr().String()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	name := opts.Name
	n, err := cluster.New(opts)
	if err != nil {
		ln.Close()
		tb.Fatal(err)
	}
	tn := &Node{Node: n, Addr: ln.Addr().String(), done: make(chan struct{})}
	tn.srv = &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	cluster.ConfigureServer(tn.srv)
	if opts.TLS != nil {
		ln = cluster.TLSListener(ln, opts.TLS.Server)
	}
	go tn.srv.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	tn.cancel = cancel
	go func() {
		defer close(tn.done)
		n.Run(ctx)
	}()
	n.Participate()
	tb.Cleanup(tn.Leave)
	testwait.Eventually(tb, 30*time.Second, func() bool {
		return n.Ownership().Ready() && slices.Contains(n.Ownership().Peers(), name)
	}, "cluster node %s was not ready and participating", name)
	return tn
}

// Leave leaves the cluster cleanly and stops the node.
func (n *Node) Leave() {
	if n.left {
		return
	}
	n.left = true
	n.cancel()
	<-n.done
	n.Node.Leave()
	n.srv.Close()
}

// WaitPeers waits until every node sees exactly the participants want.
func WaitPeers(tb testing.TB, timeout time.Duration, want []string, nodes ...*Node) {
	tb.Helper()
	want = slices.Sorted(slices.Values(want))
	testwait.Eventually(tb, timeout, func() bool {
		for _, n := range nodes {
			if !slices.Equal(n.Ownership().Peers(), want) {
				return false
			}
		}
		return true
	}, "the nodes do not all see participants %v", want)
}
