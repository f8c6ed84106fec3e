// Package bytesize is the one byte-size type of every component argument
// (batch_size, body_size_limit, max_request_body_size, …), read as Grafana
// Alloy reads its sizes: binary multiples whether or not the unit has an
// "i", so "1MB" and "1MiB" are both 1,048,576 bytes, as in Prometheus'
// body_size_limit and Alloy's loki.write batch_size. A plain number (a River
// number or a string of digits) is a number of bytes.
package bytesize

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/alecthomas/units"
)

// Size is a number of bytes.
type Size int64

// Common sizes.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
)

// max is the largest size any argument may take (1 PiB): larger values are
// typos, and bounding them keeps arithmetic on sizes from overflowing.
const max = 1 << 50

// Parse reads a size such as "1MiB", "512KB", "1.5GiB", "0" or "1048576".
// Like Alloy (alecthomas/units.ParseBase2Bytes) it reads "KB" and "KiB" alike
// as 1024 and refuses SI spellings such as "kB".
func Parse(s string) (Size, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > max {
			return 0, fmt.Errorf("out of range: sizes are between 0 and 1PiB")
		}
		return Size(n), nil
	}
	n, err := units.ParseBase2Bytes(s)
	if err != nil {
		return 0, fmt.Errorf("not a size; write it like \"1MiB\", \"256KiB\" or a number of bytes")
	}
	if n < 0 || n > max {
		return 0, fmt.Errorf("out of range: sizes are between 0 and 1PiB")
	}
	return Size(n), nil
}

// UnmarshalText parses a size.
func (b *Size) UnmarshalText(text []byte) error {
	n, err := Parse(string(text))
	if err != nil {
		return err
	}
	*b = n
	return nil
}

// MarshalText writes the size in the largest exact binary unit, so that the
// UI and `flow fmt` show "1MiB" rather than 1048576.
func (b Size) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// String is the size in the largest exact binary unit, or in bytes.
func (b Size) String() string {
	switch {
	case b != 0 && b%GiB == 0:
		return strconv.FormatInt(int64(b/GiB), 10) + "GiB"
	case b != 0 && b%MiB == 0:
		return strconv.FormatInt(int64(b/MiB), 10) + "MiB"
	case b != 0 && b%KiB == 0:
		return strconv.FormatInt(int64(b/KiB), 10) + "KiB"
	}
	return strconv.FormatInt(int64(b), 10)
}

// Int is the size as an int, saturating where int is 32 bits.
func (b Size) Int() int {
	if int64(b) > math.MaxInt {
		return math.MaxInt
	}
	return int(b)
}
