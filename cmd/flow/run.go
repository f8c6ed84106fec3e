package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/units"
	"github.com/hashicorp/hcl/v2"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/flow-telemetry/flow/components/logging"
	"github.com/flow-telemetry/flow/internal/exepages"
	"github.com/flow-telemetry/flow/internal/gcheadroom"
	"github.com/flow-telemetry/flow/internal/startgc"
	flowruntime "github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/httpapi"
	"github.com/flow-telemetry/flow/syntax"
	"github.com/flow-telemetry/flow/web/ui"
)

type runFlags struct {
	listenAddr       string
	allowedHosts     string
	enableReloadBody bool
	enablePprof      bool
	maxConnections   int
	storagePath      string
	logLevel         string
	logFormat        string

	// YAML conversion on the fly (cmd/flow/convert.go).
	configFormat           string
	bypassConversionErrors bool
	configExtraArgs        string
	cluster                clusterFlags

	gcAdaptive bool
	gcFloor    units.Base2Bytes
}

// runCommand is `flow run`: it serves HTTP, loads PATH, runs the components
// until SIGINT or SIGTERM, and reloads PATH on SIGHUP.
func runCommand(args []string, stderr io.Writer) int {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.listenAddr, "server.http.listen-addr", "127.0.0.1:12345", "address the HTTP server (API, UI, metrics) listens on; it has no authentication, so keep it on loopback")
	fs.StringVar(&f.allowedHosts, "server.http.allowed-hosts", "", "comma-separated host names (optionally name:port) the HTTP server answers besides IP addresses, localhost and the listen address, e.g. the name of a proxy in front of it")
	fs.BoolVar(&f.enableReloadBody, "server.http.enable-reload-body", true, "let POST /-/reload apply a config sent in the request body (false: only re-read the config files)")
	fs.BoolVar(&f.enablePprof, "server.http.enable-pprof", true, "serve Go profiling at /debug/pprof/")
	fs.IntVar(&f.maxConnections, "server.http.max-connections", httpapi.DefaultServerOptions.MaxConnections, "most HTTP connections served at once; more wait until one closes")
	fs.StringVar(&f.storagePath, "storage.path", "data/", "directory for components' data: one subdirectory per component that keeps data, named from its ID (never outside this directory)")
	fs.StringVar(&f.logLevel, "log.level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log.format", "logfmt", "log format: logfmt or json")
	fs.StringVar(&f.configFormat, "config.format", "river", "format of PATH: river (also alloy), or a YAML format converted on the fly: prometheus, promtail, static")
	fs.BoolVar(&f.bypassConversionErrors, "config.bypass-conversion-errors", false, "with --config.format, run what could be converted despite conversion errors")
	fs.StringVar(&f.configExtraArgs, "config.extra-args", "", "with --config.format, the original program's flags (see flow convert --extra-args)")
	fs.BoolVar(&f.gcAdaptive, "gc.adaptive", true, "after each garbage collection, set GOGC from the live heap: Go's default 100 while the live heap is under --gc.adaptive.floor, then a headroom of that floor, at least 25 % of the live heap (off if GOGC or GOMEMLIMIT is set in the environment)")
	f.gcFloor = gcheadroom.DefaultFloor
	fs.TextVar(&f.gcFloor, "gc.adaptive.floor", f.gcFloor, "with --gc.adaptive, the smallest headroom the heap gets over what it keeps live (e.g. 64MiB)")
	f.cluster.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: flow run [flags] PATH")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	path := fs.Arg(0)
	if !configFormatValid(f.configFormat) {
		fmt.Fprintf(stderr, "flow run: --config.format=%q: want river, prometheus, promtail or static\n", f.configFormat)
		return 2
	}
	if f.maxConnections < 1 {
		fmt.Fprintf(stderr, "flow run: --server.http.max-connections=%d: want at least 1\n", f.maxConnections)
		return 2
	}
	if f.gcFloor < 1<<20 {
		fmt.Fprintf(stderr, "flow run: --gc.adaptive.floor=%s: want at least 1MiB (or --gc.adaptive=false)\n", f.gcFloor)
		return 2
	}
	if _, err := httpapi.ParseAllowedHosts(f.allowedHosts); err != nil {
		fmt.Fprintf(stderr, "flow run: %v\n", err)
		return 2
	}
	if err := f.cluster.validate(); err != nil {
		fmt.Fprintf(stderr, "flow run: %v\n", err)
		return 2
	}
	logger, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "flow run: %v\n", err)
		return 2
	}
	if err := runFlow(path, f, logger, stderr); err != nil {
		if !errors.Is(err, errReported) {
			logger.Error("flow stopped with an error", "err", err)
		}
		return 1
	}
	return 0
}

// errReported is returned when the error was already written out.
var errReported = errors.New("reported")

func runFlow(path string, f runFlags, logger *slog.Logger, stderr io.Writer) error {
	// No garbage collection until the first load is done (bounded: see
	// internal/startgc): the heap grows from nothing, and collecting at
	// every doubling cost a start of 1,000 components about a quarter of
	// its time to ready.
	endGC := startgc.Postpone(startgc.MaxHeap)
	defer endGC()
	// Once it ends, GOGC follows the live heap (internal/gcheadroom) unless
	// the operator chose otherwise.
	startHeadroom := func() (stop func()) { return func() {} }
	if !f.gcAdaptive {
		logger.Debug("GC headroom by live heap is off", "reason", "--gc.adaptive=false")
	} else if reason := gcheadroom.Disabled(os.Getenv); reason != "" {
		logger.Debug("GC headroom by live heap is off", "reason", reason)
	} else {
		startHeadroom = func() func() { return gcheadroom.Start(gcheadroom.Options{Floor: uint64(f.gcFloor), Logger: logger}) }
	}
	headroomStop := make(chan func(), 1)
	defer func() {
		select {
		case stop := <-headroomStop:
			stop()
		default:
		}
	}()
	files, err := f.readConfig(path, stderr)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Listen before loading so a busy port fails fast, and so /metrics and
	// /-/ready answer while the config loads.
	ln, err := net.Listen("tcp", f.listenAddr)
	if err != nil {
		return fmt.Errorf("listening on --server.http.listen-addr=%s: %w", f.listenAddr, err)
	}
	warnIfExposed(logger, ln.Addr(), f)
	cl, err := newCluster(f.cluster, ln.Addr(), logger, reg) // nil unless --cluster.enabled
	if err != nil {
		ln.Close()
		return err
	}
	rt := flowruntime.New(flowruntime.Options{
		Logger:     logger,
		Registerer: reg,
		DataPath:   f.storagePath,
		Cluster:    cl.component(),
	})
	allowedHosts, _ := httpapi.ParseAllowedHosts(f.allowedHosts) // checked in runCommand
	api := httpapi.New(httpapi.Options{
		Runtime:           rt,
		Gatherer:          reg,
		ReadConfig:        func() (map[string][]byte, error) { return f.readConfig(path, stderr) },
		UI:                ui.Handler(),
		Logger:            logger,
		ListenAddr:        f.listenAddr,
		AllowedHosts:      allowedHosts,
		DisableReloadBody: !f.enableReloadBody,
		DisablePprof:      !f.enablePprof,
		Cluster:           cl.apiNode(),
	})
	srvOpts := httpapi.DefaultServerOptions
	srvOpts.MaxConnections = f.maxConnections
	srv := srvOpts.NewServer(api, logger)
	cl.configureServer(srv)

	var g run.Group
	// The cluster first: its interrupt leaves the cluster while the HTTP
	// server and the components still run.
	g.Add(cl.actor())
	{
		// The HTTP server drains in the background: an open UI event
		// stream or a slow request must not hold up the interrupt of the
		// next actor, the runtime, whose components stop meanwhile.
		drained := make(chan struct{})
		g.Add(func() error {
			logger.Info("serving HTTP", "addr", ln.Addr().String())
			if err := srv.Serve(cl.listener(srvOpts.Listener(ln))); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("HTTP server: %w", err)
			}
			<-drained
			return nil
		}, func(error) {
			api.Close() // event streams end, so Shutdown need not wait for them
			go func() {
				defer close(drained)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
		})
	}
	{
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error {
			diags := refuseArgumentErrors(rt.Load(files))
			endGC()
			headroomStop <- startHeadroom()
			// Start-up is done: the pages of the binary that only the
			// package inits and the first load used stop counting in
			// flow's RSS (internal/exepages).
			if n, err := exepages.Release(); err != nil {
				logger.Debug("could not release the binary's start-up pages", "err", err)
			} else {
				logger.Debug("released the binary's start-up pages", "bytes", n)
			}
			if len(diags) > 0 {
				syntax.FormatDiagnostics(stderr, files, diags)
			}
			if diags.HasErrors() {
				return errReported
			}
			go cl.participate() // gossiping the new state must not delay the components
			rt.Run(ctx)
			return nil
		}, func(error) { cancel() })
	}
	{
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		done := make(chan struct{})
		g.Add(func() error {
			for {
				select {
				case <-done:
					return nil
				case s := <-sigs:
					if s != syscall.SIGHUP {
						logger.Info("received signal, shutting down", "signal", s.String())
						return nil
					}
					reloadFromDisk(rt, func() (map[string][]byte, error) { return f.readConfig(path, stderr) }, logger)
				}
			}
		}, func(error) {
			signal.Stop(sigs)
			close(done)
		})
	}
	return g.Run()
}

// refuseArgumentErrors turns the warnings of the initial load that say a
// component's arguments are invalid with its dependencies' real values
// (runtime.IsArgumentError: `scrape_interval = local.file.x.content` reading
// "1s" while scrape_timeout is 10s) into errors: flow run does not start a
// config it cannot run. A Build that fails for a reason that may go away (a
// port in use) stays a warning and is retried.
func refuseArgumentErrors(diags hcl.Diagnostics) hcl.Diagnostics {
	out := make(hcl.Diagnostics, 0, len(diags))
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning && flowruntime.IsArgumentError(d) {
			e := *d
			e.Severity = hcl.DiagError
			e.Summary += " (flow run does not start a component whose arguments are invalid)"
			d = &e
		}
		out = append(out, d)
	}
	return out
}

func reloadFromDisk(rt *flowruntime.Runtime, read func() (map[string][]byte, error), logger *slog.Logger) {
	files, err := read()
	if err != nil {
		logger.Error("reload on SIGHUP failed", "err", err)
		return
	}
	if diags := rt.Load(files); diags.HasErrors() {
		logger.Error("reload on SIGHUP failed; the running config is unchanged", "err", strings.TrimSpace(syntax.DiagnosticsString(files, diags)))
		return
	}
	logger.Info("config reloaded on SIGHUP")
}

// newLogger returns a logfmt (slog's key=value text) or JSON logger whose
// level and format a `logging` block in the config can change: the runtime
// hands the logger's handler to the block (component.Options.LogHandler).
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log.level=%q: want debug, info, warn or error", level)
	}
	if format != "logfmt" && format != "json" {
		return nil, fmt.Errorf("--log.format=%q: want logfmt or json", format)
	}
	return slog.New(logging.NewHandler(w, lvl, format == "json")), nil
}

// warnIfExposed warns when the HTTP server listens beyond loopback: it has
// no authentication, so whoever reaches the port can do what the operator
// can.
func warnIfExposed(logger *slog.Logger, addr net.Addr, f runFlags) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsLoopback() {
		return
	}
	exposed := []string{"the API and UI (every component's arguments, exports and health; secrets are masked)", "/metrics"}
	if f.enableReloadBody {
		exposed = append(exposed, "POST /-/reload with a config in the body (a config can read any file flow can read and send it anywhere)")
	} else {
		exposed = append(exposed, "POST /-/reload (re-reads the config files)")
	}
	if f.enablePprof {
		exposed = append(exposed, "/debug/pprof (profiles, command line)")
	}
	logger.Warn("the HTTP server listens beyond loopback and has no authentication: anyone who can reach "+f.listenAddr+" can use "+
		strings.Join(exposed, ", ")+". Listen on 127.0.0.1, or firewall the port and put an authenticating proxy in front; "+
		"--server.http.enable-reload-body=false and --server.http.enable-pprof=false narrow what is exposed",
		"addr", addr.String())
}
