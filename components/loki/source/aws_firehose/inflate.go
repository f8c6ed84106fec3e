package awsfirehose

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
	"sync"
)

// gunzipFast decodes src, a gzip stream of one member without optional
// header fields (what CloudWatch Logs and most writers produce), into the
// spare capacity of dst (which it never grows) and returns dst extended by
// the output. It declines (false) anything else and anything it cannot
// vouch for: header flags, several members or trailing bytes, output
// beyond cap(dst), a stream that is invalid or truncated, a CRC-32 or size
// that does not match the trailer. The caller then uses the streaming
// reader, which decides and explains. So gunzipFast never accepts what the
// streaming reader rejects, nor reads it differently; FuzzGunzipFast checks
// exactly that.
//
// It exists because CloudWatch Logs payloads are small (a few KB, one
// dynamic Huffman block each): a streaming inflater spends much of its time
// reading input a byte at a time and copying through its window, where a
// one-shot decoder reads 64 bits at a time and copies matches within its
// output.
func gunzipFast(dst, src []byte) ([]byte, bool) {
	// Header: ID1 ID2 CM(8) FLG MTIME(4) XFL OS; trailer: CRC-32, ISIZE.
	if len(src) < 18 || src[0] != 0x1f || src[1] != 0x8b || src[2] != 8 || src[3] != 0 {
		return dst, false
	}
	in := src[10 : len(src)-8]
	f := inflaters.Get().(*inflater)
	defer inflaters.Put(f)
	start := len(dst)
	out, used, ok := f.inflate(dst, in)
	if !ok || used != len(in) {
		return dst, false
	}
	trailer := src[len(src)-8:]
	if crc32.ChecksumIEEE(out[start:]) != binary.LittleEndian.Uint32(trailer) ||
		uint32(len(out)-start) != binary.LittleEndian.Uint32(trailer[4:]) {
		return dst, false
	}
	return out, true
}

var inflaters = sync.Pool{New: func() any { return new(inflater) }}

// A table entry says what a bit pattern decodes to (RFC 1951's symbols made
// ready to use, as libdeflate's are):
//
//	bits 0-4   the bits to consume: the code's length plus the extra bits
//	           that follow it (a length's or a distance's), or a
//	           subtable's index bits (linkFlag)
//	bits 5-8   the code's length alone (where the extra bits start)
//	bit 9      linkFlag: the rest of the code is in sub, from bits 16-31
//	bit 10     litFlag: a literal byte, bits 16-23
//	bit 11     endFlag: the end of the block
//	bit 12     matchFlag: a length or a distance, its base in bits 16-31
//
// An entry without a flag is an error: 0 (a pattern no code has) or a
// symbol the format reserves (literal/length 286 and 287, distance 30
// and 31, which only the fixed codes give a code).
const (
	linkFlag  = 1 << 9
	litFlag   = 1 << 10
	endFlag   = 1 << 11
	matchFlag = 1 << 12
	litRoot   = 10
	distRoot  = 8
	maxRoot   = 1 << litRoot
)

// entryBase is each alphabet's entries without their code's length: what
// build adds a length to.
var litEntryBase, distEntryBase, clenEntryBase = func() (lit [288]uint32, dist [32]uint32, clen [19]uint32) {
	for i := range lit {
		switch {
		case i < 256:
			lit[i] = uint32(i)<<16 | litFlag
		case i == 256:
			lit[i] = endFlag
		case i < 286:
			lit[i] = uint32(lengthBase[i-257])<<16 | matchFlag | uint32(lengthExtra[i-257])
		}
	}
	for i := range distBase {
		dist[i] = distBase[i]<<16 | matchFlag | uint32(distExtra[i])
	}
	for i := range clen {
		clen[i] = uint32(i) << 16
	}
	return
}()

// huffTable decodes one canonical Huffman code: root is indexed by the next
// rootBits bits (the longest code's length if it is shorter than the
// table's maximum); longer codes continue in subtables of sub.
type huffTable struct {
	root     [maxRoot]uint32
	sub      []uint32
	rootBits uint
}

// build makes t the decoder of the code with these lengths (0: unused
// symbol; at most 288 symbols of at most 15 bits), whose symbols decode to
// the entries of base (litEntryBase, distEntryBase, clenEntryBase). It
// refuses what klauspost's and the standard library's inflaters refuse: an
// over-subscribed or incomplete code, but for the degenerate code of one
// symbol of one bit, which zlib accepts. An empty code builds a table that
// decodes nothing.
//
// It is built as zlib and libdeflate build theirs, because a CloudWatch Logs
// payload of a few KB builds three tables for a thousand symbols: the
// symbols sorted by length (a counting sort), then the root table filled
// by increasing length: while it is 2^len entries long it holds every code
// of at most len bits, so doubling it (one copy) repeats them as a table of
// 2^(len+1) entries needs, and each code of len bits writes one entry. A
// complete code leaves no entry unwritten, so nothing is cleared first,
// and the root table is no longer than the longest code.
func (t *huffTable) build(lengths []uint8, base []uint32, maxRootBits uint, full bool) bool {
	var count [16]uint16
	for _, l := range lengths {
		count[l&15]++
	}
	return t.buildCounted(lengths, &count, base, maxRootBits, full)
}

// buildCounted is build with the number of codes of each length counted by
// the caller (dynamic counts them as it reads them: a histogram of a few
// hundred lengths, counted alone, waits on its own stores).
//
// A full table's root has maxRootBits bits however short its codes (the
// block decoder's literal/length lookups then use a constant mask).
func (t *huffTable) buildCounted(lengths []uint8, count *[16]uint16, base []uint32, maxRootBits uint, full bool) bool {
	if full {
		defer t.widen(maxRootBits)
	}
	count[0] = 0
	maxLen := uint(15)
	for maxLen > 0 && count[maxLen] == 0 {
		maxLen--
	}
	t.sub = t.sub[:0]
	if maxLen == 0 {
		t.rootBits = 0
		t.root[0] = 0
		return true
	}
	// Kraft: the codes of a complete code fill the 2^15 patterns of 15
	// bits exactly.
	left := 1 << 15
	for l := 1; l <= 15; l++ {
		left -= int(count[l]) << (15 - l)
	}
	degenerate := maxLen == 1 && count[1] == 1
	if left != 0 && !degenerate {
		return false
	}
	var offs [16]uint16
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + count[l]
	}
	// The entries, sorted by their code's length (and by symbol within a
	// length: the canonical order).
	var sorted [288]uint32
	for sym, l := range lengths {
		if l != 0 && sym < len(base) {
			sorted[offs[l&15]] = base[sym] + uint32(l)<<5 + uint32(l)
			offs[l&15]++
		}
	}
	rootBits := min(maxRootBits, maxLen)
	t.rootBits = rootBits
	if degenerate {
		// One code, 0; the pattern 1 decodes nothing.
		t.root[0] = sorted[0]
		t.root[1] = 0
		return true
	}
	root := t.root[:1<<rootBits]
	i, code, size := 0, 0, 1
	for l := uint(1); l <= rootBits; l++ {
		copy(root[size:2*size], root[:size])
		size *= 2
		for c := count[l]; c > 0; c-- {
			rev := bits.Reverse16(uint16(code)) >> (16 - l)
			root[rev&uint16(len(root)-1)] = sorted[i]
			i++
			code++
		}
		code <<= 1
	}
	if maxLen == rootBits {
		return true
	}
	// Longer codes, in canonical order: those sharing their first rootBits
	// bits are consecutive and make one subtable of 2^subBits entries,
	// which they fill completely (the code is complete). Their entries
	// count the bits the root consumed.
	subBits := maxLen - rootBits
	prefix := -1
	var sub []uint32
	for l := rootBits + 1; l <= maxLen; l++ {
		for c := count[l]; c > 0; c-- {
			if p := code >> (l - rootBits); p != prefix {
				prefix = p
				off := len(t.sub)
				t.sub = append(t.sub, make([]uint32, 1<<subBits)...)
				sub = t.sub[off:]
				root[(bits.Reverse16(uint16(p))>>(16-rootBits))&uint16(len(root)-1)] = uint32(off)<<16 | linkFlag | uint32(subBits)
			}
			rev := uint32(bits.Reverse16(uint16(code))) >> (16 - l)
			entry := sorted[i]
			for j := rev >> rootBits; j < uint32(len(sub)); j += 1 << (l - rootBits) {
				sub[j] = entry
			}
			i++
			code++
		}
		code <<= 1
	}
	return true
}

// widen repeats a root table shorter than bits until it is bits long, as a
// root table of that many bits decodes the same code (its codes being no
// longer than the table's bits: no subtables).
func (t *huffTable) widen(bits uint) {
	size := 1 << t.rootBits
	for size < 1<<bits {
		copy(t.root[size:2*size], t.root[:size])
		size *= 2
	}
	t.rootBits = bits
}

// inflater is a one-shot DEFLATE decoder's state, reused through inflaters.
type inflater struct {
	in    []byte
	pos   int    // next byte of in to load into buf
	over  int    // zero bytes loaded past the end of in
	buf   uint64 // bits loaded, the next one lowest
	n     uint   // bits in buf
	lit   huffTable
	dist  huffTable
	clen  huffTable
	lens  [286 + 30]uint8
	clens [19]uint8
}

// refill loads bits until buf holds 56 to 63, zeros past the end of in
// (counted in over: a stream that uses them is truncated).
func (f *inflater) refill() {
	if f.pos+8 <= len(f.in) {
		f.buf |= binary.LittleEndian.Uint64(f.in[f.pos:]) << f.n
		k := (63 - f.n) >> 3
		f.pos += int(k)
		f.n += k << 3
		return
	}
	for f.n < 56 {
		if f.pos < len(f.in) {
			f.buf |= uint64(f.in[f.pos]) << f.n
			f.pos++
		} else {
			f.over++
		}
		f.n += 8
	}
}

// take consumes and returns the next k bits (k ≤ 32; buf holds them).
func (f *inflater) take(k uint) uint32 {
	v := uint32(f.buf & (1<<k - 1))
	f.buf >>= k
	f.n -= k
	return v
}

var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint32{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	codeOrder   = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// fixedLit and fixedDist are the codes of BTYPE 01 (RFC 1951, 3.2.6):
// 288 literal/length and 32 distance codes, two of each reserved.
var fixedLit, fixedDist, fixedOK = func() (lit, dist huffTable, ok bool) {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	var d [32]uint8
	for i := range d {
		d[i] = 5
	}
	ok = lit.build(l[:], litEntryBase[:], litRoot, true) && dist.build(d[:], distEntryBase[:], distRoot, false)
	return lit, dist, ok
}()

// inflate decodes the DEFLATE stream at the start of in, appending to dst
// within its capacity; used is where the stream ended in in.
func (f *inflater) inflate(dst, in []byte) (out []byte, used int, ok bool) {
	f.in, f.pos, f.over, f.buf, f.n = in, 0, 0, 0, 0
	defer func() { f.in = nil }()
	start := len(dst)
	for {
		f.refill()
		if f.over > 8 {
			return dst, 0, false
		}
		final := f.take(1)
		switch f.take(2) {
		case 0:
			// Stored: LEN, NLEN at the next byte boundary, then LEN bytes.
			f.take(f.n & 7)
			p := f.pos + f.over - int(f.n>>3) // the next byte not consumed
			if p+4 > len(in) {
				return dst, 0, false
			}
			n := int(binary.LittleEndian.Uint16(in[p:]))
			if uint16(n) != ^binary.LittleEndian.Uint16(in[p+2:]) || p+4+n > len(in) || len(dst)+n > cap(dst) {
				return dst, 0, false
			}
			dst = append(dst, in[p+4:p+4+n]...)
			f.pos, f.over, f.buf, f.n = p+4+n, 0, 0, 0
		case 1:
			var ok bool
			if dst, ok = f.block(dst, start, &fixedLit, &fixedDist); !ok {
				return dst, 0, false
			}
		case 2:
			if !f.dynamic() {
				return dst, 0, false
			}
			var ok bool
			if dst, ok = f.block(dst, start, &f.lit, &f.dist); !ok {
				return dst, 0, false
			}
		default:
			return dst, 0, false
		}
		if final == 1 {
			// Bits loaded but not consumed go back; zeros past the end
			// must not have been consumed.
			unread := int(f.n >> 3)
			if f.over > unread {
				return dst, 0, false
			}
			return dst, f.pos + f.over - unread, true
		}
	}
}

// dynamic reads the code lengths of a BTYPE 10 block into f.lit and f.dist.
func (f *inflater) dynamic() bool {
	f.refill()
	nlit := int(f.take(5)) + 257
	ndist := int(f.take(5)) + 1
	nclen := int(f.take(4)) + 4
	if nlit > 286 || ndist > 30 {
		return false
	}
	clear(f.clens[:])
	for i := 0; i < nclen; i++ {
		if f.n < 3 {
			f.refill()
		}
		f.clens[codeOrder[i]] = uint8(f.take(3))
	}
	if !f.clen.build(f.clens[:], clenEntryBase[:], 7, false) {
		return false
	}
	// The lengths, with the bit reader in locals: a symbol and its repeat
	// count take at most 7+7 bits, so one refill serves three.
	in, pos, over, buf, n := f.in, f.pos, f.over, f.buf, f.n
	clen := &f.clen
	mask := uint64(1)<<clen.rootBits - 1
	var litCount, distCount [16]uint16
	lens := f.lens[:nlit+ndist]
	ok := false
	for i := 0; ; {
		if i >= len(lens) {
			ok = true
			break
		}
		if n < 14 {
			if pos+8 <= len(in) {
				buf |= binary.LittleEndian.Uint64(in[pos:]) << n
				k := (63 - n) >> 3
				pos += int(k)
				n += k << 3
			} else {
				for n < 56 {
					if pos < len(in) {
						buf |= uint64(in[pos]) << n
						pos++
					} else {
						over++
					}
					n += 8
				}
				if over > 8 {
					break
				}
			}
		}
		// The code-length code has no subtables (7 bits at most).
		e := clen.root[buf&mask&(maxRoot-1)]
		l := uint(e & 31)
		if l == 0 {
			break
		}
		buf >>= l
		n -= l
		x := e >> 16
		if x < 16 {
			lens[i] = uint8(x)
			if i < nlit {
				litCount[x]++
			} else {
				distCount[x]++
			}
			i++
			continue
		}
		var rep int
		var v uint8
		switch x {
		case 16:
			if i == 0 {
				return false
			}
			rep, v = 3+int(buf&3), lens[i-1]
			buf >>= 2
			n -= 2
		case 17:
			rep = 3 + int(buf&7)
			buf >>= 3
			n -= 3
		default:
			rep = 11 + int(buf&0x7f)
			buf >>= 7
			n -= 7
		}
		if i+rep > len(lens) {
			return false
		}
		for j := i; j < i+rep; j++ {
			lens[j] = v
		}
		toLit := min(max(nlit-i, 0), rep)
		litCount[v&15] += uint16(toLit)
		distCount[v&15] += uint16(rep - toLit)
		i += rep
	}
	f.pos, f.over, f.buf, f.n = pos, over, buf, n
	return ok && f.lit.buildCounted(lens[:nlit], &litCount, litEntryBase[:], litRoot, true) &&
		f.dist.buildCounted(lens[nlit:], &distCount, distEntryBase[:], distRoot, false)
}

// block decodes a block's symbols with lit and dist until its end, matches
// reaching back at most to start of dst (the member's first byte): with
// fastBlock while the input and the output have room for a whole symbol
// without checking, then here, symbol by symbol, with the bit reader in
// locals, refilling only when fewer bits are left than a length and
// distance may take (15+5+15+13 = 48).
func (f *inflater) block(dst []byte, start int, lit, dist *huffTable) ([]byte, bool) {
	out, o := dst[:cap(dst)], len(dst)
	o, status := f.fastBlock(out, o, start, lit, dist)
	if status != fastMargin {
		return out[:o], status == fastEnd
	}
	in, pos, over, buf, n := f.in, f.pos, f.over, f.buf, f.n
	distMask := uint64(1)<<dist.rootBits - 1
	ok := false
	for {
		if n < 48 {
			if pos+8 <= len(in) {
				buf |= binary.LittleEndian.Uint64(in[pos:]) << n
				k := (63 - n) >> 3
				pos += int(k)
				n += k << 3
			} else {
				for n < 56 {
					if pos < len(in) {
						buf |= uint64(in[pos]) << n
						pos++
					} else {
						over++
					}
					n += 8
				}
				if over > 8 {
					break
				}
			}
		}
		e := lit.root[buf&(maxRoot-1)]
		if e&linkFlag != 0 {
			e = lit.sub[e>>16+uint32(buf>>litRoot)&(1<<(e&31)-1)]
		}
		if e&litFlag != 0 {
			if o >= len(out) {
				break
			}
			out[o] = byte(e >> 16)
			o++
			buf >>= e & 31
			n -= uint(e & 31)
			continue
		}
		if e&matchFlag == 0 {
			if e&endFlag != 0 {
				buf >>= e & 31
				n -= uint(e & 31)
				ok = true
			}
			break
		}
		// The length: its base and extra bits, which follow the code.
		length := int(e>>16) + int(uint32(buf)&(1<<(e&31)-1)>>(e>>5&15))
		buf >>= e & 31
		n -= uint(e & 31)
		e = dist.root[buf&distMask&(maxRoot-1)]
		if e&linkFlag != 0 {
			e = dist.sub[e>>16+uint32(buf>>dist.rootBits)&(1<<(e&31)-1)]
		}
		if e&matchFlag == 0 {
			break
		}
		back := int(e>>16) + int(uint32(buf)&(1<<(e&31)-1)>>(e>>5&15))
		buf >>= e & 31
		n -= uint(e & 31)
		if back > o-start || length > len(out)-o {
			break
		}
		// An overlapping copy (back < length) repeats the last back bytes:
		// each round copies what the last one wrote too.
		from, end := o-back, o+length
		for o < end {
			o += copy(out[o:end], out[from:o])
		}
	}
	f.pos, f.over, f.buf, f.n = pos, over, buf, n
	return out[:o], ok
}

// fastBlock's outcomes.
const (
	fastMargin  = iota // too near the end of the input or the output
	fastEnd            // the block ended
	fastInvalid        // the stream is invalid
)

// fastMatchRoom is the output room fastBlock keeps: the longest match and
// the 8 bytes its last word copy may write past it.
const fastMatchRoom = 258 + 8

// fastBlock decodes symbols as block does while 8 bytes of input can be
// loaded at once and the output has room for any match and its overrun,
// and returns where the output ends and why it stopped (at a symbol's
// start if it stopped for room). Runs of literals are decoded by
// fastLiterals; a match's length and distance come whole from their
// entries; a match that does not overlap its last 8 bytes is copied 8
// bytes at a time within out (the bytes written past its end are
// overwritten next, or lie beyond the output). lit's root is full (litRoot
// bits).
func (f *inflater) fastBlock(out []byte, o, start int, lit, dist *huffTable) (int, int) {
	in, pos, buf, n := f.in, f.pos, f.buf, f.n
	status := fastMargin
	lim := len(out) - fastMatchRoom
	for {
		pos, buf, n, o = fastLiterals(&lit.root, in, pos, buf, n, out, o, lim)
		if n < 48 || o >= lim {
			break
		}
		e := lit.root[buf&(maxRoot-1)]
		if e&linkFlag != 0 {
			e = lit.sub[e>>16+uint32(buf>>litRoot)&(1<<(e&31)-1)]
		}
		if e&litFlag != 0 {
			out[o] = byte(e >> 16)
			o++
			buf >>= e & 31
			n -= uint(e & 31)
			continue
		}
		if e&matchFlag == 0 {
			status = fastInvalid
			if e&endFlag != 0 {
				buf >>= e & 31
				n -= uint(e & 31)
				status = fastEnd
			}
			break
		}
		length := int(e>>16) + int(uint32(buf)&(1<<(e&31)-1)>>(e>>5&15))
		buf >>= e & 31
		n -= uint(e & 31)
		e = dist.root[buf&(1<<dist.rootBits-1)&(maxRoot-1)]
		if e&linkFlag != 0 {
			e = dist.sub[e>>16+uint32(buf>>dist.rootBits)&(1<<(e&31)-1)]
		}
		if e&matchFlag == 0 {
			status = fastInvalid
			break
		}
		back := int(e>>16) + int(uint32(buf)&(1<<(e&31)-1)>>(e>>5&15))
		buf >>= e & 31
		n -= uint(e & 31)
		if back > o-start {
			status = fastInvalid
			break
		}
		from := o - back
		if back >= 8 {
			// Each 8 bytes read were written before (back ≥ 8). The first
			// 16 bytes are copied whatever the length (most matches are
			// shorter): a loop would end at a different round each time.
			binary.LittleEndian.PutUint64(out[o:], binary.LittleEndian.Uint64(out[from:]))
			binary.LittleEndian.PutUint64(out[o+8:], binary.LittleEndian.Uint64(out[from+8:]))
			for k := 16; k < length; k += 8 {
				binary.LittleEndian.PutUint64(out[o+k:], binary.LittleEndian.Uint64(out[from+k:]))
			}
			o += length
			continue
		}
		// An overlapping copy (back < length) repeats the last back bytes:
		// each round copies what the last one wrote too.
		end := o + length
		for o < end {
			o += copy(out[o:end], out[from:o])
		}
	}
	f.pos, f.buf, f.n = pos, buf, n
	return o, status
}

// fastLiterals decodes literals of codes in root until the next symbol is
// anything else (buf then holds at least 56 bits, so that a match can
// follow), o reaches lim or the input has fewer than 8 bytes to load. It is a function of its own with
// as few variables as the loop needs, so that the compiler keeps them all
// in registers: the bit buffer or the entry spilled (as they are in a loop
// with more to keep) would add a store and a load to every literal's
// lookup, which waits on the last one's length.
func fastLiterals(root *[maxRoot]uint32, in []byte, pos int, buf uint64, n uint, out []byte, o, lim int) (int, uint64, uint, int) {
	for o < lim && pos+8 <= len(in) {
		// Refilled before every literal, whether it needs it or not: a
		// branch on the bits left would follow the code lengths and be
		// mispredicted every few literals. Bits loaded beyond n are the
		// input's next ones, so loading them again changes nothing.
		buf |= binary.LittleEndian.Uint64(in[pos:]) << n
		k := (63 - n) >> 3
		pos += int(k)
		n += k << 3
		e := root[buf&(maxRoot-1)]
		if e&litFlag == 0 {
			break
		}
		c := e & 31
		buf >>= c
		n -= uint(c)
		out[o] = byte(e >> 16)
		o++
	}
	return pos, buf, n, o
}
