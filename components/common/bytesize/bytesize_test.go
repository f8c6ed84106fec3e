package bytesize

import (
	"testing"

	"github.com/alecthomas/units"
)

func TestParseMatchesAlloy(t *testing.T) {
	for in, want := range map[string]Size{
		"1MB": 1 << 20, "1MiB": 1 << 20, "512KiB": 512 << 10, "100KB": 100 << 10, "2GB": 2 << 30,
		"1.5MiB": 3 << 19, "2048": 2048, "0": 0, " 4MiB ": 4 << 20, "1B": 1, "10MiB512KiB": 10<<20 + 512<<10,
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
		// Whatever Alloy's parser (the same library) reads, we read alike.
		if in != "2048" && in != " 4MiB " {
			ref, err := units.ParseBase2Bytes(in)
			if err != nil || Size(ref) != want {
				t.Errorf("units.ParseBase2Bytes(%q) = %d, %v; this test's expectation is wrong", in, ref, err)
			}
		}
	}
	for _, in := range []string{"", "MiB", "1kB", "-1MiB", "-5", "1 parsec", "2PiB", "99999999999999999999"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %d, want an error", in, got)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for v, want := range map[Size]string{MiB: "1MiB", 3 * GiB: "3GiB", 1000: "1000", 2048: "2KiB", 0: "0"} {
		b, _ := v.MarshalText()
		if string(b) != want {
			t.Errorf("MarshalText(%d) = %s, want %s", v, b, want)
		}
		var back Size
		if err := back.UnmarshalText(b); err != nil || back != v {
			t.Errorf("round trip of %d: %d, %v", v, back, err)
		}
	}
}
