// Package ui serves flow's debug web interface: a single-page application
// (graph, component pages, components list, config editor) written as plain
// ES modules and embedded in the binary, so `go build ./cmd/flow` alone yields
// the full UI with no Node.js at build or run time. The pages consume the JSON
// API documented in docs/api.md.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed assets
var assets embed.FS

// Handler serves the embedded UI. Paths naming an embedded file are served as
// that file; any other path that is not an API or control path gets
// index.html, so that a deep link into the single-page application (for
// example a bookmarked /component/x) still loads the application.
func Handler() http.Handler {
	root, err := fs.Sub(assets, "assets")
	if err != nil {
		// The directory is embedded at compile time; failing here means the
		// binary was built without it, which the build itself prevents.
		panic("ui: embedded assets missing: " + err.Error())
	}
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed: the UI only serves GET and HEAD", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if name != "" && name != "index.html" {
			if st, err := fs.Stat(root, name); err == nil && !st.IsDir() {
				setCaching(w, name)
				files.ServeHTTP(w, r)
				return
			}
			// Unknown API-looking paths are real 404s, not the SPA shell,
			// so a typo in a script or curl call is not answered with HTML.
			if strings.HasPrefix(name, "api/") || strings.HasPrefix(name, "-/") || path.Ext(name) != "" {
				http.NotFound(w, r)
				return
			}
		}
		serveIndex(w, r, root)
	})
}

func serveIndex(w http.ResponseWriter, r *http.Request, root fs.FS) {
	b, err := fs.ReadFile(root, "index.html")
	if err != nil {
		http.Error(w, "ui: index.html missing from the embedded assets", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b)
}

// setCaching makes the browser revalidate assets each load: they change with
// the binary, and names carry no content hash.
func setCaching(w http.ResponseWriter, name string) {
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}
