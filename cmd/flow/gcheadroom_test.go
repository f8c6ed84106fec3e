package main

import (
	"bufio"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flow-telemetry/flow/internal/flowproc"
	"github.com/flow-telemetry/flow/internal/testwait"
)

// gcFigures reads GOGC and the number of collections from flow's /metrics
// (the Go collector's go_gc_gogc_percent and go_gc_duration_seconds_count).
// Each read allocates in flow, so polling it makes flow collect.
func gcFigures(t *testing.T, p *flowproc.Process) (gogc, cycles float64) {
	t.Helper()
	resp, err := http.Get(p.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	gogc, cycles = -2, -1
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		switch name {
		case "go_gc_gogc_percent":
			must(t, err)
			gogc = v
		case "go_gc_duration_seconds_count":
			must(t, err)
			cycles = v
		}
	}
	if gogc == -2 || cycles < 0 {
		t.Fatalf("/metrics has no go_gc_gogc_percent or go_gc_duration_seconds_count")
	}
	return gogc, cycles
}

// `flow run` sets GOGC from the live heap after its first load
// (--gc.adaptive, on by default): with a floor far below the idle heap, GOGC
// falls below Go's 100 and says so at debug level. With --gc.adaptive=false,
// or GOGC in the environment, GOGC stays as it was through collections, and
// the debug log says why the policy is off.
func TestRunGCHeadroom(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.river")
	must(t, os.WriteFile(path, nil, 0o644))

	for _, c := range []struct {
		name     string
		env      []string
		args     []string
		wantGOGC func(float64) bool
		wantLog  string
	}{
		{"adaptive", []string{"GOGC=", "GOMEMLIMIT="}, []string{"--gc.adaptive.floor=1MiB"},
			func(g float64) bool { return g >= 25 && g < 100 }, `msg="GOGC set from the live heap"`},
		{"flag off", []string{"GOGC=", "GOMEMLIMIT="}, []string{"--gc.adaptive=false", "--gc.adaptive.floor=1MiB"},
			func(g float64) bool { return g == 100 }, `msg="GC headroom by live heap is off" reason="--gc.adaptive=false"`},
		{"GOGC set", []string{"GOGC=200", "GOMEMLIMIT="}, []string{"--gc.adaptive.floor=1MiB"},
			func(g float64) bool { return g == 200 }, `msg="GC headroom by live heap is off" reason="GOGC is set in the environment"`},
		{"GOMEMLIMIT set", []string{"GOGC=", "GOMEMLIMIT=1GiB"}, []string{"--gc.adaptive.floor=1MiB"},
			func(g float64) bool { return g == 100 }, `msg="GC headroom by live heap is off" reason="GOMEMLIMIT is set in the environment"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := flowproc.Options{Env: c.env}.Start(t, append(c.args, "--log.level=debug", path)...)
			_, start := gcFigures(t, p)
			var gogc, cycles float64
			// Three collections after ready: the policy, if on, has set
			// GOGC after at least two of them.
			testwait.Eventually(t, 2*time.Minute, func() bool {
				gogc, cycles = gcFigures(t, p)
				return cycles >= start+3 && c.wantGOGC(gogc)
			}, "GOGC %v after %v collections since ready", gogc, cycles-start)
			// And it stays so.
			for end := cycles + 3; cycles < end; {
				gogc, cycles = gcFigures(t, p)
				if !c.wantGOGC(gogc) {
					t.Fatalf("GOGC became %v", gogc)
				}
			}
			if !strings.Contains(p.Stderr(), c.wantLog) {
				t.Fatalf("flow's log lacks %s:\n%s", c.wantLog, p.Stderr())
			}
		})
	}
}

// A floor below 1 MiB is refused with the flag's name.
func TestRunGCHeadroomFloorRefused(t *testing.T) {
	code, _, stderr := flowCmd(t, "", "run", "--gc.adaptive.floor=512KiB", "x.river")
	if code != 2 || !strings.Contains(stderr, "--gc.adaptive.floor=512KiB: want at least 1MiB") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}
