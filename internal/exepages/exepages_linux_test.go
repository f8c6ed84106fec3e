package exepages

import (
	_ "embed"
	"encoding/binary"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// exeResident returns how many bytes of the executable's private read-only
// mappings are resident (Rss in /proc/self/smaps) and how large they are.
func exeResident(t *testing.T) (rss, size int64) {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if strings.Contains(f[0], "-") && len(f) >= 5 {
			in = len(f) >= 6 && strings.HasSuffix(line, " "+exe) && len(f[1]) == 4 && f[1][1] == '-' && f[1][3] == 'p'
			continue
		}
		if !in || len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Rss:":
			rss += kb << 10
		case "Size:":
			size += kb << 10
		}
	}
	return rss, size
}

// blob is 256 KiB of the executable's read-only data (embedded strings are
// in rodata) that the test reads before Release and not after.
//
//go:embed testdata/blob
var blob string

// presentPages counts the pages of [addr, addr+n) mapped in the process's
// page tables (bit 63 of their /proc/self/pagemap entries).
func presentPages(t *testing.T, addr, n uintptr) (present, pages int) {
	t.Helper()
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ps := uintptr(os.Getpagesize())
	first, last := addr/ps, (addr+n-1)/ps
	buf := make([]byte, 8*(last-first+1))
	if _, err := f.ReadAt(buf, int64(first*8)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(buf); i += 8 {
		if binary.LittleEndian.Uint64(buf[i:])&(1<<63) != 0 {
			present++
		}
	}
	return present, len(buf) / 8
}

// Pages of the executable read before Release are no longer mapped after
// it (the kernel maps back only what is used again, and up to 64 KiB
// around each such fault, so the middle of blob is checked).
func TestReleaseUnmapsStartupPages(t *testing.T) {
	sum := 0
	for i := 0; i < len(blob); i += 512 {
		sum += int(blob[i])
	}
	if sum != 0 {
		t.Fatal("testdata/blob is not zeros")
	}
	const margin = 64 << 10
	mid := uintptr(unsafe.Pointer(unsafe.StringData(blob))) + margin
	n := uintptr(len(blob) - 2*margin)
	before, pages := presentPages(t, mid, n)
	if before < pages*9/10 {
		t.Fatalf("only %d of blob's %d pages mapped after reading it all", before, pages)
	}
	rssBefore, size := exeResident(t)
	released, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	after, _ := presentPages(t, mid, n)
	rssAfter, _ := exeResident(t)
	t.Logf("executable's read-only mappings: %d KiB, resident %d KiB before Release, %d KiB after", size>>10, rssBefore>>10, rssAfter>>10)
	if after != 0 {
		t.Errorf("%d of %d pages of blob still mapped after Release, want none", after, pages)
	}
	if released != size {
		t.Errorf("released %d bytes of mappings, want the executable's read-only %d", released, size)
	}
	// The data and code are still there: they are mapped back on use.
	if blob[len(blob)/2] != 0 || strconv.Itoa(12345) != "12345" {
		t.Fatal("the executable's data changed after Release")
	}
	if now, _ := presentPages(t, mid+n/2, 1); now != 1 {
		t.Errorf("a page of blob read after Release is not mapped back")
	}
}

// written is in the executable's data segment (initialised data), a
// private mapping of the file: discarding its pages would bring back
// the file's bytes and lose what the program wrote.
var written = [3]int{1, 2, 3}

var zeroed [1 << 14]byte // bss

func TestReleaseKeepsWrittenData(t *testing.T) {
	written[1] = 42
	zeroed[len(zeroed)-1] = 7
	if _, err := Release(); err != nil {
		t.Fatal(err)
	}
	if written != [3]int{1, 42, 3} || zeroed[len(zeroed)-1] != 7 {
		t.Fatalf("written data changed by Release: %v, %d", written, zeroed[len(zeroed)-1])
	}
}

func TestReadOnlyMappings(t *testing.T) {
	entry := func(header string, anonKB int) string {
		return header + "\nSize:                  8 kB\nRss:                   8 kB\n" +
			"Anonymous:             " + strconv.Itoa(anonKB) + " kB\nSwap:                  0 kB\nVmFlags: rd mr mw me \n"
	}
	smaps := entry("00400000-01560000 r-xp 00000000 00:2a 1234                               /opt/my flow/flow", 0) +
		entry("01560000-02830000 r--p 01160000 00:2a 1234                               /opt/my flow/flow", 0) +
		// RELRO of a position-independent build: read-only now, written by
		// the loader before.
		entry("02830000-02840000 r--p 02430000 00:2a 1234                               /opt/my flow/flow", 64) +
		entry("02840000-02984000 rw-p 02440000 00:2a 1234                               /opt/my flow/flow", 12) +
		entry("02984000-049e4000 rw-p 00000000 00:00 0 ", 100) +
		entry("03000000-03001000 r--s 00000000 00:2a 1234                               /opt/my flow/flow", 0) +
		entry("04000000-04001000 r--p 00000000 00:2a 99                                 /opt/my flow/flow2", 0) +
		entry("7f3eb0ad7000-7f3eb0c2d000 r-xp 00026000 fe:00 5678                       /usr/lib/x86_64-linux-gnu/libc.so.6", 0) +
		entry("7fff00000000-7fff00001000 r-xp 00000000 00:00 0                          [vdso]", 0)
	got := readOnlyMappings([]byte(smaps), "/opt/my flow/flow")
	want := []mapping{{0x400000, 0x1560000}, {0x1560000, 0x2830000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("readOnlyMappings = %x, want %x (the executable's private read-only mappings without anonymous pages only)", got, want)
	}
	deleted := strings.ReplaceAll(smaps, "/opt/my flow/flow\n", "/opt/my flow/flow (deleted)\n")
	if got := readOnlyMappings([]byte(deleted), "/opt/my flow/flow (deleted)"); len(got) != 2 {
		t.Fatalf("a replaced executable: %d mappings, want 2", len(got))
	}
}

// A position-independent build (-buildmode=pie) has pointers the loader
// relocated in a segment it then made read-only; Release must keep them.
// The program in testdata/pie releases its pages, then calls through
// interfaces, formats, maps and panics, which read relocated pointers.
func TestReleaseKeepsRelocatedPagesOfPIE(t *testing.T) {
	bin := t.TempDir() + "/pie"
	out, err := exec.Command("go", "build", "-buildmode=pie", "-o", bin, "./testdata/pie").CombinedOutput()
	if err != nil {
		t.Fatalf("building a position-independent program: %v\n%s", err, out)
	}
	out, err = exec.Command(bin).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok after releasing") {
		t.Fatalf("the position-independent program failed after Release: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
