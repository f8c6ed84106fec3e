package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/storage/remote"
	"google.golang.org/protobuf/encoding/protowire"
)

// countingClient is the replay sender's client (replay.go): the endpoint's
// client underneath, plus delivery accounting (tracker.go), read from each
// request's timestamps. (The live queue accounts from its batches
// directly: queue.Config.OnDone.)
type countingClient struct {
	remote.WriteClient
	v2 bool
	tr *tracker
	// onError reports accounting errors (writing the marker file).
	onError func(error)
}

func (c *countingClient) Store(ctx context.Context, req []byte, attempt int) (remote.WriteResponseStats, error) {
	stats, err := c.WriteClient.Store(ctx, req, attempt)
	var rec remote.RecoverableError
	final := err == nil || (!errors.As(err, &rec) && ctx.Err() == nil)
	if final {
		counts, derr := requestTimestamps(req, c.v2, c.tr.sendsHistograms())
		if derr == nil {
			derr = c.tr.delivered(counts)
		}
		if derr != nil && c.onError != nil {
			c.onError(derr)
		}
	}
	return stats, err
}

var snappyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256<<10); return &b }}

// requestTimestamps counts the samples (and histograms, if sent) of an
// encoded remote-write request per timestamp, reading only the fields it
// needs: Remote-Write 1.0 WriteRequest.timeseries (1) → samples (2) /
// histograms (4); 2.0 Request.timeseries (5) → samples (2) / histograms (3);
// a sample's timestamp is field 2, a histogram's field 15.
func requestTimestamps(req []byte, v2, withHist bool) (map[int64]int64, error) {
	bp := snappyBufs.Get().(*[]byte)
	defer snappyBufs.Put(bp)
	n, err := snappy.DecodedLen(req)
	if err != nil {
		return nil, err
	}
	if cap(*bp) < n {
		*bp = make([]byte, 0, n)
	}
	raw, err := snappy.Decode((*bp)[:n], req)
	if err != nil {
		return nil, err
	}
	seriesField, histField := 1, 4
	if v2 {
		seriesField, histField = 5, 3
	}
	counts := map[int64]int64{}
	err = protoFields(raw, func(num int, ts []byte) error {
		if num != seriesField {
			return nil
		}
		return protoFields(ts, func(num int, msg []byte) error {
			switch {
			case num == 2:
				t, err := varintField(msg, 2)
				counts[t]++
				return err
			case num == histField && withHist:
				t, err := varintField(msg, 15)
				counts[t]++
				return err
			}
			return nil
		})
	})
	return counts, err
}

// protoFields calls f with each length-delimited field of a protobuf
// message and skips the others.
func protoFields(b []byte, f func(num int, payload []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bad protobuf tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fmt.Errorf("bad protobuf field %d: %w", num, protowire.ParseError(m))
			}
			if err := f(int(num), v); err != nil {
				return err
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return fmt.Errorf("bad protobuf field %d: %w", num, protowire.ParseError(m))
		}
		b = b[m:]
	}
	return nil
}

// varintField returns the value of varint field want of a message (0 if
// absent, as proto3 omits zero values).
func varintField(b []byte, want int) (int64, error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, fmt.Errorf("bad protobuf tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ == protowire.VarintType && int(num) == want {
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return 0, fmt.Errorf("bad protobuf field %d: %w", num, protowire.ParseError(m))
			}
			return int64(v), nil
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return 0, fmt.Errorf("bad protobuf field %d: %w", num, protowire.ParseError(m))
		}
		b = b[m:]
	}
	return 0, nil
}
