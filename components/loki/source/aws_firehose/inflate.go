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

// Table entries: the symbol (or a subtable's offset) in the high 16 bits,
// the code's whole length (or a subtable's index bits) in the low 8 bits,
// linkFlag for a subtable. 0 is a bit pattern no code starts with.
const (
	linkFlag = 1 << 8
	litRoot  = 10
	distRoot = 8
	maxRoot  = 1 << litRoot
)

// huffTable decodes one canonical Huffman code: root is indexed by the next
// rootBits bits; longer codes continue in subtables of sub.
type huffTable struct {
	root     [maxRoot]uint32
	sub      []uint32
	rootBits uint
}

// build makes t the decoder of the code with these lengths (0: unused
// symbol). It refuses what klauspost's and the standard library's inflaters
// refuse: an over-subscribed or incomplete code, but for the degenerate code
// of one symbol of one bit, which zlib accepts. An empty code builds a
// table that decodes nothing.
func (t *huffTable) build(lengths []uint8, rootBits uint) bool {
	var count [16]int
	maxLen := 0
	for _, l := range lengths {
		count[l]++
		maxLen = max(maxLen, int(l))
	}
	count[0] = 0
	t.rootBits = rootBits
	clear(t.root[:1<<rootBits])
	t.sub = t.sub[:0]
	if maxLen == 0 {
		return true
	}
	code := 0
	var next [16]int
	for l := 1; l <= maxLen; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	code += count[maxLen]
	if code != 1<<maxLen && !(code == 1 && maxLen == 1) {
		return false
	}
	subBits := uint(0)
	if uint(maxLen) > rootBits {
		subBits = uint(maxLen) - rootBits
	}
	rootMask := uint32(1)<<rootBits - 1
	for sym, l := range lengths {
		if l == 0 {
			continue
		}
		c := next[l]
		next[l]++
		rev := uint32(bits.Reverse16(uint16(c))) >> (16 - uint(l))
		entry := uint32(sym)<<16 | uint32(l)
		if uint(l) <= rootBits {
			for i := rev; i < 1<<rootBits; i += 1 << l {
				t.root[i] = entry
			}
			continue
		}
		r := rev & rootMask
		link := t.root[r]
		if link == 0 {
			link = uint32(len(t.sub))<<16 | linkFlag | uint32(subBits)
			t.root[r] = link
			t.sub = append(t.sub, make([]uint32, 1<<subBits)...)
		}
		sub := t.sub[link>>16 : link>>16+1<<subBits]
		for i := rev >> rootBits; i < 1<<subBits; i += 1 << (uint(l) - rootBits) {
			sub[i] = entry
		}
	}
	return true
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

// sym decodes the next symbol of t (buf holds at least 15 bits); false for
// a bit pattern the code does not have.
func (f *inflater) sym(t *huffTable) (uint32, bool) {
	e := t.root[f.buf&(1<<t.rootBits-1)&(maxRoot-1)]
	if e&linkFlag != 0 {
		e = t.sub[e>>16+uint32(f.buf>>t.rootBits)&(1<<(e&0xff)-1)]
	}
	l := uint(e & 0xff)
	if l == 0 {
		return 0, false
	}
	f.buf >>= l
	f.n -= l
	return e >> 16, true
}

var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint32{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	codeOrder   = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// fixedLit and fixedDist are the codes of BTYPE 01 (RFC 1951, 3.2.6).
var fixedLit, fixedDist = func() (huffTable, huffTable) {
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
	var d [30]uint8
	for i := range d {
		d[i] = 5
	}
	var lit, dist huffTable
	lit.build(l[:], litRoot)
	dist.build(d[:], distRoot)
	return lit, dist
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
	if !f.clen.build(f.clens[:], 7) {
		return false
	}
	lens := f.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		f.refill()
		if f.over > 8 {
			return false
		}
		x, ok := f.sym(&f.clen)
		if !ok {
			return false
		}
		if x < 16 {
			lens[i] = uint8(x)
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
			rep, v = 3+int(f.take(2)), lens[i-1]
		case 17:
			rep = 3 + int(f.take(3))
		default:
			rep = 11 + int(f.take(7))
		}
		if i+rep > len(lens) {
			return false
		}
		for j := 0; j < rep; j++ {
			lens[i+j] = v
		}
		i += rep
	}
	return f.lit.build(lens[:nlit], litRoot) && f.dist.build(lens[nlit:], distRoot)
}

// block decodes a block's symbols with lit and dist until its end, matches
// reaching back at most to start of dst (the member's first byte). It keeps
// the bit reader in locals (registers) and refills only when fewer bits are
// left than a length and distance may take (15+5+15+13 = 48).
func (f *inflater) block(dst []byte, start int, lit, dist *huffTable) ([]byte, bool) {
	in, pos, over, buf, n := f.in, f.pos, f.over, f.buf, f.n
	litMask, distMask := uint64(1)<<lit.rootBits-1, uint64(1)<<dist.rootBits-1
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
		e := lit.root[buf&litMask&(maxRoot-1)]
		if e&linkFlag != 0 {
			e = lit.sub[e>>16+uint32(buf>>lit.rootBits)&(1<<(e&0xff)-1)]
		}
		l := uint(e & 0xff)
		if l == 0 {
			break
		}
		buf >>= l
		n -= l
		s := e >> 16
		if s < 256 {
			if len(dst) == cap(dst) {
				break
			}
			dst = append(dst, byte(s))
			continue
		}
		if s == 256 {
			ok = true
			break
		}
		if s > 285 {
			break
		}
		s -= 257
		length := int(lengthBase[s]) + int(uint32(buf)&(1<<lengthExtra[s]-1))
		buf >>= lengthExtra[s]
		n -= uint(lengthExtra[s])
		e = dist.root[buf&distMask&(maxRoot-1)]
		if e&linkFlag != 0 {
			e = dist.sub[e>>16+uint32(buf>>dist.rootBits)&(1<<(e&0xff)-1)]
		}
		l = uint(e & 0xff)
		d := e >> 16
		if l == 0 || d >= 30 {
			break
		}
		buf >>= l
		n -= l
		back := int(distBase[d]) + int(uint32(buf)&(1<<distExtra[d]-1))
		buf >>= distExtra[d]
		n -= uint(distExtra[d])
		if back > len(dst)-start || length > cap(dst)-len(dst) {
			break
		}
		// An overlapping copy (back < length) repeats the last back bytes:
		// each round copies what the last one wrote too.
		from, i := len(dst)-back, len(dst)
		dst = dst[:i+length]
		for i < len(dst) {
			i += copy(dst[i:], dst[from:i])
		}
	}
	f.pos, f.over, f.buf, f.n = pos, over, buf, n
	return dst, ok
}
