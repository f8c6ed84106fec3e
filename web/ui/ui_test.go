package ui

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestHandlerRoutes(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	cases := []struct {
		method, path string
		status       int
		ctype        string // prefix
		contains     string
	}{
		{"GET", "/", 200, "text/html", `<script type="module" src="/js/app.js">`},
		{"GET", "/index.html", 200, "text/html", `id="main"`},
		{"HEAD", "/", 200, "text/html", ""},
		{"GET", "/js/app.js", 200, "text/javascript", "hashchange"},
		{"GET", "/style.css", 200, "text/css", "prefers-color-scheme"},
		{"GET", "/vendor/dagre/dagre.esm.js", 200, "text/javascript", "export{"},
		{"GET", "/vendor/dagre/LICENSE", 200, "", "Permission is hereby granted"},
		// Deep links load the application, which turns them into hash routes.
		{"GET", "/component/local.file.x", 200, "text/html", `id="main"`},
		{"GET", "/graph", 200, "text/html", `id="main"`},
		// API-like and file-like misses are real 404s, not the app shell.
		{"GET", "/api/v0/nothing", 404, "", ""},
		{"GET", "/-/nothing", 404, "", ""},
		{"GET", "/js/missing.js", 404, "", ""},
		{"GET", "/js/", 200, "text/html", `id="main"`},
		{"GET", "/js/../../../etc/passwd", 200, "text/html", `id="main"`},
		{"GET", "/vendor/nothing", 404, "", ""},
		{"POST", "/", 405, "", ""},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: status %d, want %d", c.method, c.path, resp.StatusCode, c.status)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); c.ctype != "" && !strings.HasPrefix(ct, c.ctype) {
			t.Errorf("%s %s: Content-Type %q, want %s…", c.method, c.path, ct, c.ctype)
		}
		if c.contains != "" && !strings.Contains(string(body), c.contains) {
			t.Errorf("%s %s: body lacks %q", c.method, c.path, c.contains)
		}
		if c.status == 200 && resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("%s %s: Cache-Control %q, want no-cache", c.method, c.path, resp.Header.Get("Cache-Control"))
		}
	}
}

// TestVendorPinned checks that every third-party file is listed in
// vendor/VERSIONS with the sha256 of the released file and a licence beside it,
// so the one pin list stays true.
func TestVendorPinned(t *testing.T) {
	f, err := os.Open("vendor/VERSIONS")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{"VERSIONS": true}
	sc := bufio.NewScanner(f)
	pinned := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 7 {
			t.Fatalf("vendor/VERSIONS: line %q: want name, version, file, ->, path, licence, licence file, sha256", line)
		}
		// Licence files are named after the "MIT"-style identifier.
		for i, fld := range fields {
			if fld == "->" && i+1 < len(fields) {
				listed[fields[i+1]] = true
			}
			if (fld == "MIT" || fld == "Apache-2.0" || fld == "BSD-3-Clause" || fld == "ISC") && i+1 < len(fields) {
				lic := fields[i+1]
				listed[lic] = true
				if _, err := os.Stat(filepath.Join("vendor", lic)); err != nil {
					t.Errorf("vendor/VERSIONS names licence %s, which is missing: %v", lic, err)
				}
			}
		}
		if sum := fields[len(fields)-1]; len(sum) == 64 {
			var file string
			for i, fld := range fields {
				if fld == "->" {
					file = fields[i+1]
				}
			}
			b, err := os.ReadFile(filepath.Join("vendor", file))
			if err != nil {
				t.Fatalf("vendor/VERSIONS pins %s: %v", file, err)
			}
			got := sha256.Sum256(b)
			if hex.EncodeToString(got[:]) != sum {
				t.Errorf("vendor/%s: sha256 %x, but VERSIONS pins %s: re-copy the released file or update the pin", file, got, sum)
			}
			pinned++
		}
	}
	if pinned == 0 {
		t.Fatal("vendor/VERSIONS pins no file")
	}
	err = fs.WalkDir(os.DirFS("vendor"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !listed[p] && !strings.HasSuffix(p, ".LEGAL.txt") {
			t.Errorf("vendor/%s is not listed in vendor/VERSIONS", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNoRemoteLoads checks that no embedded file loads anything from another
// host (the browser tests also watch the requests a real page makes).
func TestNoRemoteLoads(t *testing.T) {
	remote := regexp.MustCompile(`(?i)(\bsrc\s*=\s*["']?|\bhref\s*=\s*["']?|\bfrom\s*["']|\bimport\s*\(\s*["']|url\(\s*["']?|fetch\(\s*["'\x60]|EventSource\(\s*["'\x60])(https?:)?//`)
	err := fs.WalkDir(embedded, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := embedded.ReadFile(p)
		if err != nil {
			return err
		}
		if m := remote.Find(b); m != nil {
			t.Errorf("%s loads from another host: %q", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
