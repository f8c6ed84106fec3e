// Package httpapi is flow's HTTP control plane, as documented in
// docs/api.md: readiness and health probes, config reload, Prometheus
// metrics, the JSON API the UI reads (components, edges, config, live
// events), components' own handlers, and pprof. cmd/flow mounts it on
// --server.http.listen-addr; tests mount it on httptest servers.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flow-telemetry/flow/runtime"
	"github.com/flow-telemetry/flow/runtime/cluster"
	"github.com/flow-telemetry/flow/syntax"
)

// MaxConfigBytes bounds a config posted to /-/reload: 4 MiB, a few times the
// largest real configs (generated ones with thousands of components are
// around 1 MB), and small enough that validating it stays within the
// language's time and memory bounds. A larger body gets 413.
const MaxConfigBytes = 4 << 20

// Options configure the handler.
type Options struct {
	Runtime *runtime.Runtime
	// Gatherer serves /metrics: the registry the runtime registers to.
	Gatherer prometheus.Gatherer
	// ReadConfig reads the config from disk for a reload with an empty body.
	// nil makes such a reload fail with 400.
	ReadConfig func() (map[string][]byte, error)
	// UI is served at "/"; nil serves a short text page pointing at the API.
	UI     http.Handler
	Logger *slog.Logger

	// ListenAddr is the address the server listens on; its host is an
	// allowed Host header (see guard.go).
	ListenAddr string
	// AllowedHosts are further names allowed in the Host header, from
	// ParseAllowedHosts (--server.http.allowed-hosts).
	AllowedHosts []string
	// DisableReloadBody makes /-/reload refuse a config in the body: only
	// an empty-body reload (re-read the files) remains
	// (--server.http.enable-reload-body=false).
	DisableReloadBody bool
	// DisablePprof leaves /debug/pprof/ out (--server.http.enable-pprof=false).
	DisablePprof bool
	// Cluster is this agent's cluster node (--cluster.enabled), nil when
	// clustering is off. It adds the gossip transport's endpoints and
	// /api/v0/cluster/*, and /-/ready waits for the node to join.
	Cluster *cluster.Node
}

// API is the control-plane handler.
type API struct {
	Options
	handler http.Handler
	// reloadMu serialises reloads, so the "config reloaded" answer is about
	// the config this request sent.
	reloadMu sync.Mutex
	// closing is closed by Close: event streams end.
	closing   chan struct{}
	closeOnce sync.Once
	refusals  refusalLog
}

// New returns the control-plane handler. Every endpoint is behind guard
// (guard.go).
func New(opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{Options: opts, closing: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /-/ready", a.ready)
	mux.HandleFunc("GET /-/healthy", a.healthy)
	mux.HandleFunc("POST /-/reload", a.reload)
	if opts.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{ErrorLog: slogErrorLog{opts.Logger}}))
	}
	mux.HandleFunc("GET /api/v0/components", a.components)
	mux.HandleFunc("GET /api/v0/components/{id}", a.component)
	mux.HandleFunc("GET /api/v0/components/{id}/live", a.liveStream)
	mux.HandleFunc("GET /api/v0/config", a.config)
	mux.HandleFunc("GET /api/v0/events", a.eventsStream)
	mux.HandleFunc("/api/v0/component/{id}/{rest...}", a.componentHandler)
	mux.HandleFunc("GET /api/v0/cluster/peers", a.clusterPeers)
	mux.HandleFunc("GET /api/v0/cluster/targets", a.clusterTargets)
	if opts.Cluster != nil {
		mux.Handle("POST "+cluster.PacketPath, opts.Cluster.Handler())
		mux.Handle("POST "+cluster.StreamPath, opts.Cluster.Handler())
	}
	if !opts.DisablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if opts.UI != nil {
		mux.Handle("/", opts.UI)
	} else {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprint(w, "flow is running. The JSON API is at /api/v0/components; see docs/api.md.\n")
		})
	}
	a.handler = a.guard(mux)
	return a
}

// ServeHTTP serves the control plane.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// Close ends the open event streams (and any opened later), so that a
// server shutdown does not wait for clients that never hang up. Call it
// before http.Server.Shutdown.
func (a *API) Close() { a.closeOnce.Do(func() { close(a.closing) }) }

type slogErrorLog struct{ l *slog.Logger }

func (s slogErrorLog) Println(v ...any) { s.l.Error("serving metrics", "err", fmt.Sprint(v...)) }

func (a *API) ready(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !a.Runtime.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "flow is not ready: no config loaded yet.")
		return
	}
	if a.Cluster != nil {
		if ok, why := a.Cluster.Ready(); !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "flow is not ready: %s.\n", why)
			return
		}
	}
	fmt.Fprintln(w, "flow is ready.")
}

func (a *API) healthy(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	bad := a.Runtime.Unhealthy()
	if len(bad) == 0 {
		fmt.Fprintln(w, "All components are healthy.")
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintf(w, "unhealthy components: %s\n", strings.Join(bad, ", "))
	for _, id := range bad {
		h, _ := a.Runtime.Health(id)
		fmt.Fprintf(w, "%s: %s: %s\n", id, h.Health, h.Message)
	}
}

// reload applies the posted config, or the one on disk for an empty body.
// A JSON body {"files": [{"name": ..., "content": ...}]} sets several files.
func (a *API) reload(w http.ResponseWriter, r *http.Request) {
	dryRun := r.URL.Query().Get("dry_run") == "1" || r.URL.Query().Get("dry_run") == "true"
	if r.ContentLength > MaxConfigBytes {
		a.tooLarge(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxConfigBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			a.tooLarge(w, r)
			return
		}
		a.fail(w, r, http.StatusBadRequest, "reading the request body: "+err.Error(), nil, nil)
		return
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if a.DisableReloadBody {
			a.forbid(w, r, "a config in the body of /-/reload is disabled (--server.http.enable-reload-body=false): "+
				"edit the config files and POST /-/reload with an empty body, or send flow SIGHUP")
			return
		}
		// A browser cannot add a custom header to a cross-origin
		// request without a CORS preflight, which flow never answers:
		// this stops a web page from posting a config with a no-cors
		// fetch or a form, even one the Fetch Metadata and Origin checks
		// let through (an old browser).
		if r.Header.Get(ReloadHeader) == "" {
			a.forbid(w, r, "a config in the body of /-/reload needs the header \""+ReloadHeader+": 1\" "+
				"(proof that the request does not come from a web page of another site), e.g. "+
				"curl -H '"+ReloadHeader+": 1' --data-binary @config.river http://"+r.Host+"/-/reload; "+
				"an empty body re-reads the config files and needs no header")
			return
		}
	}
	files, err := a.configFrom(r, body)
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, err.Error(), nil, nil)
		return
	}
	// Secrets in a config fetched from /api/v0/config came back as
	// "(secret)": put the running values back where nothing else changed.
	files = a.Runtime.RestoreSecrets(files)

	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	var diags hcl.Diagnostics
	if dryRun {
		diags = a.Runtime.Validate(files)
	} else {
		diags = a.Runtime.Load(files)
	}
	if diags.HasErrors() {
		if !dryRun {
			// The runtime leaves reporting to its caller; the operator
			// reading flow's log should see a rejected reload too.
			a.Logger.Error("reload via /-/reload failed; the running config is unchanged", "err", strings.TrimSpace(syntax.DiagnosticsString(files, diags)))
		}
		a.fail(w, r, http.StatusBadRequest, "config is invalid", files, diags)
		return
	}
	msg := "config reloaded"
	if dryRun {
		msg = "config valid"
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"message": msg, "diagnostics": diagnosticsJSON(diags)})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, msg)
	if len(diags) > 0 {
		syntax.FormatDiagnostics(w, files, diags)
	}
}

func (a *API) tooLarge(w http.ResponseWriter, r *http.Request) {
	a.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body posted to /-/reload is larger than %d MiB, the limit for a posted config; "+
		"a config this large belongs in the config files: write it there and reload with an empty body or SIGHUP", MaxConfigBytes>>20), nil, nil)
}

func (a *API) configFrom(r *http.Request, body []byte) (map[string][]byte, error) {
	if len(strings.TrimSpace(string(body))) == 0 {
		if a.ReadConfig == nil {
			return nil, fmt.Errorf("no config on disk to reload: post the config in the request body")
		}
		files, err := a.ReadConfig()
		if err != nil {
			return nil, fmt.Errorf("reading the config from disk: %w", err)
		}
		return files, nil
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		var req struct {
			Files []runtime.ConfigFile `json:"files"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, fmt.Errorf("decoding the JSON body: %w (want {\"files\": [{\"name\": ..., \"content\": ...}]})", err)
		}
		if len(req.Files) == 0 {
			return nil, fmt.Errorf("the JSON body names no files")
		}
		files := map[string][]byte{}
		for _, f := range req.Files {
			if f.Name == "" {
				return nil, fmt.Errorf("a file in the JSON body has no name")
			}
			files[f.Name] = []byte(f.Content)
		}
		return files, nil
	}
	// A single posted config takes the name of the running one when that is
	// a single file, so diagnostics and the config page keep their names.
	name := "config.river"
	if cur := a.Runtime.ConfigFiles(); len(cur) == 1 {
		name = cur[0].Name
	}
	return map[string][]byte{name: body}, nil
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, status int, msg string, files map[string][]byte, diags hcl.Diagnostics) {
	if wantsJSON(r) {
		writeJSON(w, status, map[string]any{"error": msg, "diagnostics": diagnosticsJSON(diags)})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if len(diags) == 0 {
		fmt.Fprintln(w, msg)
		return
	}
	syntax.FormatDiagnostics(w, files, diags)
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// Diagnostic is the JSON form of one diagnostic.
type Diagnostic struct {
	Severity string `json:"severity"`
	Summary  string `json:"summary"`
	Detail   string `json:"detail,omitempty"`
	Filename string `json:"filename,omitempty"`
	Start    *Pos   `json:"start,omitempty"`
	End      *Pos   `json:"end,omitempty"`
}

// Pos is a 1-based line and column.
type Pos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

func diagnosticsJSON(diags hcl.Diagnostics) []Diagnostic {
	out := make([]Diagnostic, 0, len(diags))
	for _, d := range diags {
		jd := Diagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
		}
		if d.Subject != nil {
			jd.Filename = d.Subject.Filename
			jd.Start = &Pos{d.Subject.Start.Line, d.Subject.Start.Column}
			jd.End = &Pos{d.Subject.End.Line, d.Subject.End.Column}
		}
		out = append(out, jd)
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client went away; nothing to do
}

func (a *API) components(w http.ResponseWriter, _ *http.Request) {
	comps := a.Runtime.Components()
	edges := a.Runtime.Edges()
	if edges == nil {
		edges = []runtime.EdgeInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"components":  comps,
		"edges":       edges,
		"config_hash": a.Runtime.ConfigHash(),
	})
}

func (a *API) component(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, ok := a.Runtime.ComponentDetail(id)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("component %q does not exist", id)})
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *API) config(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"files": a.Runtime.ConfigFiles()})
}

func (a *API) componentHandler(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h, ok := a.Runtime.ComponentHandler(id)
	if !ok {
		http.Error(w, fmt.Sprintf("component %q does not exist or serves no HTTP", id), http.StatusNotFound)
		return
	}
	http.StripPrefix("/api/v0/component/"+id, h).ServeHTTP(w, r)
}

// StreamWriteTimeout bounds each write of the event stream. The stream is
// exempt from the server's WriteTimeout (it lasts as long as the page is
// open) but a client that stops reading is dropped once a write has been
// blocked this long.
const StreamWriteTimeout = 30 * time.Second

// eventsStream serves Server-Sent Events until the client disconnects or
// Close is called.
func (a *API) eventsStream(w http.ResponseWriter, r *http.Request) {
	select {
	case <-a.closing:
		http.Error(w, "flow is shutting down", http.StatusServiceUnavailable)
		return
	default:
	}
	events, cancel := a.Runtime.Subscribe()
	defer cancel()
	arm, flush := startSSE(w)
	// A first comment tells the client the stream is open.
	fmt.Fprint(w, ": flow events\n\n")
	if !flush() {
		return
	}
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-a.closing:
			return
		case <-keepalive.C:
			arm()
			fmt.Fprint(w, ": keepalive\n\n")
			if !flush() {
				return
			}
		case e := <-events:
			arm()
			writeEvent(w, e)
			// Send what else is queued in the same write.
			for more := true; more; {
				select {
				case e := <-events:
					writeEvent(w, e)
				default:
					more = false
				}
			}
			if !flush() {
				return
			}
		}
	}
}

func writeEvent(w io.Writer, e runtime.Event) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return
	}
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, data)
}

// clusterPeers serves the cluster's peers, their states and target counts
// (cluster.Status); {"enabled": false, ...} when clustering is off.
func (a *API) clusterPeers(w http.ResponseWriter, _ *http.Request) {
	if a.Cluster == nil {
		writeJSON(w, http.StatusOK, cluster.Status{Peers: []cluster.Peer{}, Components: []cluster.ComponentTargets{}})
		return
	}
	writeJSON(w, http.StatusOK, a.Cluster.Status())
}

// clusterTargets lists every distributed target with its owner, so an
// operator can see which agent scrapes what; ?component=ID narrows it.
func (a *API) clusterTargets(w http.ResponseWriter, r *http.Request) {
	targets := []cluster.TargetOwner{}
	if a.Cluster != nil {
		targets = a.Cluster.Targets()
	}
	if id := r.URL.Query().Get("component"); id != "" {
		kept := targets[:0]
		for _, t := range targets {
			if t.Component == id {
				kept = append(kept, t)
			}
		}
		targets = kept
	}
	writeJSON(w, http.StatusOK, map[string]any{"targets": targets})
}
