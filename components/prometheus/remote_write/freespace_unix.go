//go:build linux || darwin || freebsd

package remotewrite

import "syscall"

// freeBytes returns the space an unprivileged writer may still use on the
// filesystem holding path (ok false if it cannot be known).
func freeBytes(path string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true //nolint:unconvert // field types differ by OS
}
