package awsfirehose

import (
	"errors"
	"net/http"
	"time"
)

// HTTP2Args is the http block's `http2 { }` block (Alloy's newest): with
// enabled, the HTTP port also accepts unencrypted HTTP/2 (h2c, by prior
// knowledge or an Upgrade), beside HTTP/1. flow serves it with net/http's
// own HTTP/2 server, on the same connections, limits and timeouts as
// HTTP/1; HTTP/2 over TLS is on with `tls` regardless.
type HTTP2Args struct {
	Enabled bool `river:"enabled,attr,optional"`
	// MaxHandlers has no effect, in Alloy as in flow (warned once).
	MaxHandlers                  int  `river:"max_handlers,attr,optional"`
	MaxConcurrentStreams         int  `river:"max_concurrent_streams,attr,optional"`
	MaxDecoderHeaderTableSize    int  `river:"max_decoder_header_table_size,attr,optional"`
	MaxEncoderHeaderTableSize    int  `river:"max_encoder_header_table_size,attr,optional"`
	MaxReadFrameSize             int  `river:"max_read_frame_size,attr,optional"`
	PermitProhibitedCipherSuites bool `river:"permit_prohibited_ciphers,attr,optional"`
	// IdleTimeout: net/http closes idle HTTP/2 connections after
	// server_idle_timeout; a separate value is warned about once.
	IdleTimeout                  time.Duration `river:"idle_timeout,attr,optional"`
	ReadIdleTimeout              time.Duration `river:"read_idle_timeout,attr,optional"`
	PingTimeout                  time.Duration `river:"ping_timeout,attr,optional"`
	WriteByteTimeout             time.Duration `river:"write_byte_timeout,attr,optional"`
	MaxUploadBufferPerConnection int           `river:"max_upload_buffer_per_connection,attr,optional"`
	MaxUploadBufferPerStream     int           `river:"max_upload_buffer_per_stream,attr,optional"`
}

// SetToDefault sets Alloy's defaults.
func (h *HTTP2Args) SetToDefault() {
	*h = HTTP2Args{MaxConcurrentStreams: 100, MaxDecoderHeaderTableSize: 4096, MaxEncoderHeaderTableSize: 4096, PingTimeout: 15 * time.Second}
}

// Validate checks the block (nil is fine).
func (h *HTTP2Args) Validate() error {
	if h == nil {
		return nil
	}
	if h.MaxConcurrentStreams < 0 || h.MaxDecoderHeaderTableSize < 0 || h.MaxEncoderHeaderTableSize < 0 || h.MaxReadFrameSize < 0 ||
		h.MaxUploadBufferPerConnection < 0 || h.MaxUploadBufferPerStream < 0 || h.MaxHandlers < 0 {
		return errors.New("sizes and counts must not be negative")
	}
	if h.MaxConcurrentStreams > 1000 {
		// Each stream is a request; conn_limit × streams bounds them all.
		return errors.New("max_concurrent_streams is at most 1000")
	}
	if h.MaxReadFrameSize != 0 && (h.MaxReadFrameSize < 16<<10 || h.MaxReadFrameSize > 16<<20) {
		return errors.New("max_read_frame_size is between 16KiB and 16MiB (0: the default)")
	}
	if h.MaxUploadBufferPerConnection >= 4<<20 || h.MaxUploadBufferPerStream >= 4<<20 {
		return errors.New("max_upload_buffer_per_connection and max_upload_buffer_per_stream are below 4MiB")
	}
	return nil
}

// configure sets srv's protocols and HTTP/2 settings from the block.
func (h *HTTP2Args) configure(srv *http.Server) {
	if h == nil {
		return
	}
	cfg := &http.HTTP2Config{
		MaxConcurrentStreams:          h.MaxConcurrentStreams,
		MaxDecoderHeaderTableSize:     h.MaxDecoderHeaderTableSize,
		MaxEncoderHeaderTableSize:     h.MaxEncoderHeaderTableSize,
		MaxReadFrameSize:              h.MaxReadFrameSize,
		MaxReceiveBufferPerConnection: h.MaxUploadBufferPerConnection,
		MaxReceiveBufferPerStream:     h.MaxUploadBufferPerStream,
		SendPingTimeout:               h.ReadIdleTimeout,
		PingTimeout:                   h.PingTimeout,
		WriteByteTimeout:              h.WriteByteTimeout,
		PermitProhibitedCipherSuites:  h.PermitProhibitedCipherSuites,
	}
	srv.HTTP2 = cfg
	if h.Enabled {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetHTTP2(true)
		p.SetUnencryptedHTTP2(true)
		srv.Protocols = &p
	}
}

// warnings are the block's settings that flow cannot apply.
func (h *HTTP2Args) warnings() []string {
	if h == nil {
		return nil
	}
	var w []string
	if h.MaxHandlers != 0 {
		w = append(w, "http > http2 > max_handlers has no effect (in Alloy either): HTTP/2 requests are bounded by max_concurrent_streams, conn_limit and max_inflight_size")
	}
	if h.IdleTimeout != 0 {
		w = append(w, "http > http2 > idle_timeout is not applied: net/http closes idle HTTP/2 connections after http > server_idle_timeout, as HTTP/1 ones")
	}
	return w
}
