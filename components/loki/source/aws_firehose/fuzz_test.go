package awsfirehose

import (
	"bytes"
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
	l := limits{body: 1 << 20, record: 64 << 10, cloudWatch: 256 << 10}
	f.Fuzz(func(t *testing.T, body []byte, gzipped bool) {
		enc := ""
		if gzipped {
			enc = "gzip"
		}
		data, rerr := readBody(bytes.NewReader(body), enc, l)
		if rerr != nil {
			if rerr.status < 400 || rerr.msg == "" {
				t.Fatalf("refusal without a 4xx status and message: %+v", rerr)
			}
			return
		}
		if int64(len(data)) > l.body {
			t.Fatalf("read %d bytes, over the %d limit", len(data), l.body)
		}
		dec, rerr := decodeBody(data, l)
		if rerr != nil {
			if rerr.status != 400 || rerr.msg == "" {
				t.Fatalf("refusal without 400 and message: %+v", rerr)
			}
			return
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
