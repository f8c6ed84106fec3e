package cluster

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzParseFrom: the Flow-Cluster-From header comes from the network; any
// value is either refused with an error or parsed into an IP and a port
// that print back to an address net.SplitHostPort accepts.
func FuzzParseFrom(f *testing.F) {
	for _, s := range []string{"127.0.0.1:12345", "[::1]:80", "", "host:1", "1.2.3.4", "1.2.3.4:0", "1.2.3.4:65536", "[fe80::1%eth0]:9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseFrom(s)
		if err != nil {
			return
		}
		if a.IP == nil || a.Port <= 0 || a.Port > 65535 {
			t.Fatalf("parseFrom(%q) = %v without an error", s, a)
		}
		if _, _, err := net.SplitHostPort(a.String()); err != nil {
			t.Fatalf("parseFrom(%q) = %v, which does not print as host:port", s, a)
		}
	})
}

// FuzzStateOf: node metadata comes from peers; any bytes give one of the
// three states.
func FuzzStateOf(f *testing.F) {
	for _, s := range []string{`{"state":"participant"}`, `{"state":"terminating"}`, `{"state":"x"}`, ``, `null`, `{"state":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		switch s := stateOf(b); s {
		case StateViewer, StateParticipant, StateTerminating:
		default:
			t.Fatalf("stateOf(%q) = %q", b, s)
		}
	})
}

// FuzzPacket feeds arbitrary packets from "a peer" through the packet
// endpoint into a running memberlist: a hostile or broken peer must not
// crash the agent (memberlist v0.7.0 bounds and checks what it decodes).
func FuzzPacket(f *testing.F) {
	for _, s := range [][]byte{{}, {0}, {1, 2, 3}, {4, 0x80, 0xff}, {8, 0, 0, 0, 1}, {12, 0xde, 0xad}} {
		f.Add(s)
	}
	n := fuzzNode(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		req := httptest.NewRequest(http.MethodPost, PacketPath, bytes.NewReader(b))
		req.Header.Set(headerFrom, "127.0.0.1:1")
		w := httptest.NewRecorder()
		n.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusNoContent && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("packet of %d bytes: %d %s", len(b), w.Code, w.Body)
		}
	})
}

// fuzzNode is one node for the whole fuzzing run, served on loopback.
func fuzzNode(f *testing.F) *Node {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	n, err := New(Options{Name: "fuzz", AdvertiseAddr: ln.Addr().String(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	srv := &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ConfigureServer(srv)
	go srv.Serve(ln)
	f.Cleanup(func() { n.Leave(); srv.Close() })
	return n
}
