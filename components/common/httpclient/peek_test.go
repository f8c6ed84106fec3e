package httpclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPeekBodyLeavesBodyIntact: a real response's body, peeked at, still
// reads in full afterwards, and closing it closes the original.
func TestPeekBodyLeavesBodyIntact(t *testing.T) {
	body := strings.Repeat("x", 5000) + "end"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, body, http.StatusForbidden)
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	peek, err := PeekBody(resp, 1<<10)
	if err != nil || string(peek) != body[:1<<10] {
		t.Fatalf("peeked %d bytes (%v), want the first 1024", len(peek), err)
	}
	all, err := io.ReadAll(resp.Body)
	if err != nil || string(all) != body+"\n" {
		t.Fatalf("after the peek the body reads %d bytes (%v), want all %d", len(all), err, len(body)+1)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
}
