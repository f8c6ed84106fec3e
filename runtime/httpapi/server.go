package httpapi

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// ServerOptions are the control-plane server's limits. The zero value of a
// field takes its default (DefaultServerOptions); tests shorten them.
type ServerOptions struct {
	// ReadHeaderTimeout bounds reading a request's headers (a slowloris
	// client trickling header bytes is cut off). Default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (a 4 MiB
	// config on a slow link fits easily). Default 1m.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response, measured from the end of the
	// request's headers, so it also bounds a handler's run: a pprof CPU
	// profile or trace asks for at most this long. The event stream is
	// exempt and bounds each write instead (StreamWriteTimeout). Default 2m.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request for this
	// long. Default 2m.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header block. Default 64 KiB.
	MaxHeaderBytes int
	// MaxConnections caps the connections served at once
	// (--server.http.max-connections); further clients wait in the
	// kernel's accept queue until one closes. Default 256.
	MaxConnections int
}

// DefaultServerOptions are the limits `flow run` serves with.
var DefaultServerOptions = ServerOptions{
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       time.Minute,
	WriteTimeout:      2 * time.Minute,
	IdleTimeout:       2 * time.Minute,
	MaxHeaderBytes:    64 << 10,
	MaxConnections:    256,
}

func (o ServerOptions) withDefaults() ServerOptions {
	d := DefaultServerOptions
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = d.ReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = d.WriteTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = d.IdleTimeout
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = d.MaxConnections
	}
	return o
}

// NewServer returns an http.Server for h with o's timeouts and header limit.
// Serve it on Listener(ln) for the connection cap.
func (o ServerOptions) NewServer(h http.Handler, logger *slog.Logger) *http.Server {
	o = o.withDefaults()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
	}
	if logger != nil {
		// net/http's own complaints (accept errors, a handler's panic)
		// go to flow's log rather than bare to stderr.
		srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	}
	return srv
}

// Listener caps the connections accepted from ln at MaxConnections.
func (o ServerOptions) Listener(ln net.Listener) net.Listener {
	return netutil.LimitListener(ln, o.withDefaults().MaxConnections)
}
