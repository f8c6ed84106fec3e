package awsfirehose

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
	var seenID, seenTS, seenRecords bool
	if p.peek() == '}' {
		p.i++
		return nil, 0, p.end()
	}
	for {
		key, ok := p.str()
		if !ok || !p.consume(':') {
			return nil, 0, false
		}
		switch string(key) {
		case "requestId":
			if seenID {
				return nil, 0, false
			}
			seenID = true
			if requestID, ok = p.str(); !ok {
				return nil, 0, false
			}
		case "timestamp":
			if seenTS {
				return nil, 0, false
			}
			seenTS = true
			if timestamp, ok = p.int(); !ok {
				return nil, 0, false
			}
		case "records":
			if seenRecords {
				return nil, 0, false
			}
			seenRecords = true
			if !p.records(record) {
				return nil, 0, false
			}
		default:
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
	for p.i < len(p.b) {
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
