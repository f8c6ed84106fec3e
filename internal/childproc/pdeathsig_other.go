//go:build !linux

package childproc

import "os/exec"

// killWithParent does nothing: only Linux has a parent-death signal.
func killWithParent(*exec.Cmd) {}
