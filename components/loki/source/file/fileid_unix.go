//go:build unix

package file

import (
	"fmt"
	"os"
	"syscall"
)

// fileID is a file's identity: device and inode.
func fileID(fi os.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	}
	return ""
}
