// Package httpapi is flow's HTTP control plane, as documented in
// docs/api.md: readiness and health probes, config reload, Prometheus
// metrics, the JSON API the UI reads (components, edges, config, live
// events), components' own handlers, and pprof. cmd/flow mounts it on
// --server.http.listen-addr; tests mount it on httptest servers.
package httpapi

import (
	"encoding/json"
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
	"github.com/flow-telemetry/flow/syntax"
)

// maxConfigBytes bounds a config posted to /-/reload.
const maxConfigBytes = 16 << 20

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
}

type api struct {
	Options
	// reloadMu serialises reloads, so the "config reloaded" answer is about
	// the config this request sent.
	reloadMu sync.Mutex
}

// New returns the control-plane handler.
func New(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &api{Options: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /-/ready", a.ready)
	mux.HandleFunc("GET /-/healthy", a.healthy)
	mux.HandleFunc("POST /-/reload", a.reload)
	if opts.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{ErrorLog: slogErrorLog{opts.Logger}}))
	}
	mux.HandleFunc("GET /api/v0/components", a.components)
	mux.HandleFunc("GET /api/v0/components/{id}", a.component)
	mux.HandleFunc("GET /api/v0/config", a.config)
	mux.HandleFunc("GET /api/v0/events", a.eventsStream)
	mux.HandleFunc("/api/v0/component/{id}/{rest...}", a.componentHandler)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if opts.UI != nil {
		mux.Handle("/", opts.UI)
	} else {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprint(w, "flow is running. The JSON API is at /api/v0/components; see docs/api.md.\n")
		})
	}
	return mux
}

type slogErrorLog struct{ l *slog.Logger }

func (s slogErrorLog) Println(v ...any) { s.l.Error("serving metrics", "err", fmt.Sprint(v...)) }

func (a *api) ready(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !a.Runtime.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "flow is not ready: no config loaded yet.")
		return
	}
	fmt.Fprintln(w, "flow is ready.")
}

func (a *api) healthy(w http.ResponseWriter, _ *http.Request) {
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
func (a *api) reload(w http.ResponseWriter, r *http.Request) {
	dryRun := r.URL.Query().Get("dry_run") == "1" || r.URL.Query().Get("dry_run") == "true"
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConfigBytes))
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, "reading the request body: "+err.Error(), nil, nil)
		return
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

func (a *api) configFrom(r *http.Request, body []byte) (map[string][]byte, error) {
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

func (a *api) fail(w http.ResponseWriter, r *http.Request, status int, msg string, files map[string][]byte, diags hcl.Diagnostics) {
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

func (a *api) components(w http.ResponseWriter, _ *http.Request) {
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

func (a *api) component(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, ok := a.Runtime.ComponentDetail(id)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("component %q does not exist", id)})
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *api) config(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"files": a.Runtime.ConfigFiles()})
}

func (a *api) componentHandler(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	h, ok := a.Runtime.ComponentHandler(id)
	if !ok {
		http.Error(w, fmt.Sprintf("component %q does not exist or serves no HTTP", id), http.StatusNotFound)
		return
	}
	http.StripPrefix("/api/v0/component/"+id, h).ServeHTTP(w, r)
}

// eventsStream serves Server-Sent Events until the client disconnects.
func (a *api) eventsStream(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	events, cancel := a.Runtime.Subscribe()
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// A first comment tells the client the stream is open.
	fmt.Fprint(w, ": flow events\n\n")
	flusher.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
			flusher.Flush()
		case e := <-events:
			data, err := json.Marshal(e.Data)
			if err != nil {
				continue
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, data)
			// Send what else is queued in the same write.
			for more := true; more; {
				select {
				case e := <-events:
					if data, err := json.Marshal(e.Data); err == nil {
						fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, data)
					}
				default:
					more = false
				}
			}
			flusher.Flush()
		}
	}
}
