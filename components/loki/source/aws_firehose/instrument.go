package awsfirehose

import (
	"net/http"
	"strconv"
	"time"
)

// Route labels of the server metrics, as dskit names routes: the push
// path's template with its separators as '_', and "notfound" for the rest.
const (
	routePush     = "awsfirehose_api_v1_push"
	routeNotFound = "notfound"
)

// methodLabel bounds the method label to the standard methods: it comes
// from the client.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "other"
}

// statusWriter records what a handler answers, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// instrument records dskit's server metrics for every HTTP request.
func (c *Component) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := routeNotFound
		if r.URL.Path == PushPath {
			route = routePush
		}
		method := methodLabel(r.Method)
		start := time.Now()
		inflight := c.m.inflight.WithLabelValues(method, route)
		inflight.Inc()
		defer inflight.Dec()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		c.m.duration.WithLabelValues(method, route, strconv.Itoa(sw.status), "false").Observe(time.Since(start).Seconds())
		if r.ContentLength > 0 {
			c.m.requestBytes.WithLabelValues(method, route).Observe(float64(r.ContentLength))
		}
		c.m.responseBytes.WithLabelValues(method, route).Observe(float64(sw.bytes))
	})
}

// Unwrap lets http.ResponseController reach the connection (the handler
// moves its write deadline).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
