package awsfirehose

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// parseFast parses the body Firehose actually sends,
//
//	{"requestId":"…","timestamp":1234,"records":[{"data":"…"},…]}
//
// (keys in any order, any whitespace) in one pass without allocating a
// string per record: it calls record with each record's data, a slice of
// body, in order, and stops if record returns false. It declines (ok ==
// false) anything else: escapes or non-ASCII in strings, other keys, null,
// non-integer timestamps, duplicate keys. decodeBody then uses
// encoding/json, which decides and explains. So parseFast never accepts a
// body encoding/json would reject or read differently; FuzzFastParser
// checks exactly that. A decline may come after some records were passed
// on: the caller drops them.
func parseFast(body []byte, record func(data []byte) bool) (requestID []byte, timestamp int64, ok bool) {
	p := fastParser{b: body}
	if !p.consume('{') {
		return nil, 0, false
	}
	var seen uint8 // the fields read so far
	if p.peek() == '}' {
		p.i++
		return nil, 0, p.end()
	}
	for {
		key, ok := p.str()
		if !ok || !p.consume(':') {
			return nil, 0, false
		}
		// An unknown or repeated key is encoding/json's to decide.
		f := fastField(key)
		if f == 0 || seen&f != 0 {
			return nil, 0, false
		}
		seen |= f
		switch f {
		case fieldRequestID:
			requestID, ok = p.str()
		case fieldTimestamp:
			timestamp, ok = p.int()
		case fieldRecords:
			ok = p.records(record)
		}
		if !ok {
			return nil, 0, false
		}
		switch p.next() {
		case ',':
		case '}':
			return requestID, timestamp, p.end()
		default:
			return nil, 0, false
		}
	}
}

// The fields of a Firehose request, as bits of parseFast's seen set.
const (
	fieldRequestID uint8 = 1 << iota
	fieldTimestamp
	fieldRecords
)

// fastField is key's field, 0 for a key parseFast does not take.
func fastField(key []byte) uint8 {
	switch string(key) {
	case "requestId":
		return fieldRequestID
	case "timestamp":
		return fieldTimestamp
	case "records":
		return fieldRecords
	}
	return 0
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) skipSpace() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte without consuming it (0 at the end).
func (p *fastParser) peek() byte {
	p.skipSpace()
	if p.i >= len(p.b) {
		return 0
	}
	return p.b[p.i]
}

func (p *fastParser) next() byte {
	c := p.peek()
	if c != 0 {
		p.i++
	}
	return c
}

func (p *fastParser) consume(c byte) bool { return p.next() == c }

// end reports whether only whitespace is left.
func (p *fastParser) end() bool {
	p.skipSpace()
	return p.i == len(p.b)
}

// str reads a string of printable ASCII without escapes.
func (p *fastParser) str() ([]byte, bool) {
	if !p.consume('"') {
		return nil, false
	}
	start := p.i
	for p.skipPlain() {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// skipPlain moves to the next byte that needs a look, skipping eight bytes
// at a time while none of them does (base64 data and log lines are
// hundreds of plain bytes) and then straight to the first one that does,
// and reports whether a byte is left for the caller to look at.
func (p *fastParser) skipPlain() bool {
	for p.i+8 <= len(p.b) {
		if m := specialMask(binary.LittleEndian.Uint64(p.b[p.i:])); m != 0 {
			p.i += bits.TrailingZeros64(m) >> 3
			return true
		}
		p.i += 8
	}
	for p.i < len(p.b) && !special(p.b[p.i]) {
		p.i++
	}
	return p.i < len(p.b)
}

// special is the byte-by-byte rule of specialMask.
func special(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x7f }

// special8 tells whether any of the 8 bytes of x may be '"', '\\', a
// control character or not printable ASCII.
func special8(x uint64) bool { return specialMask(x) != 0 }

// specialMask has the high bit of each byte of x (little endian) set that
// may be '"', '\\', a control character or not printable ASCII. Bytes above
// the first such byte may be flagged falsely (a borrow or carry passes
// upwards), but the lowest bit set is exact: it marks the first byte that
// needs a look (TestSpecialMaskFirst).
func specialMask(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	zero := func(v uint64) uint64 { return (v - ones) & ^v & highs }
	return zero(quote) | zero(backslash) | ((x - ones*0x20) &^ x & highs) | ((x | (x + ones)) & highs)
}

// int reads an integer without sign, fraction or exponent beyond what
// fits an int64 (JSON forbids leading zeros).
func (p *fastParser) int() (int64, bool) {
	p.skipSpace()
	neg := false
	if p.i < len(p.b) && p.b[p.i] == '-' {
		neg = true
		p.i++
	}
	start := p.i
	var n int64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		if p.i-start >= 18 {
			return 0, false // could overflow: let encoding/json decide
		}
		n = n*10 + int64(p.b[p.i]-'0')
		p.i++
	}
	digits := p.i - start
	if digits == 0 || (digits > 1 && p.b[start] == '0') {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	if neg {
		n = -n
	}
	return n, true
}

// records reads [{"data":"…"}, …], passing each data to record.
func (p *fastParser) records(record func([]byte) bool) bool {
	if !p.consume('[') {
		return false
	}
	if p.peek() == ']' {
		p.i++
		return true
	}
	for {
		if !p.consume('{') {
			return false
		}
		key, ok := p.str()
		if !ok || string(key) != "data" || !p.consume(':') {
			return false
		}
		data, ok := p.str()
		if !ok || !p.consume('}') || !record(data) {
			return false
		}
		switch p.next() {
		case ',':
		case ']':
			return true
		default:
			return false
		}
	}
}

// parseCloudWatchFast parses a CloudWatch Logs subscription payload,
//
//	{"messageType":"…","owner":"…","logGroup":"…","logStream":"…",
//	 "subscriptionFilters":["…"],"logEvents":[{"id":"…","timestamp":1,"message":"…"},…]}
//
// (keys in any order, any whitespace) into p, in one pass over data, which
// it only reads: the strings of p are appended to out (messages unescaped
// as they are scanned) and point there, and the events are appended to
// events (p.LogEvents is what it appended). With len(data) bytes of spare
// capacity in out (a string unescaped is never longer than its JSON) and
// room in events, nothing is allocated per event or per string, and data
// may be reused as soon as it returns. It returns out grown by the strings.
// It declines (out as it was, false) anything else: other keys
// (encoding/json would match them without regard to case), duplicate keys,
// null, escapes or non-ASCII in the metadata strings, invalid UTF-8 or \u
// surrogates in messages (encoding/json replaces them), non-integer
// timestamps. decodeGzipRecord then uses encoding/json. FuzzCloudWatchFast
// checks that whatever it accepts, encoding/json reads the same.
func parseCloudWatchFast(data []byte, p *cwPayload, out []byte, events []cwEvent) ([]byte, bool) {
	fp := fastParser{b: data}
	in := out
	if !fp.consume('{') {
		return in, false
	}
	if fp.peek() == '}' {
		fp.i++
		return in, fp.end()
	}
	var seen [6]bool
	for {
		key, ok := fp.str()
		if !ok || !fp.consume(':') {
			return in, false
		}
		field := -1
		var dst *string
		switch string(key) {
		case "messageType":
			field, dst = 0, &p.MessageType
		case "owner":
			field, dst = 1, &p.Owner
		case "logGroup":
			field, dst = 2, &p.LogGroup
		case "logStream":
			field, dst = 3, &p.LogStream
		case "subscriptionFilters":
			field = 4
		case "logEvents":
			field = 5
		default:
			return in, false
		}
		if seen[field] {
			return in, false
		}
		seen[field] = true
		switch {
		case dst != nil:
			s, ok := fp.str()
			if !ok {
				return in, false
			}
			*dst, out = appendString(out, s)
		case field == 4:
			if p.SubscriptionFilters, out, ok = fp.strings(out); !ok {
				return in, false
			}
		default:
			if p.LogEvents, out, ok = fp.events(out, events); !ok {
				return in, false
			}
		}
		switch fp.next() {
		case ',':
		case '}':
			if !fp.end() {
				return in, false
			}
			return out, true
		default:
			return in, false
		}
	}
}

// appendString appends s to out and returns it as a string pointing there.
func appendString(out, s []byte) (string, []byte) {
	n := len(out)
	out = append(out, s...)
	return bytesString(out[n:]), out
}

// bytesString is b as a string sharing its memory.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// strings reads an array of plain strings (see str), appended to out.
func (p *fastParser) strings(out []byte) ([]string, []byte, bool) {
	if !p.consume('[') {
		return nil, out, false
	}
	list := []string{}
	if p.peek() == ']' {
		p.i++
		return list, out, true
	}
	for {
		s, ok := p.str()
		if !ok {
			return nil, out, false
		}
		var v string
		v, out = appendString(out, s)
		list = append(list, v)
		switch p.next() {
		case ',':
		case ']':
			return list, out, true
		default:
			return nil, out, false
		}
	}
}

// events reads logEvents, appending them to events and their messages,
// unescaped, to out.
func (p *fastParser) events(out []byte, events []cwEvent) ([]cwEvent, []byte, bool) {
	if !p.consume('[') {
		return nil, out, false
	}
	events = events[:0]
	if p.peek() == ']' {
		p.i++
		return events, out, true
	}
	for {
		if !p.consume('{') {
			return nil, out, false
		}
		var ev cwEvent
		if p.peek() == '}' {
			p.i++
		} else {
			var seenID, seenTS, seenMsg bool
			for done := false; !done; {
				key, ok := p.str()
				if !ok || !p.consume(':') {
					return nil, out, false
				}
				switch string(key) {
				case "id":
					if seenID {
						return nil, out, false
					}
					seenID = true
					if _, ok := p.text(); !ok {
						return nil, out, false
					}
				case "timestamp":
					if seenTS {
						return nil, out, false
					}
					seenTS = true
					if ev.Timestamp, ok = p.int(); !ok {
						return nil, out, false
					}
				case "message":
					if seenMsg {
						return nil, out, false
					}
					seenMsg = true
					n := len(out)
					if out, ok = p.textTo(out); !ok {
						return nil, out, false
					}
					ev.Message = bytesString(out[n:])
				default:
					return nil, out, false
				}
				switch p.next() {
				case ',':
				case '}':
					done = true
				default:
					return nil, out, false
				}
			}
		}
		events = append(events, ev)
		switch p.next() {
		case ',':
		case ']':
			return events, out, true
		default:
			return nil, out, false
		}
	}
}

// textTo reads a string as text does, appending it unescaped to out.
func (p *fastParser) textTo(out []byte) ([]byte, bool) {
	if !p.consume('"') {
		return out, false
	}
	run := p.i // start of the bytes not yet appended
	for p.skipPlain() {
		c := p.b[p.i]
		switch {
		case c == '"':
			out = append(out, p.b[run:p.i]...)
			p.i++
			return out, true
		case c == '\\':
			out = append(out, p.b[run:p.i]...)
			if p.i+1 >= len(p.b) {
				return out, false
			}
			switch e := p.b[p.i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(p.b[p.i+2:])
				if !ok || utf16.IsSurrogate(r) {
					return out, false
				}
				out = utf8.AppendRune(out, r) // at most 3 bytes for 6 read
				p.i += 4
			default:
				return out, false
			}
			p.i += 2
			run = p.i
		default:
			if !p.skipChar(c) {
				return out, false
			}
		}
	}
	return out, false
}

// text reads a string that may hold escapes and UTF-8, returned still
// escaped. It declines control characters (invalid JSON), invalid UTF-8 and
// \u escapes of surrogates (which encoding/json would replace or combine).
func (p *fastParser) text() ([]byte, bool) {
	if !p.consume('"') {
		return nil, false
	}
	start := p.i
	for p.skipPlain() {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, true
		case c == '\\':
			if p.i+1 >= len(p.b) {
				return nil, false
			}
			switch p.b[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				r, ok := hex4(p.b[p.i+2:])
				if !ok || utf16.IsSurrogate(r) {
					return nil, false
				}
				p.i += 6
			default:
				return nil, false
			}
		default:
			if !p.skipChar(c) {
				return nil, false
			}
		}
	}
	return nil, false
}

// skipChar passes over c, the byte at p.i, or the UTF-8 rune it starts. It
// declines a control character (invalid JSON) and invalid UTF-8 (which
// encoding/json would replace).
func (p *fastParser) skipChar(c byte) bool {
	switch {
	case c < 0x20:
		return false
	case c < utf8.RuneSelf:
		p.i++
	default:
		r, n := utf8.DecodeRune(p.b[p.i:])
		if r == utf8.RuneError && n == 1 {
			return false
		}
		p.i += n
	}
	return true
}

// hex4 reads the 4 hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
