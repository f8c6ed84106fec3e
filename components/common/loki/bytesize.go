package loki

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is a size in bytes written as Alloy's log components write it:
// "1MiB", "512KiB", "100KB" or a plain number of bytes.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// UnmarshalText parses a size.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<50 {
		return fmt.Errorf("%q is not a size; write it like \"1MiB\", \"256KiB\" or \"1048576\"", string(text))
	}
	*b = ByteSize(f * float64(mult))
	return nil
}

// MarshalText writes the size in the largest exact binary unit.
func (b ByteSize) MarshalText() ([]byte, error) {
	switch {
	case b != 0 && b%(1<<30) == 0:
		return []byte(strconv.FormatInt(int64(b)>>30, 10) + "GiB"), nil
	case b != 0 && b%(1<<20) == 0:
		return []byte(strconv.FormatInt(int64(b)>>20, 10) + "MiB"), nil
	case b != 0 && b%(1<<10) == 0:
		return []byte(strconv.FormatInt(int64(b)>>10, 10) + "KiB"), nil
	}
	return []byte(strconv.FormatInt(int64(b), 10)), nil
}
