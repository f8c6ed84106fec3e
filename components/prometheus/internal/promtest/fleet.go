package promtest

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flow-telemetry/flow/internal/fakeaws"
)

// EC2Fleet is the seed article's EC2 fleet for the tests that run its
// discovery (remote_write's River seed, migration's converted YAML): one
// running instance per ip (i-0000000N, t3.micro, tagged Name=web-N), each
// serving the gauge app_up = N at path on ip:port, given to f. It returns
// the instances, for a test that adds more with f.SetInstances.
func EC2Fleet(t testing.TB, f *fakeaws.AWS, ips []string, port int, path string) []fakeaws.Instance {
	t.Helper()
	var instances []fakeaws.Instance
	for i, ip := range ips {
		ServeGauge(t, net.JoinHostPort(ip, strconv.Itoa(port)), path, "app_up", float64(i+1))
		instances = append(instances, fakeaws.Instance{
			ID: fmt.Sprintf("i-0000000%d", i+1), PrivateIP: ip, InstanceType: "t3.micro",
			Tags: []fakeaws.Tag{{Key: "Name", Value: fmt.Sprintf("web-%d", i+1)}},
		})
	}
	f.SetInstances(instances)
	return instances
}

// EC2FleetSeries is the labels EC2Fleet's instance i (from 0) sends app_up
// with once the seed's rules relabelled it.
func EC2FleetSeries(ips []string, port, i int) map[string]string {
	return map[string]string{
		"__name__": "app_up", "job": "ec2_instances", "instance": net.JoinHostPort(ips[i], strconv.Itoa(port)),
		"instance_id": fmt.Sprintf("i-0000000%d", i+1), "instance_name": fmt.Sprintf("web-%d", i+1),
	}
}

// ServeGauge serves a gauge name = v at path on addr until t ends.
func ServeGauge(t testing.TB, addr, path, name string, v float64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "Test metric."})
	g.Set(v)
	reg.MustRegister(g)
	mux := http.NewServeMux()
	mux.Handle(path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}
