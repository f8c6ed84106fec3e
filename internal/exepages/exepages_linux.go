package exepages

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Release unmaps the running executable's read-only pages from the
// process's page tables (see the package comment) and returns how many
// bytes of mappings it released. It is safe at any time: a page in use is
// mapped back on its next access.
func Release() (int64, error) {
	// The kernel spells the executable's path the same way in both files
	// (with " (deleted)" appended if it was replaced since), also inside
	// containers, where device and inode numbers can differ between them.
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("finding the executable: %w", err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("reading the process's mappings: %w", err)
	}
	var released int64
	for _, m := range readOnlyMappings(smaps, exe) {
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, syscall.MADV_DONTNEED); errno != 0 {
			return released, fmt.Errorf("releasing the executable's pages at %#x-%#x: %w", m.start, m.end, errno)
		}
		released += int64(m.end - m.start)
	}
	return released, nil
}

type mapping struct{ start, end uintptr }

// readOnlyMappings returns the mappings in smaps (the format of
// /proc/<pid>/smaps) of the file at path that are private, not writable, and
// hold no anonymous page. The last condition keeps what a loader wrote
// before making it read-only: a position-independent executable
// (-buildmode=pie, the default of some distributions' packages) has its
// pointers relocated by ld.so in the RELRO segment, which is then made r--;
// those pages are private copies, and discarding them would bring back the
// file's unrelocated bytes (flow built that way crashed at its first
// interface call after Release).
func readOnlyMappings(smaps []byte, path string) []mapping {
	var out []mapping
	var cur mapping
	in := false
	flush := func() {
		if in {
			out = append(out, cur)
		}
		in = false
	}
	for _, line := range strings.Split(string(smaps), "\n") {
		if field, rest, ok := strings.Cut(line, ":"); ok && !strings.Contains(field, " ") && !strings.Contains(field, "-") {
			// "Anonymous:   4 kB": a private copy exists in this mapping
			// ("Swap:" when it was swapped out).
			if in && (field == "Anonymous" || field == "Swap") {
				if kb := strings.TrimSuffix(strings.TrimSpace(rest), " kB"); kb != "0" {
					in = false
				}
			}
			continue
		}
		// A header: address perms offset dev inode pathname; the pathname
		// may hold spaces.
		flush()
		f := strings.SplitN(line, " ", 6)
		if len(f) < 6 || strings.TrimLeft(f[5], " ") != path {
			continue
		}
		perms := f[1]
		if len(perms) != 4 || perms[1] != '-' || perms[3] != 'p' {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		cur, in = mapping{uintptr(start), uintptr(end)}, true
	}
	flush()
	return out
}
