package logs

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	fh "github.com/flow-telemetry/flow/components/loki/source/aws_firehose/firehosetest"
)

// shape is a kind of Firehose traffic the benchmark sends.
type shape struct {
	name string
	// accessKey is checked by flow and sent by the senders ("" for none).
	accessKey string
	// streams is the number of distinct label sets the senders' common
	// attributes make (0: none; the config's static labels only).
	streams int
	// gzipBody sends bodies with Content-Encoding: gzip.
	gzipBody bool
	// cloudWatch sends gzipped CloudWatch Logs subscription payloads of
	// cwEvents events each (records per request × cwEvents = entries).
	cloudWatch bool
	// prebuilt sends the same 16 bodies over and over (the original shape:
	// lines of a short unique prefix padded with "x", static labels).
	prebuilt bool
	// templated sends the realistic shape from per-client templates
	// whose lines' sequence numbers are patched in place
	// (template_test.go), so the senders cost little.
	templated bool
	// config is the pipeline, with %d for the Firehose port and %q for
	// Loki's URL.
	config string
}

const benchAccessKey = "bench-access-key-0123456789"

// cwEvents is the number of events in one CloudWatch Logs payload: 50
// records of 10 events make the 500 entries of a request.
const cwEvents = 10

var (
	// shapeStatic is the benchmark's original shape: pre-built bodies,
	// static labels from the config, no access key.
	shapeStatic = shape{name: "static", prebuilt: true, config: `
loki.source.aws_firehose "bench" {
  http {
    listen_address = "127.0.0.1"
    listen_port    = %d
  }
  labels {
    job = "bench"
  }
  forward_to = [loki.write.bench.receiver]
}

loki.write "bench" {
  endpoint {
    url = %q
  }
}
`}
	// shapeRealistic is what a Firehose stream sends (issue 16): lines
	// generated per request, distinct, ~200 bytes, half logfmt and half
	// JSON; the access key checked; labels from the common attributes, 4
	// distinct streams.
	shapeRealistic = shape{name: "realistic", accessKey: benchAccessKey, streams: 4, config: realisticConfig}
	// shapeRealisticTemplated is shapeRealistic from templated senders.
	shapeRealisticTemplated = shape{name: "realistic-templated", accessKey: benchAccessKey, streams: 4, templated: true, config: realisticConfig}
	// shapeRealisticGzip is shapeRealistic with gzip-encoded bodies.
	shapeRealisticGzip = shape{name: "realistic-gzip", accessKey: benchAccessKey, streams: 4, gzipBody: true, config: realisticConfig}
	// shapeCloudWatch is CloudWatch Logs subscription payloads (gzipped
	// JSON, 10 events each) with the usual rules making labels of the
	// log group and stream and dropping control messages.
	shapeCloudWatch = shape{name: "cloudwatch", accessKey: benchAccessKey, streams: 4, cloudWatch: true, config: `
loki.source.aws_firehose "bench" {
  http {
    listen_address = "127.0.0.1"
    listen_port    = %d
  }
  access_key = "` + benchAccessKey + `"
  relabel_rules = loki.relabel.cw.rules
  forward_to = [loki.write.bench.receiver]
}

loki.relabel "cw" {
  forward_to = []
  rule {
    source_labels = ["__aws_cw_log_group"]
    target_label  = "log_group"
  }
  rule {
    source_labels = ["__aws_cw_msg_type"]
    regex         = "CONTROL_MESSAGE"
    action        = "drop"
  }
}

loki.write "bench" {
  endpoint {
    url = %q
  }
}
`}
)

const realisticConfig = `
loki.source.aws_firehose "bench" {
  http {
    listen_address = "127.0.0.1"
    listen_port    = %d
  }
  access_key = "` + benchAccessKey + `"
  forward_to = [loki.write.bench.receiver]
}

loki.write "bench" {
  endpoint {
    url = %q
  }
}
`

// streamAttributes are the common attributes of stream i: 4 services of
// one environment.
func streamAttributes(i int) map[string]string {
	return map[string]string{
		"lbl_service": "svc-" + strconv.Itoa(i),
		"lbl_env":     "prod",
		"lbl_region":  "eu-west-1",
	}
}

// lineGen makes distinct log lines of about 200 bytes, alternately logfmt
// and JSON, cheaply (the senders share the machine with flow).
type lineGen struct {
	sender int
	seq    uint64
	rnd    uint64
	buf    []byte
}

func newLineGen(sender int) *lineGen {
	return &lineGen{sender: sender, rnd: uint64(sender)*0x9e3779b97f4a7c15 + 1, buf: make([]byte, 0, 256)}
}

func (g *lineGen) next64() uint64 {
	g.rnd ^= g.rnd << 13
	g.rnd ^= g.rnd >> 7
	g.rnd ^= g.rnd << 17
	return g.rnd
}

var (
	methods = []string{"GET", "POST", "PUT", "DELETE"}
	paths   = []string{"/api/v1/orders", "/api/v1/items", "/api/v2/users", "/healthz", "/api/v1/cart/checkout"}
	levels  = []string{"info", "info", "info", "warn", "error"}
)

// line returns the next line; it is valid until the next call.
func (g *lineGen) line(now time.Time) []byte {
	g.seq++
	r := g.next64()
	b := g.buf[:0]
	method, path, level := methods[r%4], paths[(r>>8)%5], levels[(r>>16)%5]
	status := 200 + int((r>>24)%5)*100
	if status == 300 {
		status = 201
	}
	dur := int((r >> 32) % 100000)
	if g.seq%2 == 0 {
		b = append(b, "ts="...)
		b = now.AppendFormat(b, time.RFC3339Nano)
		b = append(b, " level="...)
		b = append(b, level...)
		b = append(b, ` msg="request served" method=`...)
		b = append(b, method...)
		b = append(b, " path="...)
		b = append(b, path...)
		b = append(b, '/')
		b = strconv.AppendUint(b, r>>40, 10)
		b = append(b, " status="...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, " duration_ms="...)
		b = strconv.AppendInt(b, int64(dur/1000), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(dur%1000), 10)
		b = append(b, " trace_id="...)
		b = strconv.AppendUint(b, g.next64(), 16)
		b = append(b, " sender="...)
		b = strconv.AppendInt(b, int64(g.sender), 10)
		b = append(b, " seq="...)
		b = strconv.AppendUint(b, g.seq, 10)
	} else {
		b = append(b, `{"ts":"`...)
		b = now.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","level":"`...)
		b = append(b, level...)
		b = append(b, `","msg":"request served","method":"`...)
		b = append(b, method...)
		b = append(b, `","path":"`...)
		b = append(b, path...)
		b = append(b, '/')
		b = strconv.AppendUint(b, r>>40, 10)
		b = append(b, `","status":`...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, `,"duration_ms":`...)
		b = strconv.AppendInt(b, int64(dur), 10)
		b = append(b, `,"trace_id":"`...)
		b = strconv.AppendUint(b, g.next64(), 16)
		b = append(b, `","seq":`...)
		b = strconv.AppendUint(b, g.seq, 10)
		b = append(b, '}')
	}
	g.buf = b
	return b
}

// requestBuilder makes the bodies of one sender's requests.
type requestBuilder struct {
	shape shape
	gen   *lineGen
	recs  [][]byte
	arena []byte
	zbuf  bytes.Buffer
	zw    *gzip.Writer
	cw    fh.CloudWatchPayload
}

func newRequestBuilder(s shape, sender int) *requestBuilder {
	b := &requestBuilder{shape: s, gen: newLineGen(sender)}
	b.zw, _ = gzip.NewWriterLevel(&b.zbuf, gzip.BestSpeed)
	return b
}

// body builds the next request's body (valid until the next call) and
// returns the number of log entries it holds.
func (b *requestBuilder) body(reqID string, stream int) ([]byte, int) {
	now := time.Now()
	b.recs = b.recs[:0]
	b.arena = b.arena[:0]
	entries := benchPerRequest
	if !b.shape.cloudWatch {
		for i := 0; i < benchPerRequest; i++ {
			start := len(b.arena)
			b.arena = append(b.arena, b.gen.line(now)...)
			b.arena = append(b.arena, '\n') // as producers end records
			b.recs = append(b.recs, b.arena[start:len(b.arena):len(b.arena)])
		}
	} else {
		records := benchPerRequest / cwEvents
		b.cw.MessageType, b.cw.Owner = "DATA_MESSAGE", "123456789012"
		b.cw.LogGroup = "/aws/lambda/svc-" + strconv.Itoa(stream)
		b.cw.SubscriptionFilters = []string{"all"}
		for i := 0; i < records; i++ {
			b.cw.LogStream = fmt.Sprintf("2026/12/03/[$LATEST]%016x", b.gen.next64())
			b.cw.LogEvents = b.cw.LogEvents[:0]
			for j := 0; j < cwEvents; j++ {
				b.cw.LogEvents = append(b.cw.LogEvents, fh.LogEvent{
					ID:        strconv.FormatUint(b.gen.next64(), 10),
					Timestamp: now.UnixMilli(),
					Message:   string(b.gen.line(now)),
				})
			}
			j, _ := json.Marshal(b.cw)
			b.zbuf.Reset()
			b.zw.Reset(&b.zbuf)
			_, _ = b.zw.Write(j)
			_ = b.zw.Close()
			start := len(b.arena)
			b.arena = append(b.arena, b.zbuf.Bytes()...)
			b.recs = append(b.recs, b.arena[start:len(b.arena):len(b.arena)])
		}
		entries = records * cwEvents
	}
	body := fh.Body(reqID, now, b.recs)
	if b.shape.gzipBody {
		// BestSpeed: the senders share the machine with flow.
		b.zbuf.Reset()
		b.zw.Reset(&b.zbuf)
		_, _ = b.zw.Write(body)
		_ = b.zw.Close()
		body = bytes.Clone(b.zbuf.Bytes())
	}
	return body, entries
}

// poster sends prepared bodies as Firehose does (fh.Sender.Post's headers,
// with a body gzipped beforehand and a stream's common attributes) and
// checks each answer against the specification.
type poster struct {
	url       string
	accessKey string
	gzip      bool
	sourceARN string
	attrs     []string // X-Amz-Firehose-Common-Attributes of each stream
	client    *http.Client
}

func newPoster(url string, s shape) *poster {
	p := &poster{url: url, accessKey: s.accessKey, gzip: s.gzipBody,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchSenders}}}
	if !s.prebuilt {
		p.sourceARN = "arn:aws:firehose:eu-west-1:123456789012:deliverystream/bench"
	}
	for i := 0; i < s.streams; i++ {
		h, _ := json.Marshal(map[string]any{"commonAttributes": streamAttributes(i)})
		p.attrs = append(p.attrs, string(h))
	}
	return p
}

// post sends body for stream and returns the status.
func (p *poster) post(reqID string, stream int, body []byte) (int, error) {
	h := fh.Headers{SourceARN: p.sourceARN, AccessKey: p.accessKey, Gzip: p.gzip}
	if len(p.attrs) > 0 {
		h.CommonAttributes = p.attrs[stream%len(p.attrs)]
	}
	resp, err := fh.Do(p.client, p.url, reqID, body, h)
	return resp.Status, err
}
