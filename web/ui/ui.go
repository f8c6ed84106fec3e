// Package ui serves flow's debug web interface: a single-page application
// (graph, component pages, components list, config editor) written as plain
// ES modules and embedded in the binary, so `go build ./cmd/flow` alone yields
// the full UI with no Node.js at build or run time. The pages consume the JSON
// API documented in docs/api.md.
//
// assets/ holds flow's own files, served at the root; vendor/ holds
// third-party browser libraries as released (versions pinned in
// vendor/VERSIONS, with their licences), served under /vendor/.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed assets vendor
var embedded embed.FS

// Handler serves the embedded UI. A path naming an embedded file is served as
// that file; any other path that is not an API, control or file path gets
// index.html, so that a deep link into the single-page application still
// loads the application. Mount it at "/" after the API routes: the more
// specific API patterns take precedence in an http.ServeMux.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

// ContentSecurityPolicy is sent with every UI response. The UI is ES
// modules, one stylesheet and an SVG icon, all served by flow itself, and
// it talks only to flow's API and event stream: nothing inline, no eval,
// no other host. frame-ancestors 'none' (and X-Frame-Options: DENY for
// older browsers) keeps other sites from framing the UI to trick clicks on
// its buttons. Styles the pages compute (the config editor's diagnostic
// markers) are set through the CSSOM, which CSP allows, never as style
// attributes.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// securityHeaders sets the headers every UI response carries.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

func serve(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: the UI only serves GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" || name == "index.html" {
		serveIndex(w, r)
		return
	}
	if file, ok := lookup(name); ok {
		// Assets change with the binary and their names carry no content
		// hash, so the browser must not reuse a copy from an older flow.
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, embedded, file)
		return
	}
	// Unknown API, asset and file paths are real 404s, not the app shell,
	// so a typo in a script or a curl call is not answered with HTML.
	// (Component IDs contain dots, so any other extension is a route.)
	if strings.HasPrefix(name, "api/") || strings.HasPrefix(name, "-/") || strings.HasPrefix(name, "debug/") || strings.HasPrefix(name, "vendor/") || assetExt[path.Ext(name)] {
		http.NotFound(w, r)
		return
	}
	serveIndex(w, r)
}

// assetExt are the extensions of static files: a miss on one is a 404.
var assetExt = map[string]bool{
	".js": true, ".mjs": true, ".css": true, ".html": true, ".svg": true, ".png": true,
	".ico": true, ".map": true, ".json": true, ".txt": true, ".woff2": true,
}

// lookup maps a URL path (without the leading slash) to an embedded regular
// file: vendor/... from the vendor directory, anything else from assets/.
func lookup(name string) (string, bool) {
	file := "assets/" + name
	if strings.HasPrefix(name, "vendor/") {
		file = name
	}
	st, err := fs.Stat(embedded, file)
	if err != nil || st.IsDir() {
		return "", false
	}
	return file, true
}

func serveIndex(w http.ResponseWriter, r *http.Request) {
	b, err := embedded.ReadFile("assets/index.html")
	if err != nil {
		http.Error(w, "ui: index.html is missing from the embedded assets; rebuild flow from a complete source tree", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b)
}
