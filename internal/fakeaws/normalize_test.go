package fakeaws

import "testing"

// Cases beyond AWS's suite (which has the relative, slash-dot-slash and
// repeated-slash ones): RFC 3986 §5.2.4's examples, ".." above the root,
// and the trailing slash of a path that ends in a directory.
func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{
		"/":                  "/",
		"//":                 "/",
		"/a/b/c/./../../g":   "/a/g",   // RFC 3986 §5.2.4
		"mid/content=5/../6": "/mid/6", // RFC 3986 §5.2.4
		"/..":                "/",
		"/../../a":           "/a",
		"/a/..":              "/",
		"/a/b/..":            "/a/",
		"/a/.":               "/a/",
		"/a/":                "/a/",
		"/a//b///":           "/a/b/",
		"/a%2F..%2Fb":        "/a%2F..%2Fb", // encoded slashes are not separators
		"/.well-known/x":     "/.well-known/x",
	} {
		if got := normalizePath(in); got != want {
			t.Errorf("normalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}
