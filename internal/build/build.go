// Package build says which flow this is: the version set at link time
// (-ldflags "-X github.com/flow-telemetry/flow/internal/build.version=v1.2.3"),
// or else the module version and VCS revision Go recorded in the binary.
// `flow version`, the constants.version of the language and every
// User-Agent flow sends use it, so they always agree.
package build

import (
	"runtime/debug"
	"strings"
	"sync"
)

// version is set at link time; empty in development builds.
var version = ""

// Version is a short version: the link-time version, else the module
// version ("v0.3.0", or Go's pseudo-version), else "devel", with the first
// 12 digits of the VCS revision when Go recorded one (e.g.
// "devel-4d196ffe1a2b").
func Version() string { return versionOnce() }

var versionOnce = sync.OnceValue(func() string {
	if version != "" {
		return version
	}
	v, rev := "devel", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
			v = mv
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	if rev != "" && !strings.Contains(v, rev) {
		v += "-" + rev
	}
	return v
})

// UserAgent is the User-Agent of flow's requests: "flow/<version>".
func UserAgent() string { return "flow/" + Version() }
