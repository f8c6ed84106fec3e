// Command fakeaws runs flow's signature-checking fake AWS (STS, EC2, IMDSv2,
// the ECS container credentials endpoint, and optionally a SigV4-checking
// reverse proxy) as a process, so the seed pipelines can be demonstrated on
// a laptop without an AWS account:
//
//	go run ./cmd/fakeaws -instances 5 -credential-lifetime 2m > fakeaws.env
//	. ./fakeaws.env
//	flow run ../shared/seed-examples/ec2-discovery.river   (region = "us-east-1")
//
// It prints the environment to export (endpoints, region and a pair of
// long-term demo keys, all fake) on stdout, then logs its counters to
// stderr every -stats-interval until interrupted. Every request is checked
// for a valid SigV4 signature; rejected ones are logged with their AWS
// error code.
//
// The role the seeds mention, arn:aws:iam::<account>:role/YourEC2DiscoveryRole
// (and any -role), can be assumed with the demo keys; IMDS serves
// credentials for an instance profile, so aws.credentials works with no keys
// at all when only AWS_EC2_METADATA_SERVICE_ENDPOINT is exported.
//
// With -proxy-upstream, a reverse proxy at -proxy-listen checks signatures
// for -proxy-service before forwarding to the upstream (a local Mimir or
// Loki), for the remote_write/loki.write aws_sigv4 seeds.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/flow-telemetry/flow/internal/fakeaws"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type settings struct {
	region, account            string
	lifetime                   time.Duration
	expirationSkew             time.Duration
	instances                  int
	host                       string
	stsPort, ec2Port, imdsPort int
	ecsPort                    int
	accessKeyID, secretKey     string
	roles                      string
	instanceProfile            string
	proxyListen, proxyUpstream string
	proxyService               string
	statsInterval              time.Duration
}

// run serves until ctx ends and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c settings
	fs := flag.NewFlagSet("fakeaws", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.region, "region", "us-east-1", "region the fake serves and checks signatures for")
	fs.StringVar(&c.account, "account", "123456789012", "account ID")
	fs.DurationVar(&c.lifetime, "credential-lifetime", 15*time.Minute, "lifetime of issued temporary credentials (short values show rotation)")
	fs.DurationVar(&c.expirationSkew, "expiration-skew", 0, "run the fake's clock this far behind the host's (a host clock ahead of AWS); above -credential-lifetime, credentials arrive already expired")
	fs.IntVar(&c.instances, "instances", 3, "demo EC2 instances (tagged Name=my-app-server-N, private IPs 127.0.0.N)")
	fs.StringVar(&c.host, "host", "127.0.0.1", "address to listen on")
	fs.IntVar(&c.stsPort, "sts-port", 0, "STS port (0: any free port)")
	fs.IntVar(&c.ec2Port, "ec2-port", 0, "EC2 port (0: any free port)")
	fs.IntVar(&c.imdsPort, "imds-port", 0, "IMDS port (0: any free port)")
	fs.IntVar(&c.ecsPort, "ecs-port", 0, "ECS container credentials port (0: any free port)")
	fs.StringVar(&c.accessKeyID, "access-key-id", "AKIAFAKEAWSDEMOKEY01", "demo user's access key ID")
	fs.StringVar(&c.secretKey, "secret-access-key", "fake/demo/secret/key/not/for/real/aws00000", "demo user's secret access key")
	fs.StringVar(&c.roles, "role", "YourEC2DiscoveryRole,YourMimirWriterRole", "comma-separated role names the demo user may assume")
	fs.StringVar(&c.instanceProfile, "instance-profile", "fake-instance-role", "role served by IMDS as the instance profile (empty: none)")
	fs.StringVar(&c.proxyListen, "proxy-listen", "127.0.0.1:9091", "address of the SigV4-checking reverse proxy")
	fs.StringVar(&c.proxyUpstream, "proxy-upstream", "", "URL to forward verified requests to (enables the proxy), such as http://localhost:9009")
	fs.StringVar(&c.proxyService, "proxy-service", "execute-api", "service name the proxy expects in signatures (aps, execute-api, …)")
	fs.DurationVar(&c.statsInterval, "stats-interval", 10*time.Second, "how often to log counters (0: never)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	ports := map[string]int{"sts": c.stsPort, "ec2": c.ec2Port, "imds": c.imdsPort, "ecs": c.ecsPort}
	f, err := fakeaws.StartOn(fakeaws.Options{Region: c.region, Account: c.account, CredentialLifetime: c.lifetime, ExpirationSkew: c.expirationSkew},
		func(server string) (net.Listener, error) {
			return net.Listen("tcp", net.JoinHostPort(c.host, fmt.Sprint(ports[server])))
		})
	if err != nil {
		fmt.Fprintln(stderr, "fakeaws:", err)
		return 1
	}
	defer f.Close()

	demo := f.AddKey(c.accessKeyID, c.secretKey, "arn:aws:iam::"+c.account+":user/demo")
	var roleARNs []string
	for _, name := range strings.Split(c.roles, ",") {
		if name = strings.TrimSpace(name); name != "" {
			arn := f.RoleARN(name)
			f.AddRole(fakeaws.Role{ARN: arn})
			roleARNs = append(roleARNs, arn)
		}
	}
	if c.instanceProfile != "" {
		f.AddRole(fakeaws.Role{ARN: f.RoleARN(c.instanceProfile)})
		f.SetInstanceProfile(c.instanceProfile)
	}
	f.SetInstances(demoInstances(c.instances, c.region))

	var proxy *http.Server
	if c.proxyUpstream != "" {
		up, err := url.Parse(c.proxyUpstream)
		if err != nil || up.Scheme == "" || up.Host == "" {
			fmt.Fprintf(stderr, "fakeaws: -proxy-upstream %q is not a URL\n", c.proxyUpstream)
			return 2
		}
		l, err := net.Listen("tcp", c.proxyListen)
		if err != nil {
			fmt.Fprintln(stderr, "fakeaws: proxy:", err)
			return 1
		}
		proxy = &http.Server{Handler: f.RequireSigV4(httputil.NewSingleHostReverseProxy(up), c.proxyService, c.region),
			ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = proxy.Serve(l) }()
		defer proxy.Close()
	}

	env := f.Env()
	env["AWS_ACCESS_KEY_ID"] = demo.AccessKeyID
	env["AWS_SECRET_ACCESS_KEY"] = demo.SecretAccessKey
	fmt.Fprintln(stdout, "# fakeaws: a fake AWS that checks every SigV4 signature. Export these (fake) settings:")
	keys := slices.Sorted(maps.Keys(env))
	for _, k := range keys {
		fmt.Fprintf(stdout, "export %s=%s\n", k, env[k])
	}
	fmt.Fprintln(stdout, "# Without the two keys above, the SDK falls back to IMDS (the instance profile).")
	fmt.Fprintln(stdout, "# Container credentials instead: export", strings.Join(fakeaws.EnvList(f.ContainerEnv()), " "))
	for _, arn := range roleARNs {
		fmt.Fprintln(stdout, "# Assumable role:", arn)
	}
	if proxy != nil {
		fmt.Fprintf(stdout, "# SigV4-checking proxy (service %q): http://%s -> %s\n", c.proxyService, c.proxyListen, c.proxyUpstream)
	}

	var tick <-chan time.Time
	if c.statsInterval > 0 {
		t := time.NewTicker(c.statsInterval)
		defer t.Stop()
		tick = t.C
	}
	last := ""
	for {
		select {
		case <-ctx.Done():
			logStats(log, f.Stats())
			return 0
		case <-tick:
			s := f.Stats()
			if s.LastRejection != last {
				log.Warn("request rejected", "reason", s.LastRejection)
				last = s.LastRejection
			}
			logStats(log, s)
		}
	}
}

func logStats(log *slog.Logger, s fakeaws.Stats) {
	log.Info("fakeaws counters", "accepted", s.Accepted, "rejected", s.Rejected, "stale", s.Stale,
		"issued", s.Issued, "rejected_by_code", fmt.Sprint(s.RejectedByCode), "by_action", fmt.Sprint(s.ByAction))
}

// demoInstances are running instances tagged like the seed's filter
// expects, on loopback addresses so that scraping them reaches local
// exporters.
func demoInstances(n int, region string) []fakeaws.Instance {
	out := make([]fakeaws.Instance, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, fakeaws.Instance{
			ID:               fmt.Sprintf("i-%017d", i),
			ImageID:          "ami-0fakedemo",
			InstanceType:     "t3.micro",
			PrivateIP:        fmt.Sprintf("127.0.0.%d", i%250+1),
			PrivateDNS:       fmt.Sprintf("ip-127-0-0-%d.ec2.internal", i%250+1),
			AvailabilityZone: region + string(rune('a'+(i-1)%3)),
			SubnetID:         "subnet-demo",
			VPCID:            "vpc-demo",
			Architecture:     "x86_64",
			Tags:             []fakeaws.Tag{{Key: "Name", Value: fmt.Sprintf("my-app-server-%d", i)}, {Key: "env", Value: "demo"}},
		})
	}
	return out
}
