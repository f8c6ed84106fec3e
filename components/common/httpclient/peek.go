package httpclient

import (
	"bytes"
	"io"
	"net/http"
)

// PeekBody reads up to max bytes of resp's body, to explain a failed
// response, and leaves the body intact for whoever reads it next (a
// client's retry logic, the caller's caller): what was read is put back in
// front of the rest, and closing the body still closes the connection's.
func PeekBody(resp *http.Response, max int64) ([]byte, error) {
	peek, err := io.ReadAll(io.LimitReader(resp.Body, max))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(peek), resp.Body), resp.Body}
	return peek, err
}
