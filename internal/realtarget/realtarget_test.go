package realtarget

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestShape(t *testing.T) {
	tg, err := Start(3, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	first, second := get(t, tg.Addr()), get(t, tg.Addr())
	var samples, families int
	for _, line := range strings.Split(strings.TrimSpace(first), "\n") {
		switch {
		case strings.HasPrefix(line, "# TYPE "):
			families++
		case strings.HasPrefix(line, "#"):
		default:
			samples++
			for _, l := range []string{`namespace="`, `pod="api-03-`, `method="`, `code="`, `route="/v1/r`} {
				if !strings.Contains(line, l) {
					t.Fatalf("line %q lacks %s", line, l)
				}
			}
		}
	}
	if samples != 1000 || families != 4 {
		t.Errorf("got %d samples in %d families, want 1000 in 4 (250 per family)", samples, families)
	}
	if avg := tg.AvgLineBytes(); avg < 110 || avg > 140 {
		t.Errorf("average line is %.0f bytes, want about 125", avg)
	}
	if first == second {
		t.Error("values did not change between scrapes")
	}
	if n := tg.Scrapes(); n != 2 {
		t.Errorf("Scrapes = %d, want 2", n)
	}
}
