// Package childproc starts the processes tests run beside themselves (flow,
// Debian's prometheus and node_exporter, a re-executed test binary) so that
// none outlives its test binary: on Linux each gets SIGKILL when the test
// binary dies (the parent-death signal, PR_SET_PDEATHSIG), even when `go
// test` is killed with SIGKILL and no cleanup runs. Without it, agents left
// over from an aborted CI run kept scraping ports that the next run's
// target fleets reused, and cluster tests failed for it.
//
// The kernel sends the signal when the thread that started the child exits.
// Go's runtime does not end its threads, except one a goroutine locked with
// runtime.LockOSThread and did not unlock; nothing that starts children
// here locks its thread. On other systems the attribute does not exist and
// Command is exec.Command.
package childproc

import "os/exec"

// Command is exec.Command(name, args...) with the parent-death signal set.
// A caller that sets cmd.SysProcAttr itself afterwards calls
// KillWithParent again.
func Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	KillWithParent(cmd)
	return cmd
}

// KillWithParent makes cmd, once started, get SIGKILL when this process
// dies (on Linux; elsewhere it does nothing). Other SysProcAttr fields are
// kept.
func KillWithParent(cmd *exec.Cmd) { killWithParent(cmd) }
