package write

import (
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/s2"
)

// batch collects entries for one push per tenant. Entries keep their arrival
// order within each stream, which is the order Loki needs.
type batch struct {
	tenants []*tenantBatch
	byName  map[string]*tenantBatch
	bytes   int
	entries int
	streams int
	created time.Time
}

// tenantBatch is the part of a batch going to one tenant: one push request.
type tenantBatch struct {
	tenant  string
	req     push.PushRequest
	index   map[string]int // labels -> position in req.Streams
	entries int
	bytes   int
	done    bool // pushed or dropped, during a flush that is retried
}

func newBatch() *batch {
	return &batch{byName: map[string]*tenantBatch{}}
}

func (b *batch) empty() bool { return b.entries == 0 }

// entrySize is what counts against batch_size, as in Loki's clients.
func entrySize(e *push.Entry) int {
	n := len(e.Line)
	for _, l := range e.StructuredMetadata {
		n += len(l.Name) + len(l.Value)
	}
	return n
}

// streamRef resolves a record's stream to its slot in the batch once, so
// adding each entry is a slice append.
type streamRef struct {
	tb *tenantBatch
	i  int
}

// ref returns the slot for k, creating it; ok is false if the batch already
// has maxStreams streams and k is not among them.
func (b *batch) ref(k streamKey, maxStreams int) (streamRef, bool) {
	tb := b.byName[k.tenant]
	if tb == nil {
		tb = &tenantBatch{tenant: k.tenant, index: map[string]int{}}
		b.byName[k.tenant] = tb
		b.tenants = append(b.tenants, tb)
	}
	i, ok := tb.index[k.labels]
	if !ok {
		if maxStreams > 0 && b.streams >= maxStreams {
			return streamRef{}, false
		}
		i = len(tb.req.Streams)
		tb.req.Streams = append(tb.req.Streams, push.Stream{Labels: k.labels})
		tb.index[k.labels] = i
		b.streams++
	}
	return streamRef{tb: tb, i: i}, true
}

func (b *batch) add(r streamRef, e push.Entry, size int) {
	if b.entries == 0 {
		b.created = time.Now()
	}
	st := &r.tb.req.Streams[r.i]
	st.Entries = append(st.Entries, e)
	r.tb.entries++
	r.tb.bytes += size
	b.entries++
	b.bytes += size
}

// encoder buffers for push bodies, reused by one endpoint.
type pushEncoder struct {
	raw  []byte
	body []byte
}

// encode returns the snappy-compressed protobuf body of tb's push request,
// valid until the next call.
func (p *pushEncoder) encode(tb *tenantBatch) ([]byte, error) {
	n := tb.req.Size()
	if cap(p.raw) < n {
		p.raw = make([]byte, n)
	}
	raw := p.raw[:n]
	if _, err := tb.req.MarshalToSizedBuffer(raw); err != nil {
		return nil, err
	}
	// s2's Snappy-compatible block encoder: the format Loki decodes, at
	// about twice the speed of github.com/golang/snappy's.
	p.body = s2.EncodeSnappy(p.body[:cap(p.body)], raw)
	// Keep buffers from one unusually large batch from being held forever.
	if cap(p.raw) > 16<<20 {
		p.raw = nil
	}
	return p.body, nil
}
