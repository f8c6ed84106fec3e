package awsfirehose

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strings"
	"testing"
	"time"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
)

// FuzzDecodeRequest feeds arbitrary bodies (plain and as gzip) through the
// request decoder: it must never panic, and whatever it accepts must respect
// the limits.
//
//	go test -fuzz FuzzDecodeRequest ./components/loki/source/aws_firehose/
func FuzzDecodeRequest(f *testing.F) {
	cw := fh.CloudWatchPayload{MessageType: "DATA_MESSAGE", Owner: "1", LogGroup: "g", LogStream: "s",
		SubscriptionFilters: []string{"f"}, LogEvents: []fh.LogEvent{{ID: "1", Timestamp: 1, Message: "m"}}}
	for _, seed := range [][]byte{
		fh.Body("id", time.Unix(1, 0), [][]byte{[]byte("line")}),
		fh.Body("id", time.Unix(1, 0), [][]byte{cw.Record(), fh.ControlMessage()}),
		fh.Body("id", time.Unix(1, 0), [][]byte{gz([]byte("not cloudwatch"))}),
		[]byte(`{"records":[{"data":"!!"}]}`),
		[]byte(`{"records":[{"data":"H4sIAAAAAAAA"}]}`),
		[]byte(`{}`),
		[]byte(`[`),
	} {
		f.Add(seed, false)
		f.Add(gz(seed), true)
	}
	l := limits{body: 1 << 20, record: 64 << 10, cloudWatch: 256 << 10, decoded: 2 << 20}
	f.Fuzz(func(t *testing.T, body []byte, gzipped bool) {
		enc := ""
		if gzipped {
			enc = "gzip"
		}
		b := newMemBudget(8 << 20)
		acct := newAccount(b, &l)
		defer func() {
			acct.done()
			if u := b.held.Load(); u != 0 {
				t.Fatalf("%d bytes of budget still reserved after the request", u)
			}
		}()
		data, rerr := readBody(bytes.NewReader(body), enc, int64(len(body)), &l, acct)
		if rerr != nil {
			if rerr.status < 400 || rerr.msg == "" {
				t.Fatalf("refusal without a 4xx status and message: %+v", rerr)
			}
			return
		}
		if int64(len(data)) > l.body {
			t.Fatalf("read %d bytes, over the %d limit", len(data), l.body)
		}
		dec, rerr := decodeBody(data, &l, acct)
		acct.release(int64(cap(data)))
		if rerr != nil {
			if (rerr.status != 400 && rerr.status != 413 && rerr.status != 503) || rerr.msg == "" {
				t.Fatalf("refusal without 400, 413 or 503 and a message: %+v", rerr)
			}
			return
		}
		if acct.decoded > l.decoded {
			t.Fatalf("decoded %d bytes, over the %d limit", acct.decoded, l.decoded)
		}
		for _, r := range dec.records {
			if r.cw == nil && int64(len(r.line)) > l.cloudWatch {
				t.Fatalf("line of %d bytes over the limits", len(r.line))
			}
			if r.cw != nil && r.cw.MessageType != "DATA_MESSAGE" && r.cw.MessageType != "CONTROL_MESSAGE" {
				t.Fatalf("accepted messageType %q", r.cw.MessageType)
			}
		}
	})
}

// FuzzFastParser is a differential test: whatever parseFast accepts,
// encoding/json must accept with the same meaning.
//
//	go test -fuzz FuzzFastParser ./components/loki/source/aws_firehose/
func FuzzFastParser(f *testing.F) {
	for _, s := range []string{
		string(fh.Body("0b6b-11", time.Unix(1700000000, 0), [][]byte{[]byte("a"), []byte("line two")})),
		`{"records":[],"requestId":"x","timestamp":-5}`,
		` { "requestId" : "a" , "records" : [ { "data" : "YQ==" } ] } `,
		`{"requestId":"a\u0041","timestamp":1,"records":[]}`,
		`{"requestId":"a","requestId":"b"}`,
		`{"timestamp":1.5}`, `{"timestamp":01}`, `{"timestamp":99999999999999999999}`,
		`{"records":[{"data":null}]}`, `{"RequestId":"a"}`, `{}`, `{} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var recs [][]byte
		id, ts, ok := parseFast(body, func(d []byte) bool { recs = append(recs, d); return true })
		if !ok {
			return
		}
		var wr struct {
			RequestID string `json:"requestId"`
			Timestamp int64  `json:"timestamp"`
			Records   []struct {
				Data string `json:"data"`
			} `json:"records"`
		}
		if err := json.Unmarshal(body, &wr); err != nil {
			t.Fatalf("parseFast accepted what encoding/json rejects (%v): %q", err, body)
		}
		if string(id) != wr.RequestID || ts != wr.Timestamp || len(recs) != len(wr.Records) {
			t.Fatalf("parseFast read %q %d %d records, encoding/json %q %d %d: %q", id, ts, len(recs), wr.RequestID, wr.Timestamp, len(wr.Records), body)
		}
		for i := range recs {
			if string(recs[i]) != wr.Records[i].Data {
				t.Fatalf("record %d: %q vs %q", i, recs[i], wr.Records[i].Data)
			}
		}
	})
}

func TestFastParserTakesWhatFirehoseSends(t *testing.T) {
	body := fh.Body(fh.NewRequestID(), time.Now(), [][]byte{[]byte("x"), fh.ControlMessage()})
	n := 0
	if _, _, ok := parseFast(body, func([]byte) bool { n++; return true }); !ok || n != 2 {
		t.Fatalf("the fast path declines a Firehose body: ok=%v records=%d", ok, n)
	}
	// What it declines still decodes, through encoding/json, with the same
	// meaning (case-insensitive keys, the last of duplicate keys, null).
	l := defaultLimits
	for body, want := range map[string][]string{
		`{"RequestId":"a\u0041","records":[{"data":"eA=="}],"extra":{"nested":[1,2]}}`:       {"x"},
		`{"requestId":"aA","records":[{"data":"eQ=="}],"records":[{"DATA":"eA=="},null,{}]}`: {"x", "", ""},
		`{"requestId":"aA","records":null}`:                                                  nil,
	} {
		acct := newAccount(newMemBudget(1<<30), &l)
		dec, rerr := decodeBody([]byte(body), &l, acct)
		if rerr != nil || dec.requestID != "aA" || len(dec.records) != len(want) {
			t.Fatalf("fallback of %s: %+v %v", body, dec, rerr)
		}
		for i, w := range want {
			if dec.records[i].line != w {
				t.Fatalf("fallback of %s: record %d is %q, want %q", body, i, dec.records[i].line, w)
			}
		}
	}
	for _, body := range []string{`{"records":5}`, `{"records":[1]}`, `{"records":[{"data":5}]}`, `{"records":[`} {
		acct := newAccount(newMemBudget(1<<30), &l)
		if _, rerr := decodeBody([]byte(body), &l, acct); rerr == nil || rerr.status != 400 {
			t.Fatalf("fallback accepted %s: %v", body, rerr)
		}
	}
}

// FuzzCloudWatchFast is a differential test: whatever parseCloudWatchFast
// accepts, encoding/json must accept with the same meaning; and when it
// declines, the payload is left as it was for encoding/json.
//
//	go test -fuzz FuzzCloudWatchFast ./components/loki/source/aws_firehose/
func FuzzCloudWatchFast(f *testing.F) {
	payload, _ := json.Marshal(fh.CloudWatchPayload{MessageType: "DATA_MESSAGE", Owner: "123456789012", LogGroup: "/aws/lambda/f",
		LogStream: "2024/05/01/[$LATEST]0123", SubscriptionFilters: []string{"a", "b"}, LogEvents: []fh.LogEvent{
			{ID: "1", Timestamp: 1714564800000, Message: `{"level":"info","msg":"a \"quoted\" tab\there"}` + "\n"},
			{ID: "2", Timestamp: -1, Message: "ünïcødé \u2028 </script> \\ / \x01"},
		}})
	for _, s := range []string{
		string(payload),
		`{}`, `{"logEvents":[]}`, `{"logEvents":[{}]}`, `{"logEvents":null}`,
		`{"logEvents":[{"message":"a\u0041\u00e9\u20ac\/\b\f\n\r\t"}]}`,
		`{"logEvents":[{"message":"\ud83d\ude00"}]}`, `{"logEvents":[{"message":"\ud83d"}]}`,
		`{"logEvents":[{"message":"bad \xff utf8"}]}`, `{"logEvents":[{"message":"ctl ` + "\x01" + `"}]}`,
		`{"logEvents":[{"timestamp":1.5}]}`, `{"logEvents":[{"timestamp":1,"timestamp":2}]}`,
		`{"owner":"a","owner":"b"}`, `{"Owner":"a"}`, `{"owner":"a\"b"}`, `{"subscriptionFilters":["x",1]}`,
		`{"logEvents":[{"Message":"x"}]}`, `{"logEvents":[{"id":5}]}`, `{} x`, `{"logEvents":[{"message":"x"},]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		var fast cwPayload
		// The room decodeGzipRecord makes: as many bytes as the JSON, and
		// a chunk already in use before them.
		out := make([]byte, 3, 3+len(data))
		copy(out, "abc")
		strs, ok := parseCloudWatchFast(data, &fast, out, nil)
		if !bytes.Equal(data, orig) {
			t.Fatalf("parseCloudWatchFast changed its input %q to %q", orig, data)
		}
		if string(strs[:3]) != "abc" {
			t.Fatalf("parseCloudWatchFast overwrote what its output held before: %q", strs[:3])
		}
		if !ok {
			if len(strs) != 3 {
				t.Fatalf("parseCloudWatchFast declined %q but grew its output", orig)
			}
			return
		}
		if cap(strs) != cap(out) {
			t.Fatalf("parseCloudWatchFast needed more than len(data) bytes of output for %q", orig)
		}
		var want cwPayload
		if err := json.Unmarshal(orig, &want); err != nil {
			t.Fatalf("parseCloudWatchFast accepted what encoding/json rejects (%v): %q", err, orig)
		}
		if fast.MessageType != want.MessageType || fast.Owner != want.Owner || fast.LogGroup != want.LogGroup ||
			fast.LogStream != want.LogStream || strings.Join(fast.SubscriptionFilters, "\x00") != strings.Join(want.SubscriptionFilters, "\x00") ||
			len(fast.LogEvents) != len(want.LogEvents) {
			t.Fatalf("parseCloudWatchFast read %+v, encoding/json %+v: %q", fast, want, orig)
		}
		for i := range fast.LogEvents {
			if fast.LogEvents[i] != want.LogEvents[i] {
				t.Fatalf("event %d: %+v vs %+v: %q", i, fast.LogEvents[i], want.LogEvents[i], orig)
			}
		}
	})
}

func TestCloudWatchFastTakesWhatCloudWatchSends(t *testing.T) {
	p := fh.CloudWatchPayload{MessageType: "DATA_MESSAGE", Owner: "123456789012", LogGroup: "/aws/lambda/f",
		LogStream: "2024/05/01/[$LATEST]0123", SubscriptionFilters: []string{"to-firehose"},
		LogEvents: []fh.LogEvent{
			{ID: "37516444622855331525778931207609712387131752705581990912", Timestamp: 1714564800000, Message: `{"level":"info","msg":"say \"hi\""}` + "\n"},
			{ID: "37516444622855331525778931207609712387131752705581990913", Timestamp: 1714564800001, Message: "REPORT RequestId: 1\tDuration: 2 ms\té€"},
		}}
	data, _ := json.Marshal(p)
	var got cwPayload
	if _, ok := parseCloudWatchFast(data, &got, make([]byte, 0, len(data)), make([]cwEvent, 0, 2)); !ok {
		t.Fatalf("the fast path declines a CloudWatch Logs payload: %s", data)
	}
	if got.LogGroup != p.LogGroup || got.SubscriptionFilters[0] != "to-firehose" || len(got.LogEvents) != 2 ||
		got.LogEvents[0].Message != p.LogEvents[0].Message || got.LogEvents[1].Message != p.LogEvents[1].Message ||
		got.LogEvents[1].Timestamp != 1714564800001 {
		t.Fatalf("parsed %+v", got)
	}
}

// TestSpecial8 checks the word-at-a-time test of parseFast's strings
// against the byte-by-byte rule for every byte value in every position.
func TestSpecial8(t *testing.T) {
	plain := []byte("abcdefgh")
	for pos := 0; pos < 8; pos++ {
		for c := 0; c < 256; c++ {
			b := bytes.Clone(plain)
			b[pos] = byte(c)
			want := c == '"' || c == '\\' || c < 0x20 || c >= 0x7f
			if got := special8(binary.LittleEndian.Uint64(b)); want && !got {
				t.Fatalf("byte %#x at %d not flagged", c, pos)
			}
		}
	}
	if special8(binary.LittleEndian.Uint64([]byte("QUJD+/09"))) {
		t.Fatal("plain base64 flagged")
	}
}

// TestSpecialMaskFirst checks that specialMask's lowest bit marks exactly
// the first byte that needs a look, whatever the bytes above it, for every
// byte value at every position below plain, special and mixed bytes.
func TestSpecialMaskFirst(t *testing.T) {
	for _, above := range []string{"abcdefgh", "\xff\xff\xff\xff\xff\xff\xff\xff", "\x00\x00\x00\x00\x00\x00\x00\x00", `"\"\"\"\`, "\x7f\x1f\x80\x20\x21\x5b\x5d\x7e"} {
		for pos := 0; pos < 8; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte("abcdefgh")
				copy(b[pos+1:], above)
				b[pos] = byte(c)
				want := 8
				for i, x := range b {
					if special(x) {
						want = i
						break
					}
				}
				got := 8
				if m := specialMask(binary.LittleEndian.Uint64(b)); m != 0 {
					got = bits.TrailingZeros64(m) >> 3
				}
				if got != want {
					t.Fatalf("%q: first special byte at %d, specialMask says %d", b, want, got)
				}
			}
		}
	}
}
