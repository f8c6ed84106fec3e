package awsfirehose

import (
	"bytes"
	stdflate "compress/flate"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
	"github.com/flow-telemetry/flow/internal/benchmeter"

	"github.com/klauspost/compress/flate"
	kgzip "github.com/klauspost/compress/gzip"
)

// gzipSamples are payloads compressed every way the standard library's and
// klauspost's writers compress: stored, Huffman only, fast and best, with
// matches that overlap (runs) and that do not.
func gzipSamples(tb testing.TB) [][]byte {
	r := rand.New(rand.NewPCG(7, 8))
	random := make([]byte, 70<<10) // more than one stored block
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	body, _ := cloudWatchBody(1, 10)
	payloads := [][]byte{nil, []byte("x"), []byte(strings.Repeat("a", 5000)), []byte(strings.Repeat("abc", 3000)),
		random, body, []byte(strings.Repeat(`{"level":"info","msg":"request served"} `, 2000))}
	var out [][]byte
	for _, p := range payloads {
		for _, level := range []int{gzip.HuffmanOnly, gzip.NoCompression, gzip.BestSpeed, gzip.DefaultCompression, gzip.BestCompression} {
			var b bytes.Buffer
			zw, err := gzip.NewWriterLevel(&b, level)
			if err != nil {
				tb.Fatal(err)
			}
			zw.Write(p)
			zw.Close()
			out = append(out, bytes.Clone(b.Bytes()))
			b.Reset()
			kw, err := kgzip.NewWriterLevel(&b, level)
			if err != nil {
				tb.Fatal(err)
			}
			kw.Write(p)
			kw.Close()
			out = append(out, bytes.Clone(b.Bytes()))
		}
	}
	return out
}

// kgunzip is the streaming reader's answer: the output, or an error.
func kgunzip(src []byte, limit int) ([]byte, error) {
	zr, err := kgzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err == nil && len(out) > limit {
		err = errOverLimit
	}
	return out, err
}

// TestGunzipFastTakesWhatWritersMake: every stream the writers make is
// decoded by the fast path (with room for exactly its output) as the
// streaming reader decodes it, and declined when the room is a byte short.
func TestGunzipFastTakesWhatWritersMake(t *testing.T) {
	for i, src := range gzipSamples(t) {
		want, err := kgunzip(src, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := gunzipFast(make([]byte, 0, len(want)), src)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("sample %d (%d bytes): gunzipFast declined (%v) or decoded %d bytes, want %d", i, len(src), !ok, len(got), len(want))
		}
		if len(want) > 0 {
			if _, ok := gunzipFast(make([]byte, 0, len(want)-1), src); ok {
				t.Fatalf("sample %d: gunzipFast wrote past the room it was given", i)
			}
		}
		// Appended after what dst already holds, which matches never reach.
		got, ok = gunzipFast(append(make([]byte, 0, 3+len(want)), "abc"...), src)
		if !ok || string(got[:3]) != "abc" || !bytes.Equal(got[3:], want) {
			t.Fatalf("sample %d: gunzipFast after a prefix declined (%v) or decoded differently", i, !ok)
		}
		// A truncated stream, a wrong CRC or size, trailing bytes: declined.
		wrongTrailer := bytes.Clone(src)
		wrongTrailer[len(src)-1] ^= 1
		wrongCRC := bytes.Clone(src)
		wrongCRC[len(src)-8] ^= 1
		for _, bad := range [][]byte{src[:len(src)-1], wrongTrailer, wrongCRC, append(bytes.Clone(src), 0)} {
			if _, ok := gunzipFast(make([]byte, 0, 1<<20), bad); ok {
				t.Fatalf("sample %d: gunzipFast accepted a broken stream", i)
			}
		}
	}
}

// FuzzGunzipFast is a differential test against klauspost's streaming
// reader: whatever gunzipFast accepts, the reader decodes to the same
// bytes; and it never panics or writes beyond its room.
//
//	go test -fuzz FuzzGunzipFast ./components/loki/source/aws_firehose/
func FuzzGunzipFast(f *testing.F) {
	for _, s := range gzipSamples(f) {
		if len(s) < 4<<10 {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		const room = 64 << 10
		dst := make([]byte, 0, room)
		got, ok := gunzipFast(dst, src)
		if !ok {
			return
		}
		if cap(got) != room {
			t.Fatalf("gunzipFast grew its output")
		}
		want, err := kgunzip(src, room)
		if err != nil {
			t.Fatalf("gunzipFast accepted what the streaming reader rejects (%v): %x", err, src)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("gunzipFast decoded %q, the streaming reader %q: %x", got, want, src)
		}
	})
}

// BenchmarkGunzip: a CloudWatch Logs payload of bench/logs' shape (10
// events, mixed lines) gunzipped by the streaming reader and by gunzipFast.
//
//	go test -run '^$' -bench Gunzip -benchmem ./components/loki/source/aws_firehose/
func BenchmarkGunzip(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	t0 := time.Now()
	p := fh.CloudWatchPayload{MessageType: "DATA_MESSAGE", Owner: "123456789012", LogGroup: "/aws/lambda/svc-1",
		LogStream: fmt.Sprintf("2026/12/03/[$LATEST]%016x", r.Uint64()), SubscriptionFilters: []string{"all"}}
	for j, line := range mixedLines(r, 10, t0) {
		p.LogEvents = append(p.LogEvents, fh.LogEvent{ID: fmt.Sprint(r.Uint64()), Timestamp: t0.UnixMilli() + int64(j), Message: string(line)})
	}
	body, _ := json.Marshal(p)
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
	zw.Write(body)
	zw.Close()
	src := z.Bytes()
	b.Logf("%d bytes gzipped to %d", len(body), len(src))
	want, _ := kgunzip(src, 1<<20)
	dst := make([]byte, 0, len(want))
	b.Run("klauspost", func(b *testing.B) {
		zr, _ := kgzip.NewReader(bytes.NewReader(src))
		b.ReportAllocs()
		cpu0 := benchmeter.CPUTime()
		defer func() { b.ReportMetric(float64((benchmeter.CPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
		for i := 0; i < b.N; i++ {
			zr.Reset(bytes.NewReader(src))
			n, _ := io.ReadFull(zr, dst[:len(want)])
			if n != len(want) {
				b.Fatal(n)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := benchmeter.CPUTime()
		defer func() { b.ReportMetric(float64((benchmeter.CPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
		for i := 0; i < b.N; i++ {
			if _, ok := gunzipFast(dst[:0], src); !ok {
				b.Fatal("declined")
			}
		}
	})
	// With room for the last match copies, as decodeGzipRecord gives it.
	roomy := make([]byte, 0, len(want)+fastMatchRoom)
	b.Run("fast-room", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := benchmeter.CPUTime()
		defer func() { b.ReportMetric(float64((benchmeter.CPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
		for i := 0; i < b.N; i++ {
			if _, ok := gunzipFast(roomy[:0], src); !ok {
				b.Fatal("declined")
			}
		}
	})
}

// BenchmarkGunzipDistinct: gunzipFast over 256 distinct payloads of
// bench/logs' shape in turn, as the pipeline sees them (one payload decoded
// over and over lets the branch predictor learn its symbols); CPU time per
// payload.
//
//	go test -run '^$' -bench GunzipDistinct ./components/loki/source/aws_firehose/
func BenchmarkGunzipDistinct(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	t0 := time.Now()
	var srcs [][]byte
	size := 0
	for i := 0; i < 256; i++ {
		p := fh.CloudWatchPayload{MessageType: "DATA_MESSAGE", Owner: "123456789012", LogGroup: fmt.Sprintf("/aws/lambda/svc-%d", i%4),
			LogStream: fmt.Sprintf("2026/12/03/[$LATEST]%016x", r.Uint64()), SubscriptionFilters: []string{"all"}}
		for j, line := range mixedLines(r, 10, t0) {
			p.LogEvents = append(p.LogEvents, fh.LogEvent{ID: fmt.Sprint(r.Uint64()), Timestamp: t0.UnixMilli() + int64(j), Message: string(line)})
		}
		body, _ := json.Marshal(p)
		size = max(size, len(body))
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
		zw.Write(body)
		zw.Close()
		srcs = append(srcs, z.Bytes())
	}
	dst := make([]byte, 0, size+fastMatchRoom)
	b.ReportAllocs()
	cpu0 := benchmeter.CPUTime()
	defer func() { b.ReportMetric(float64((benchmeter.CPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
	for i := 0; i < b.N; i++ {
		if _, ok := gunzipFast(dst[:0], srcs[i%len(srcs)]); !ok {
			b.Fatal("declined")
		}
	}
}

// FuzzInflate compares the DEFLATE decoder alone with klauspost's: no
// CRC-32 hides a difference here, so mutated streams that still decode
// are compared too. Whatever inflate accepts, klauspost's reader decodes to
// the same bytes.
//
//	go test -fuzz FuzzInflate ./components/loki/source/aws_firehose/
func FuzzInflate(f *testing.F) {
	for _, s := range gzipSamples(f) {
		if len(s) < 4<<10 {
			f.Add(s[10 : len(s)-8])
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const room = 64 << 10
		var inf inflater
		got, used, ok := inf.inflate(make([]byte, 0, room), in)
		if !ok {
			return
		}
		if cap(got) != room || used > len(in) {
			t.Fatalf("inflate grew its output or used %d of %d bytes", used, len(in))
		}
		// With room for exactly the output, the end is decoded by the
		// careful loop rather than fastBlock: the same answer.
		exact, used2, ok := inf.inflate(make([]byte, 0, len(got)), in)
		if !ok || used2 != used || !bytes.Equal(exact, got) {
			t.Fatalf("inflate with exact room declined (%v) or decoded differently: %x", !ok, in)
		}
		want, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(in[:used])), room+1))
		if err != nil {
			t.Fatalf("inflate accepted what klauspost's reader rejects (%v): %x", err, in)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("inflate decoded %q, klauspost's reader %q: %x", got, want, in)
		}
	})
}

// TestPayloadsDecodedEveryWay: CloudWatch Logs payloads reach the same
// events however they are decoded: small and large (over maxScratch, parsed
// in place), taken by the fast parser or declined by it (a \u surrogate
// pair, which encoding/json combines) after escapes were already unescaped
// in place, gzipped as gunzipFast takes them or with header fields it
// leaves to the streaming reader. The record's memory is released with the
// request.
func TestPayloadsDecodedEveryWay(t *testing.T) {
	big := strings.Repeat(`say \"hi\" `, (maxScratch/12)+1000) // over maxScratch once gzipped and back
	for _, tc := range []struct {
		name     string
		messages []string // as JSON strings, escaped
		want     []string
		header   bool // a gzip header with a file name
	}{
		{name: "small", messages: []string{`a \"b\"`, `c`}, want: []string{`a "b"`, `c`}},
		{name: "small declined", messages: []string{`a \"b\"`, `\ud83d\ude00`}, want: []string{`a "b"`, "\U0001F600"}},
		{name: "large", messages: []string{big, `c`}, want: []string{strings.ReplaceAll(big, `\"`, `"`), `c`}},
		{name: "large declined", messages: []string{big, `\ud83d\ude00`}, want: []string{strings.ReplaceAll(big, `\"`, `"`), "\U0001F600"}},
		{name: "large with a file name", messages: []string{big, `c`}, want: []string{strings.ReplaceAll(big, `\"`, `"`), `c`}, header: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var js strings.Builder
			js.WriteString(`{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[`)
			for i, m := range tc.messages {
				if i > 0 {
					js.WriteByte(',')
				}
				fmt.Fprintf(&js, `{"id":"%d","timestamp":%d,"message":"%s"}`, i, i, m)
			}
			js.WriteString(`]}`)
			var z bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
			if tc.header {
				zw.Name = "payload.json"
			}
			zw.Write([]byte(js.String()))
			zw.Close()
			l := defaultLimits
			budget := newMemBudget(1 << 30)
			acct := newAccount(budget, &l)
			dec, rerr := decodeBody(fh.Body("r", time.Now(), [][]byte{z.Bytes()}), &l, acct)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if len(dec.records) != 1 || dec.records[0].cw == nil || len(dec.skipped) != 0 {
				t.Fatalf("decoded %+v, skipped %v", dec.records, dec.skipped)
			}
			evs := dec.records[0].cw.LogEvents
			if len(evs) != len(tc.want) {
				t.Fatalf("%d events, want %d", len(evs), len(tc.want))
			}
			for i, ev := range evs {
				if ev.Message != tc.want[i] || ev.Timestamp != int64(i) {
					t.Fatalf("event %d: %.40q at %d, want %.40q at %d", i, ev.Message, ev.Timestamp, tc.want[i], i)
				}
			}
			if dec.bytes != js.Len() {
				t.Fatalf("%d decoded bytes counted, want %d", dec.bytes, js.Len())
			}
			acct.done()
			if u := budget.held.Load(); u != 0 {
				t.Fatalf("%d bytes still reserved after the request", u)
			}
		})
	}
}

// TestEmptyGzip: the spelled-out empty stream is what compress/gzip
// writes for nothing, and both readers read it as nothing.
func TestEmptyGzip(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Close()
	if !bytes.Equal(b.Bytes(), emptyGzip) {
		t.Fatalf("compress/gzip writes %#v for nothing, emptyGzip is %#v", b.Bytes(), emptyGzip)
	}
	if out, err := kgunzip(emptyGzip, 10); err != nil || len(out) != 0 {
		t.Fatalf("klauspost's reader: %q, %v", out, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(emptyGzip))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := io.ReadAll(zr); err != nil || len(out) != 0 {
		t.Fatalf("compress/gzip: %q, %v", out, err)
	}
}

// TestInflateFixedCodes: a block of the fixed codes (BTYPE 01), which
// writers use for short inputs, with literals, matches (overlapping and
// not) and the end of block, decodes by the fast path; the fixed tables
// are complete codes (the distance code has its two reserved symbols).
func TestInflateFixedCodes(t *testing.T) {
	if !fixedOK {
		t.Fatal("the fixed codes did not build")
	}
	for _, p := range []string{"abcabcabcabcabcabc", "hello hello hello, world world", strings.Repeat("a", 40) + "0123456789" + "0123456789"} {
		var b bytes.Buffer
		fw, _ := stdflate.NewWriter(&b, stdflate.DefaultCompression)
		fw.Write([]byte(p))
		fw.Close()
		if btype := b.Bytes()[0] >> 1 & 3; btype != 1 {
			t.Fatalf("%q: the writer chose block type %d, want the fixed codes (1)", p, btype)
		}
		for _, room := range []int{len(p), len(p) + fastMatchRoom} {
			var inf inflater
			got, _, ok := inf.inflate(make([]byte, 0, room), b.Bytes())
			if !ok || string(got) != p {
				t.Fatalf("%q (room %d): inflate declined (%v) or decoded %q", p, room, !ok, got)
			}
		}
	}
}

// TestGunzipFastRoom: with room beyond the output (fastBlock decodes it
// all) and with exactly the output's room (the careful loop decodes its
// end), every sample decodes the same, and the bytes before dst's length
// are left alone.
func TestGunzipFastRoom(t *testing.T) {
	for i, src := range gzipSamples(t) {
		want, err := kgunzip(src, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, extra := range []int{0, 1, 7, 8, fastMatchRoom - 1, fastMatchRoom, 4096} {
			dst := append(make([]byte, 0, 5+len(want)+extra), "12345"...)
			got, ok := gunzipFast(dst, src)
			if !ok || string(got[:5]) != "12345" || !bytes.Equal(got[5:], want) {
				t.Fatalf("sample %d, %d bytes of room to spare: declined (%v) or decoded differently", i, extra, !ok)
			}
		}
	}
}

// TestHuffTableBuild: build accepts exactly the complete codes (and the
// degenerate code of one symbol of one bit), and its table decodes each
// symbol's canonical code, short codes replicated, long ones through
// subtables, a short literal/length table widened to litRoot bits.
func TestHuffTableBuild(t *testing.T) {
	for _, tc := range []struct {
		lengths []uint8
		ok      bool
	}{
		{[]uint8{}, true},
		{[]uint8{1}, true},          // degenerate
		{[]uint8{0, 1}, true},       // degenerate
		{[]uint8{1, 1}, true},       // complete
		{[]uint8{1, 1, 1}, false},   // over-subscribed
		{[]uint8{2, 2, 2}, false},   // incomplete
		{[]uint8{2, 1, 3, 3}, true}, // complete
		{[]uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 15}, true},
		{[]uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, false},
	} {
		for _, rootBits := range []uint{7, distRoot, litRoot} {
			var tb huffTable
			if got := tb.build(tc.lengths, litEntryBase[:], rootBits, rootBits == litRoot); got != tc.ok {
				t.Fatalf("%v: build %v, want %v", tc.lengths, got, tc.ok)
			}
			if !tc.ok {
				continue
			}
			// Each symbol's canonical code (RFC 1951, 3.2.2), read back.
			var count, next [17]int
			for _, l := range tc.lengths {
				count[l]++
			}
			count[0] = 0
			code := 0
			for l := 1; l <= 16; l++ {
				code = (code + count[l-1]) << 1
				next[l] = code
			}
			for sym, l := range tc.lengths {
				if l == 0 {
					continue
				}
				c := next[l]
				next[l]++
				pattern := uint64(bits.Reverse16(uint16(c)) >> (16 - l))
				for _, high := range []uint64{0, 1 << 20, 0xfffff << 16} { // whatever follows
					buf := pattern | high<<l
					e := tb.root[buf&(1<<tb.rootBits-1)]
					if e&linkFlag != 0 {
						e = tb.sub[e>>16+uint32(buf>>tb.rootBits)&(1<<(e&31)-1)]
					}
					if e != litEntryBase[sym]+uint32(l)<<5+uint32(l) {
						t.Fatalf("%v (root %d bits): symbol %d's code decodes to %#x", tc.lengths, rootBits, sym, e)
					}
				}
			}
		}
	}
}
