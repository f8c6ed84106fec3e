//go:build linux

package childproc

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestChildDiesWithParent: a child started with Command gets SIGKILL when
// its parent is killed.
func TestChildDiesWithParent(t *testing.T) {
	DiesWithParent(t, nil, func(t *testing.T) int {
		cmd := Command("sleep", "600")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd.Process.Pid
	})
}

// TestPlainChildOutlivesParent shows what Command prevents, and that the
// check can see it: a child of plain exec.Command keeps running after its
// parent is killed.
func TestPlainChildOutlivesParent(t *testing.T) {
	parent, child := StartParent(t, nil, func(t *testing.T) int {
		cmd := exec.Command("sleep", "600")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd.Process.Pid
	})
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	time.Sleep(time.Second) // ample for a parent-death signal to arrive
	if !Alive(child) {
		t.Fatalf("child %d of a plain exec.Command died with its parent: the check cannot tell", child)
	}
}

// TestKillWithParentKeepsOtherAttributes: promproc sets its own process
// group and then the parent-death signal; neither undoes the other.
func TestKillWithParentKeepsOtherAttributes(t *testing.T) {
	cmd := exec.Command("true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	KillWithParent(cmd)
	if !cmd.SysProcAttr.Setpgid || cmd.SysProcAttr.Pdeathsig != syscall.SIGKILL {
		t.Fatalf("SysProcAttr %+v", cmd.SysProcAttr)
	}
}
