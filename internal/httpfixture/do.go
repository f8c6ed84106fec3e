package httpfixture

import (
	"io"
	"net/http"
	"testing"
)

// Do sends req with c (nil: http.DefaultClient) and returns the answer's
// status and body, failing the test on a transport error or an unreadable
// body.
func Do(t testing.TB, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer to %s %s: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, string(body)
}
