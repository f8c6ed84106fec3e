package file

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzLineReader splits arbitrary bytes into lines in several encodings
// with a small max_line_size: it must not panic, every line must be valid
// UTF-8 no longer than the limit allows, and after the final read the
// reader must have consumed (committed) every byte.
//
//	go test -run '^$' -fuzz FuzzLineReader -fuzztime 60s ./components/loki/source/file/
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("one\ntwo\r\nthree"), uint8(8))
	f.Add([]byte{0xFF, 0xFE, 'a', 0, '\n', 0, 'b', 0}, uint8(4))
	f.Add([]byte(strings.Repeat("x", 100)+"\nshort\n"), uint8(10))
	f.Add([]byte("\xff\xfe\xfd\n\xc3\x28\n"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, max uint8) {
		maxLine := int(max%64) + 2
		for _, name := range []string{"", "UTF-16", "UTF-16LE", "UTF-16BE", "ISO-8859-1"} {
			enc, err := newLineEncoding(name)
			if err != nil {
				t.Fatal(err)
			}
			enc = enc.forFile(bytes.NewReader(data))
			lr := newLineReader(bytes.NewReader(data), 0, enc, maxLine)
			for i := 0; ; i++ {
				line, ok, err := lr.next(true)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				if !utf8.ValidString(line) {
					t.Fatalf("%s: invalid UTF-8 line %q", name, line)
				}
				// A decoded line may grow (a replacement character is 3
				// bytes, a UTF-16 unit up to 3), never beyond 3x the limit.
				if len(line) > 3*maxLine {
					t.Fatalf("%s: line of %d bytes with max_line_size %d", name, len(line), maxLine)
				}
				if i > len(data)+1 {
					t.Fatalf("%s: more lines than bytes", name)
				}
			}
			if lr.committable != int64(len(data)) {
				t.Fatalf("%s: consumed %d of %d bytes", name, lr.committable, len(data))
			}
		}
	})
}
