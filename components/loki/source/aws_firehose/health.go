package awsfirehose

import (
	"fmt"
	"strconv"
	"time"

	"github.com/flow-telemetry/flow/runtime/component"
)

// CurrentHealth is unhealthy when the endpoint cannot listen, or when the
// delivery stream check fails or finds the stream not ACTIVE.
func (c *Component) CurrentHealth() component.Health {
	c.mu.Lock()
	serverErr, addr := c.serverErr, c.lis.Addr().String()
	grpcAddr := ""
	if c.grpc != nil {
		grpcAddr = c.grpc.lis.Addr().String()
	}
	c.mu.Unlock()
	if serverErr != nil {
		return component.Health{Health: component.HealthUnhealthy, Message: "the Firehose endpoint is not listening: " + serverErr.Error(), UpdateTime: time.Now()}
	}
	ck := c.check.snapshot()
	msg := "listening on " + addr + PushPath
	if grpcAddr != "" {
		msg += " and on " + grpcAddr + " (gRPC, httpgrpc.HTTP/Handle)"
	}
	if !ck.enabled {
		return component.Health{Health: component.HealthHealthy, Message: msg}
	}
	switch {
	case ck.err != nil:
		return component.Health{Health: component.HealthUnhealthy, Message: ck.err.Error(), UpdateTime: ck.checkedAt}
	case ck.status == "":
		return component.Health{Health: component.HealthUnknown, Message: msg + "; checking delivery stream " + ck.stream}
	}
	return component.Health{Health: component.HealthHealthy,
		Message:    fmt.Sprintf("%s; delivery stream %q is %s", msg, ck.stream, ck.status),
		UpdateTime: ck.checkedAt}
}

// DebugInfo is shown in the API and UI.
type DebugInfo struct {
	ListenAddress    string           `river:"listen_address,attr"`
	GRPCAddress      string           `river:"grpc_listen_address,attr,optional"`
	Requests         map[string]int64 `river:"requests_by_status,attr"`
	LastRequest      string           `river:"last_request_time,attr,optional"`
	LastError        string           `river:"last_error,attr,optional"`
	LastErrorTime    string           `river:"last_error_time,attr,optional"`
	DeliveryStream   string           `river:"delivery_stream,attr,optional"`
	StreamStatus     string           `river:"delivery_stream_status,attr,optional"`
	StreamCheckError string           `river:"delivery_stream_error,attr,optional"`
	StreamCheckedAt  string           `river:"delivery_stream_checked_time,attr,optional"`
}

// DebugInfo returns request counts and the delivery stream check.
func (c *Component) DebugInfo() any {
	d := DebugInfo{ListenAddress: c.Addr(), GRPCAddress: c.GRPCAddr()}
	c.stats.mu.Lock()
	d.Requests = make(map[string]int64, len(c.stats.byStatus))
	for code, n := range c.stats.byStatus {
		d.Requests[strconv.Itoa(code)] = n
	}
	d.LastRequest, d.LastError, d.LastErrorTime = timeString(c.stats.lastRequest), c.stats.lastError, timeString(c.stats.lastErrorAt)
	c.stats.mu.Unlock()
	ck := c.check.snapshot()
	if ck.enabled {
		d.DeliveryStream, d.StreamStatus, d.StreamCheckedAt = ck.stream, ck.status, timeString(ck.checkedAt)
		if ck.err != nil {
			d.StreamCheckError = ck.err.Error()
		}
	}
	return d
}

// timeString is t in RFC 3339, or "" for the zero time (never happened).
func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
