//go:build linux

package main

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// exeResidentKiB returns how much of the executable's private read-only
// mappings (text and read-only data) of process pid is resident, and their
// size, from /proc/<pid>/smaps.
func exeResidentKiB(t testing.TB, pid int) (rss, size int64) {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid)
	exe, err := os.Readlink(dir + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dir + "/smaps")
	if err != nil {
		t.Fatal(err)
	}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			in = strings.HasSuffix(line, " "+exe) && len(f[1]) == 4 && f[1][1] == '-' && f[1][3] == 'p'
			continue
		}
		if !in {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Rss:":
			rss += kb
		case "Size:":
			size += kb
		}
	}
	return rss, size
}

// Once the config is loaded, flow no longer has most of its binary mapped:
// the package inits map about three quarters of its text and read-only
// data (fault-around), of which a running flow uses a small part
// (internal/exepages).
func TestRunReleasesStartupPages(t *testing.T) {
	// A binary go build wrote sits in the page cache in large folios,
	// which the kernel maps whole: run a plain copy, as installed.
	bin := filepath.Join(t.TempDir(), "flow")
	src, err := os.Open(flowproc.Build(t))
	must(t, err)
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	must(t, err)
	_, err = io.Copy(dst, src)
	must(t, err)
	must(t, dst.Close())

	p := flowproc.Options{Binary: bin}.Start(t, "testdata/idle.river")
	var rss, size int64
	if _, ok := testwait.Poll(10*time.Second, func() bool {
		rss, size = exeResidentKiB(t, p.Pid())
		return size > 0 && rss < size/2
	}); !ok {
		t.Fatalf("%d of the binary's %d KiB of text and read-only data resident after start: want under half", rss, size)
	}
	t.Logf("%d of the binary's %d KiB of text and read-only data resident after start", rss, size)
}
